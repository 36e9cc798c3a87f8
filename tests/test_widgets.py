"""workbench.widgets: each widget driven from Python (values set, buttons clicked), its state and
its static HTML checked. No kernel runs here: the widgets work without one, and TrainingCurves
then writes log lines."""

from __future__ import annotations

import copy
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("matplotlib")

import workbench.models.bert as bert  # noqa: E402
import workbench.models.llama as llama  # noqa: E402
from workbench import AutoTokenizer  # noqa: E402
from workbench.porting import compare  # noqa: E402
from workbench.porting.formatting import colour_legend, fmt, row_colour  # noqa: E402
from workbench.widgets import ActivationDiff, ModelPicker, TokenizerInspector, TrainingCurves  # noqa: E402
from workbench import catalog  # noqa: E402
from workbench.widgets import training_curves  # noqa: E402
from workbench.widgets._display import PNG_SIGNATURE  # noqa: E402

ROOT = Path(__file__).parents[1]
TINY_LLAMA = dict(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_llama(seed: int = 0, **overrides) -> llama.LlamaForCausalLM:
    torch.manual_seed(seed)
    model = llama.LlamaForCausalLM.from_config(llama.LlamaConfig(**{**TINY_LLAMA, **overrides})).eval()
    with torch.no_grad():  # norms away from 1 so that an epsilon shows
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    return model


# --- a machine's worth of models: an HF cache, a local folder, a GGUF file, a zoo ----------------


def write_hf_cache(cache: Path, repo_id: str, files: Path) -> Path:
    """``files`` laid out as huggingface_hub caches a download: blobs named by hash, a snapshot
    of symlinks, refs/main naming the commit. Returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for file in sorted(files.iterdir()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(os.path.relpath(blob, snapshot))
    return snapshot


def llama_cpp_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's converter reorders each q/k head's rows (rotate-half -> interleaved pairs)."""
    rows = weight.shape[0] // heads // 2
    return weight.reshape(heads, 2, rows, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def write_gguf(path: Path, model: llama.LlamaForCausalLM) -> Path:
    gguf = pytest.importorskip("gguf")
    config = model.config
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_vocab_size(config.vocab_size)
    heads = {"q_proj": config.num_attention_heads, "k_proj": config.num_key_value_heads}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":  # tied: llama.cpp writes no output.weight
            continue
        values = tensor.numpy()
        if name.split(".")[-2] in heads:
            values = llama_cpp_permute(values, heads[name.split(".")[-2]])
        if name in top:
            gguf_name = top[name]
        else:
            _, _, layer, rest = name.rsplit(".", 1)[0].split(".", 3)
            gguf_name = f"blk.{layer}.{names[rest]}.weight"
        writer.add_tensor(gguf_name, np.ascontiguousarray(values))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def machine(tmp_path_factory, minilm_path):
    """A tiny BERT (MiniLM's tokenizer) in a fake HF cache, a tiny llama folder and a GGUF of it
    under local/, and a zoo with one text-classification model."""
    root = tmp_path_factory.mktemp("machine")
    torch.manual_seed(0)
    encoder = bert.BertModel.from_config(bert.BertConfig(vocab_size=30522, hidden_size=32, intermediate_size=37,
                                                         num_hidden_layers=2, num_attention_heads=2,
                                                         max_position_embeddings=64))
    staged = root / "staged"
    encoder.save_pretrained(staged)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        shutil.copy(Path(minilm_path) / name, staged / name)
    snapshot = write_hf_cache(root / "hub", "org/tiny-bert", staged)

    decoder = tiny_llama(tie_word_embeddings=True)
    decoder.save_pretrained(root / "local" / "tiny-llama")
    (root / "local" / "ggufs").mkdir()
    write_gguf(root / "local" / "ggufs" / "tiny-llama.F32.gguf", decoder)

    torch.manual_seed(1)
    classifier = bert.BertForSequenceClassification.from_config(bert.BertConfig(
        vocab_size=30522, hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=64, num_labels=3))
    classifier.save_pretrained(root / "zoo" / "text-classification")
    return SimpleNamespace(root=root, cache=root / "hub", snapshot=snapshot, local=root / "local", zoo=root / "zoo",
                           encoder=encoder, decoder=decoder, classifier=classifier,
                           gguf=root / "local" / "ggufs" / "tiny-llama.F32.gguf")


@pytest.fixture(scope="module")
def picker(machine):
    return ModelPicker(paths=[machine.local], cache_dir=machine.cache, zoo_dir=machine.zoo)


def entry(picker, name) -> catalog.ModelEntry:
    return next(e for e in picker.entries if name in (e.name, e.gguf_file))


def files_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# --- ModelPicker -----------------------------------------------------------------------------------


def test_picker_lists_the_cache_a_folder_a_gguf_file_and_the_zoo(picker, machine):
    assert sorted((e.source, e.name) for e in picker.entries) == [
        ("cache", "org/tiny-bert"), ("folder", "tiny-llama"), ("folder", "tiny-llama.F32.gguf"),
        ("zoo", "zoo/text-classification")]
    cached = entry(picker, "org/tiny-bert")
    assert cached.path == str(machine.snapshot) and cached.revision == COMMIT
    assert (cached.architecture, cached.task, cached.num_layers, cached.dtype) == \
        ("BertModel", "feature-extraction", 2, "float32")
    assert cached.has_tokenizer and cached.error is None
    gguf_entry = entry(picker, "tiny-llama.F32.gguf")
    assert (gguf_entry.architecture, gguf_entry.task, gguf_entry.dtype, gguf_entry.has_tokenizer) == \
        ("LlamaForCausalLM", "text-generation", "F32", False)
    zoo = entry(picker, "zoo/text-classification")
    assert (zoo.task, zoo.architecture, zoo.num_layers) == ("text-classification", "BertForSequenceClassification", 1)


def test_picker_numbers_match_the_real_models(picker, machine):
    """Parameters equal num_parameters() of the model (tied weights once), sizes the bytes on disk,
    memory the parameters times the dtype's size."""
    expected = {"org/tiny-bert": machine.encoder, "tiny-llama": machine.decoder, "tiny-llama.F32.gguf": machine.decoder,
                "zoo/text-classification": machine.classifier}
    for name, model in expected.items():
        found = entry(picker, name)
        assert found.num_parameters == model.num_parameters(), name
        assert found.memory("float32") == 4 * model.num_parameters()
        assert found.memory("bfloat16") == found.memory("float16") == 2 * model.num_parameters()
    blobs = machine.cache / "models--org--tiny-bert" / "blobs"
    assert entry(picker, "org/tiny-bert").size_on_disk == files_size(blobs)
    assert entry(picker, "tiny-llama").size_on_disk == files_size(machine.local / "tiny-llama")
    assert entry(picker, "tiny-llama.F32.gguf").size_on_disk == machine.gguf.stat().st_size
    assert machine.decoder.config.tie_word_embeddings  # the count above is not the untied one
    untied = sum(p.numel() for p in machine.decoder.state_dict().values())
    assert entry(picker, "tiny-llama").num_parameters < untied


def test_picker_table_and_fallback_html_show_the_numbers(picker):
    picker.task_filter.value = picker.arch_filter.value = "(all)"
    bundle = picker._repr_mimebundle_()
    assert {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"} <= set(bundle)
    for found in picker.entries:
        cells = [html.escape(c) for c in [found.name, found.source, found.task or "-"]]
        numbers = [catalog_cell for catalog_cell in _cells(found)]
        for text in cells + numbers:
            assert text in bundle["text/html"] and text in picker.table.value
    assert "993.5K" in bundle["text/html"]  # the tiny BERT: 993,514 parameters


def _cells(found):
    from workbench.widgets.model_picker import entry_cells

    return entry_cells(found)[4:]


def test_picker_filters_by_task_architecture_and_name(picker):
    assert {"feature-extraction", "text-generation", "text-classification"} <= set(picker.task_filter.options)
    picker.task_filter.value = "text-generation"
    assert sorted(e.name for e in picker.filtered) == ["tiny-llama", "tiny-llama.F32.gguf"]
    assert [key for _, key in picker.chooser.options] == [e.key for e in picker.filtered]
    assert "org/tiny-bert" not in picker.table.value
    picker.search_box.value = "gguf"
    assert [e.name for e in picker.filtered] == ["tiny-llama.F32.gguf"]
    assert picker.selected.name == "tiny-llama.F32.gguf"  # the choice follows what is shown
    with pytest.raises(KeyError, match="check the filters"):
        picker.select("org/tiny-bert")
    picker.search_box.value = ""
    picker.task_filter.value = "(all)"
    picker.arch_filter.value = "BertModel"
    assert [e.name for e in picker.filtered] == ["org/tiny-bert"]
    picker.arch_filter.value = "(all)"
    assert len(picker.filtered) == 4


def test_picker_loads_a_pipeline_from_the_cache(picker, machine):
    picker.select("org/tiny-bert")
    picker.mode.value = "pipeline"
    picker.load_button.click()
    assert picker.pipeline is not None and picker.value is picker.pipeline
    assert picker.pipeline.task == "feature-extraction"
    features = picker.value("hello world")
    tokens = picker.tokenizer("hello world", return_tensors="pt")
    with torch.no_grad():
        expected = machine.encoder.eval()(**tokens).last_hidden_state[0]
    assert torch.allclose(torch.tensor(features[0]), expected, atol=1e-5)
    assert (picker.progress.value, picker.progress.max, picker.progress.bar_style) == (4, 4, "success")
    steps = [m for m in picker.messages if m.startswith("[")]
    assert steps[-5:] == ["[0/4] reading the config of org/tiny-bert ...", "[1/4] loading the weights (BertModel) ...",
                          "[2/4] loading the tokenizer ...", "[3/4] building the feature-extraction pipeline ...",
                          "[4/4] done"]
    assert picker.status.startswith("Loaded org/tiny-bert as a feature-extraction pipeline")


def test_picker_loads_a_model_in_the_chosen_dtype_and_a_gguf_file(picker, machine):
    picker.mode.value = "model"
    picker.select("tiny-llama")
    picker.dtype.value = "bfloat16"
    loaded = []
    picker.on_load(loaded.append)
    picker.load_button.click()
    assert type(picker.model).__name__ == "LlamaForCausalLM" and picker.model.dtype == torch.bfloat16
    assert picker.tokenizer is None and picker.pipeline is None and "no tokenizer" in picker.status
    assert loaded == [picker.model]
    picker.select("tiny-llama.F32.gguf")
    model = picker.load(dtype="auto")
    ids = torch.tensor([[3, 14, 15, 9, 26, 5]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, machine.decoder(ids).logits, atol=1e-5)


def test_picker_reports_a_failed_load_and_counts_an_unknown_architecture_from_its_headers(machine, tmp_path):
    from safetensors.torch import save_file

    folder = tmp_path / "other" / "falcon-ish"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "falcon", "architectures": ["FalconForCausalLM"],
                                                    "num_hidden_layers": 3, "torch_dtype": "bfloat16"}))
    save_file({"shared.weight": torch.zeros(10, 4, dtype=torch.bfloat16), "lm.bias": torch.zeros(7)},
              str(folder / "model.safetensors"))
    picker = ModelPicker(paths=[tmp_path / "other"], include_cache=False, include_zoo=False)
    (found,) = picker.entries
    assert (found.num_parameters, found.num_layers, found.dtype, found.task) == \
        (47, 3, "bfloat16", "text-generation")
    assert "not buildable in workbench" in found.error
    assert picker.load() is None and picker.value is None
    assert picker.status.startswith("Loading falcon-ish failed: UnsupportedModelError")
    assert picker.progress.bar_style == "danger" and not picker.load_button.disabled


def test_the_picker_and_the_lab_panel_list_the_same_models_from_one_scan(machine, tmp_path, monkeypatch):
    """A cache holding a checkpoint repo and a GGUF-only repo, and a zoo: the lab endpoint's JSON and the
    picker come from the same catalog scan and agree on names, architectures, sizes and revisions."""
    from workbench.lab import cache as lab_cache

    cache = tmp_path / "hub"
    shutil.copytree(machine.cache, cache, symlinks=True)
    (tmp_path / "staged-gguf").mkdir()
    shutil.copy(machine.gguf, tmp_path / "staged-gguf" / machine.gguf.name)
    write_hf_cache(cache, "org/tiny-llama-GGUF", tmp_path / "staged-gguf")
    monkeypatch.setenv("WORKBENCH_ZOO", str(machine.zoo))
    scans = []
    scan_cache = catalog.scan_cache
    monkeypatch.setattr(catalog, "scan_cache", lambda *a, **k: scans.append(a) or scan_cache(*a, **k))

    picker = ModelPicker(cache_dir=cache)
    reply = json.loads(json.dumps(lab_cache.list_models(cache)))  # as the server sends it
    assert len(scans) == 2  # each front-end ran the one scan once

    assert sorted((e.source, e.name, e.gguf_file) for e in picker.entries) == [
        ("cache", "org/tiny-bert", None), ("cache", "org/tiny-llama-GGUF", machine.gguf.name),
        ("zoo", "zoo/text-classification", None)]
    panel = {m["repo_id"]: m for m in reply["models"]}
    assert sorted(panel) == ["org/tiny-bert", "org/tiny-llama-GGUF"]  # the GGUF repo has no config.json
    bert_entry = entry(picker, "org/tiny-bert")
    assert (panel["org/tiny-bert"]["architecture"], panel["org/tiny-bert"]["model_type"]) == \
        (bert_entry.architecture, bert_entry.model_type) == ("BertModel", "bert")
    assert panel["org/tiny-bert"]["size_on_disk"] == bert_entry.size_on_disk == \
        files_size(cache / "models--org--tiny-bert" / "blobs")
    assert [(r["commit_hash"], r["refs"]) for r in panel["org/tiny-bert"]["revisions"]] == [(COMMIT, ["main"])]
    assert panel["org/tiny-llama-GGUF"]["architecture"] is None
    assert panel["org/tiny-llama-GGUF"]["size_on_disk"] == entry(picker, machine.gguf.name).size_on_disk == \
        machine.gguf.stat().st_size
    assert entry(picker, machine.gguf.name).architecture == "LlamaForCausalLM"
    assert not any(m["links_outside_cache"] for m in reply["models"])
    zoo_entry = entry(picker, "zoo/text-classification")
    assert reply["zoo"] == [{"name": "text-classification", "source": "zoo",
                             "path": str(machine.zoo / "text-classification"), "architecture": "BertForSequenceClassification", "model_type": "bert",
                             "size_on_disk": files_size(machine.zoo / "text-classification")}]
    assert (zoo_entry.path, zoo_entry.size_on_disk) == (reply["zoo"][0]["path"], reply["zoo"][0]["size_on_disk"])
    assert reply["cache_dir"] == str(cache) and reply["warnings"] == []


def test_hub_search_is_skipped_offline_and_bounded_online(picker, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    picker.hub_button.click()
    assert picker.hub_entries == [] and "HF_HUB_OFFLINE" in picker.status

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    calls = []

    def list_models(self, **kwargs):
        calls.append(kwargs)
        return iter([SimpleNamespace(id="org/gen-1", pipeline_tag="text-generation", downloads=10)])

    monkeypatch.setattr(huggingface_hub.HfApi, "list_models", list_models)
    picker.task_filter.value = "text-generation"
    picker.hub_button.click()
    assert calls[-1]["filter"] == "text-generation" and calls[-1]["limit"] == picker.hub_limit
    assert [(e.name, e.source, e.task) for e in picker.hub_entries] == [("org/gen-1", "hub", "text-generation")]
    assert "org/gen-1" in [e.name for e in picker.filtered] and "org/gen-1" in picker.to_html()

    def hanging(self, **kwargs):
        time.sleep(5)
        return iter([])

    monkeypatch.setattr(huggingface_hub.HfApi, "list_models", hanging)
    picker.hub_timeout = 0.2
    started = time.monotonic()
    assert picker.search_hub() == [] and time.monotonic() - started < 2
    assert "did not answer within 0.2 s" in picker.status
    picker.task_filter.value = "(all)"


# --- TokenizerInspector ----------------------------------------------------------------------------

TEXT = "Tokenization is unbelievable!\nNew line\tand café 🤗"


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def smollm2(smollm2_path):
    return AutoTokenizer.from_pretrained(smollm2_path)


@pytest.mark.parametrize("which", ["minilm", "smollm2"])
def test_inspector_tokens_ids_and_offsets_are_the_tokenizers_own(which, request):
    tokenizer = request.getfixturevalue(which)
    inspector = TokenizerInspector(tokenizer, text=TEXT)
    encoded = tokenizer(TEXT, return_offsets_mapping=True)
    assert inspector.ids == encoded["input_ids"]
    assert inspector.offsets == [tuple(o) for o in encoded["offset_mapping"]]
    assert [p.token for p in inspector.pieces] == tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    specials = [i for i in encoded["input_ids"] if i in tokenizer.all_special_ids]
    assert [p.id for p in inspector.pieces if p.special] == specials
    page = inspector.to_html()
    assert all(f"<sub>{i}</sub>" in page for i in encoded["input_ids"])
    assert page == inspector.output.value
    assert f"{len(encoded['input_ids'])} tokens" in page


def test_inspector_follows_the_text_box_and_the_special_tokens_box(minilm):
    inspector = TokenizerInspector(minilm, text="hello")
    inspector.text_box.value = "hello world"
    assert inspector.text == "hello world"
    assert [p.token for p in inspector.pieces] == ["[CLS]", "hello", "world", "[SEP]"]
    assert inspector.pieces[0].special and not inspector.pieces[1].special
    inspector.special_box.value = False
    assert inspector.ids == minilm("hello world", add_special_tokens=False)["input_ids"]
    inspector.text = "bye"
    assert inspector.text_box.value == "bye" and [p.token for p in inspector.pieces] == ["bye"]


def test_side_by_side_finds_where_wordpiece_and_bpe_split_differently(minilm, smollm2):
    inspector = TokenizerInspector(minilm, text="Tokenization is unbelievable", other=smollm2)
    assert [p.id for p in inspector.other_pieces] == smollm2("Tokenization is unbelievable")["input_ids"]
    (difference,) = inspector.differences  # token|ization is cut alike; " is" vs "is" is whitespace only
    assert (difference.start, difference.end, difference.text) == (16, 28, "unbelievable")
    assert difference.tokens == ["unbelievable"] and difference.other_tokens == ["·unbelie", "vable"]
    page = inspector.to_html()
    assert f"{len(inspector.pieces)} tokens" in page and f"{len(inspector.other_pieces)} tokens" in page
    assert "1 places split differently" in page and "·unbelie | vable" in page
    flagged = re.findall(r'class="tk diff"[^>]*>([^<]*)<', page)
    assert flagged == ["unbelievable", "·unbelie", "vable"]
    inspector.text = "Hello world"
    assert inspector.differences == [] and "at the same places" in inspector.to_html()


def test_inspector_bundle_carries_the_tokens_json_for_the_lab_renderer(minilm, smollm2):
    inspector = TokenizerInspector(minilm, text="Tokenization is unbelievable", other=smollm2)
    mime = "application/vnd.workbench.tokens+json"
    data = json.loads(json.dumps(inspector._repr_mimebundle_()[mime]))  # plain JSON
    assert (data["schema"], data["version"], data["name"]) == ("workbench.tokens", 1, inspector.to_dict()["name"])
    assert [t["id"] for t in data["tokens"]] == inspector.ids
    assert [(t["start"], t["end"]) for t in data["tokens"]] == inspector.offsets
    assert [t["text"] for t in data["other"]["tokens"]] == [p.text for p in inspector.other_pieces]
    assert [d["text"] for d in data["differences"]] == ["unbelievable"] and data["chat"] is None
    assert sorted(inspector._repr_mimebundle_(include=[mime, "text/plain"])) == [mime, "text/plain"]


CHAT = [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Hello! Again?"}, {"role": "assistant", "content": "Hello again, friend."}]


def test_chat_view_marks_the_assistant_contents_when_the_template_has_no_generation_block(smollm2):
    inspector = TokenizerInspector(smollm2, chat=CHAT)
    view = inspector.chat_view
    assert view.method == "offsets" and inspector.view == "chat"
    assert [p.id for p in view.pieces] == smollm2.apply_chat_template(CHAT, return_dict=False)
    marked = [p.id for p in view.pieces if p.assistant]
    assert smollm2.decode(marked) == "Hello!Hello again, friend."
    # exactly the tokens inside the two assistant contents: the user's "Hello!" is not marked
    inside = [p.id for p in view.pieces if any(s <= p.start and p.end <= e for s, e in view.spans)]
    assert marked == inside and len(view.spans) == 2
    assert all(view.text[s:e] in ("Hello!", "Hello again, friend.") for s, e in view.spans)
    assert f"{len(marked)} of them the assistant's" in inspector.to_html()
    inspector.view_buttons.value = "text"
    assert "chat template" not in inspector.output.value and "chat template" in inspector.to_html()


def test_chat_view_uses_the_generation_mask_when_the_template_has_one(smollm2):
    template = ("{% if tools %}<|im_start|>system\nTools:{% for t in tools %} {{ t.function.name }}{% endfor %}"
                "<|im_end|>\n{% endif %}"
                "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' %}{% generation %}"
                "{{ m.content }}<|im_end|>{% endgeneration %}{% else %}{{ m.content }}<|im_end|>{% endif %}\n"
                "{% endfor %}")
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "The weather in a city.",
                                               "parameters": {"type": "object", "properties": {}}}}]
    inspector = TokenizerInspector(smollm2, chat=CHAT, chat_template=template, tools=tools)
    view = inspector.chat_view
    expected = smollm2.apply_chat_template(CHAT, chat_template=template, tools=tools, return_dict=True,
                                           return_assistant_tokens_mask=True)
    assert view.method == "generation" and view.text.startswith("<|im_start|>system\nTools: get_weather<|im_end|>")
    assert [p.id for p in view.pieces] == expected["input_ids"]
    assert [int(p.assistant) for p in view.pieces] == expected["assistant_masks"]
    assert smollm2.decode([p.id for p in view.assistant_tokens]) == "Hello!<|im_end|>Hello again, friend.<|im_end|>"


# ActivationDiff: tests/test_widgets_diff.py
# TrainingCurves: tests/test_widgets_curves.py


# --- the core stays free of UI libraries ---------------------------------------------------------


def test_importing_workbench_and_porting_loads_no_ui_library():
    code = ("import workbench, workbench.porting, workbench.widgets, workbench.catalog, sys, json; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    modules = json.loads(out.stdout.splitlines()[-1])
    assert not [m for m in modules if m.split(".")[0] in ("ipywidgets", "matplotlib", "IPython", "transformers")]
