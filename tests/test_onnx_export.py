"""ONNX export (workbench.onnx, ``workbench export onnx``): onnxruntime on the exported file gives
workbench's outputs, within 1e-4, at other batch sizes and lengths than the export traced (dynamic
axes); an exported decoder's key/value cache carries a greedy loop to workbench's own greedy tokens.

Cases: a tiny BERT classifier built by the reference (exported through the command line), the real
MiniLM-L6 (feature extraction, with its tokenizer), tiny Llama and Qwen2 decoders (Qwen2: q/k/v biases
and a sliding window shorter than the test sequences) with and without past keys and values, and the
real SmolLM2-135M's first 2 of its 30 layers, dequantized from its GGUF file (its real vocabulary,
grouped-query heads and tied embeddings; all 30 layers take 80-170 s here (the export, mostly), too slow for every run:
``WORKBENCH_ONNX_FULL=1`` runs that case too). One export per case, module-scoped.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from model_registry import TINY_DECODER, TINY_ENCODER
from reference import build_reference_model, save_reference_model
from workbench.models.registry import FAMILIES

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore::UserWarning")]
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")  # the dynamo exporter writes the graph with it

ATOL = 1e-4


def session(folder):
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(os.path.join(folder, "model.onnx"), options, providers=["CPUExecutionProvider"])


def close(onnx_output, torch_output):
    torch.testing.assert_close(torch.from_numpy(onnx_output), torch_output.detach(), atol=ATOL, rtol=ATOL)


def token_inputs(vocab: int, batch: int, length: int, seed: int, pad_last: int = 0) -> dict[str, torch.Tensor]:
    """Random ids, the first row right-padded by ``pad_last``, segment ids 1 on the second half."""
    ids = torch.randint(5, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    if pad_last:
        mask[0, -pad_last:] = 0
    types = torch.zeros_like(ids)
    types[:, length // 2:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


# --- encoders ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bert_classifier(tmp_path_factory):
    """(reference model, its folder, the export folder, the CLI's output): exported by ``workbench export onnx``."""
    from workbench.cli import main

    reference = build_reference_model("bert", "BertForSequenceClassification", dict(TINY_ENCODER, num_labels=3))
    source = save_reference_model(reference, str(tmp_path_factory.mktemp("bert-classifier")))
    out = str(tmp_path_factory.mktemp("bert-classifier-onnx"))
    assert main(["export", "onnx", source, out]) == 0
    return reference, source, out


@pytest.mark.parametrize("batch, length", [(1, 5), (3, 12)])
def test_the_bert_classifier_matches_pytorch_at_other_batch_sizes_and_lengths(bert_classifier, batch, length):
    from workbench import AutoModelForSequenceClassification

    reference, source, out = bert_classifier
    model = AutoModelForSequenceClassification.from_pretrained(source).eval()
    inputs = token_inputs(TINY_ENCODER["vocab_size"], batch, length, seed=length, pad_last=2)
    onnx_logits = session(out).run(["logits"], {k: v.numpy() for k, v in inputs.items()})[0]
    with torch.no_grad():
        ours, theirs = model(**inputs).logits, reference(**inputs).logits
    assert onnx_logits.shape == (batch, 3)
    close(onnx_logits, ours)
    close(onnx_logits, theirs)


def test_the_export_describes_itself_with_symbolic_axes(bert_classifier, capsys):
    import json

    _, source, out = bert_classifier
    inputs = {i.name: i.shape for i in session(out).get_inputs()}
    assert inputs == {name: ["batch_size", "sequence_length"] for name in ("input_ids", "attention_mask", "token_type_ids")}
    assert [o.shape for o in session(out).get_outputs()] == [["batch_size", 3]]
    with open(os.path.join(out, "config.json")) as f, open(os.path.join(source, "config.json")) as g:
        written, original = json.load(f), json.load(g)
    assert written["architectures"] == original["architectures"] == ["BertForSequenceClassification"]
    assert written["hidden_size"] == original["hidden_size"]


@pytest.fixture(scope="module")
def minilm_export(minilm_path, tmp_path_factory):
    from workbench.onnx import export

    return export(minilm_path, tmp_path_factory.mktemp("minilm-onnx"))


def test_real_minilm_feature_extraction_matches_pytorch_with_its_tokenizer(minilm_path, minilm_export):
    from workbench import AutoModel, AutoTokenizer

    assert minilm_export.task == "feature-extraction" and minilm_export.output_names == ["last_hidden_state"]
    assert {"model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in minilm_export.files}
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_export.folder))  # from the export folder alone
    texts = ["ONNX export keeps the dynamic axes.", "A much longer second sentence, so the first row is padded."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist() == AutoTokenizer.from_pretrained(minilm_path)(texts, padding=True)["input_ids"]
    model = AutoModel.from_pretrained(minilm_path).eval()
    onnx_session = session(minilm_export.folder)
    for rows in (slice(0, 1), slice(0, 2)):  # one unpadded row, then two rows of which one is padded
        inputs = {k: v[rows] for k, v in batch.items()}
        if rows.stop == 1:
            inputs = {k: v[:, : int(batch["attention_mask"][0].sum())] for k, v in inputs.items()}
        hidden = onnx_session.run(["last_hidden_state"], {k: v.numpy() for k, v in inputs.items()})[0]
        with torch.no_grad():
            close(hidden, model(**inputs).last_hidden_state)


def test_an_encoder_without_segment_ids_exports_without_that_input(tmp_path):
    """DistilBERT takes no token_type_ids: the file asks for none (the path other BERT-family encoders share)."""
    from workbench import AutoModel
    from workbench.onnx import export

    source = save_reference_model(build_reference_model("distilbert", "DistilBertModel", FAMILIES["distilbert"].tiny),
                                  str(tmp_path / "distilbert"))
    written = export(source, tmp_path / "distilbert-onnx")
    assert (written.task, written.input_names) == ("feature-extraction", ["input_ids", "attention_mask"])
    model = AutoModel.from_pretrained(source).eval()
    inputs = token_inputs(FAMILIES["distilbert"].tiny["vocab_size"], 3, 10, seed=3, pad_last=4)
    del inputs["token_type_ids"]
    hidden = session(written.folder).run(None, {k: v.numpy() for k, v in inputs.items()})[0]
    with torch.no_grad():
        close(hidden, model(**inputs).last_hidden_state)


# --- decoders ---------------------------------------------------------------------------------------

DECODERS = {"llama": TINY_DECODER, "qwen2": FAMILIES["qwen2"].tiny}


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    """model type -> (workbench model, export folder); each exported from the model object."""
    from workbench import AutoModelForCausalLM
    from workbench.onnx import export

    built = {}
    for model_type, config in DECODERS.items():
        class_name = FAMILIES[model_type].heads["AutoModelForCausalLM"]
        source = save_reference_model(build_reference_model(model_type, class_name, config),
                                      str(tmp_path_factory.mktemp(model_type)))
        model = AutoModelForCausalLM.from_pretrained(source).eval()
        written = export(model, tmp_path_factory.mktemp(f"{model_type}-onnx"))
        assert written.task == "text-generation" and not any(p.requires_grad is False for p in model.parameters())
        built[model_type] = model, str(written.folder)
    return built


def flat_cache(cache, layers: int) -> list[torch.Tensor]:
    return [tensor for layer in range(layers) for tensor in cache[layer]]


def past_feed(tensors: list[torch.Tensor], layers: int) -> dict[str, np.ndarray]:
    from workbench.onnx.graphs import past_names

    return {name: tensor.detach().numpy() for name, tensor in zip(past_names(layers), tensors)}


@pytest.mark.parametrize("model_type", DECODERS)
@pytest.mark.parametrize("batch, prompt, new", [(1, 6, 1), (3, 9, 3)])
def test_the_decoder_matches_pytorch_without_and_with_past(decoders, model_type, batch, prompt, new):
    """The prompt with empty past (length 0), then ``new`` tokens over the returned present."""
    model, folder = decoders[model_type]
    layers, onnx_session = model.config.num_hidden_layers, session(folder)
    from workbench.onnx.runtime import OnnxCausalLM

    ids = token_inputs(model.config.vocab_size, batch, prompt + new, seed=batch)["input_ids"]
    first, then = ids[:, :prompt], ids[:, prompt:]
    positions = torch.arange(prompt + new).expand(batch, -1)
    with torch.no_grad():
        out = model(input_ids=first, use_cache=True)
        expected_present = flat_cache(out.past_key_values, layers)
        expected_first = out.logits
        expected_then = model(input_ids=then, past_key_values=out.past_key_values, use_cache=True)
    empty = OnnxCausalLM(folder).empty_past(batch)
    logits, *present = onnx_session.run(None, {"input_ids": first.numpy(), "position_ids": positions[:, :prompt].numpy(),
                                               "attention_mask": np.ones((batch, prompt), np.int64), **empty})
    close(logits, expected_first)
    for ours, theirs in zip(present, expected_present):
        close(ours, theirs)
    logits, *present = onnx_session.run(None, {"input_ids": then.numpy(), "position_ids": positions[:, prompt:].numpy(),
                                               "attention_mask": np.ones((batch, prompt + new), np.int64),
                                               **past_feed([torch.from_numpy(p) for p in present], layers)})
    close(logits, expected_then.logits)
    assert present[0].shape[2] == prompt + new
    for ours, theirs in zip(present, flat_cache(expected_then.past_key_values, layers)):
        close(ours, theirs)


@pytest.mark.parametrize("model_type", DECODERS)
def test_greedy_generation_in_onnxruntime_gives_workbench_tokens_on_a_left_padded_batch(decoders, model_type):
    from workbench.onnx.runtime import OnnxCausalLM

    model, folder = decoders[model_type]
    ids = torch.tensor([[11, 12, 13, 14, 15], [0, 0, 21, 22, 23]])
    mask = (ids != 0).long()
    expected = model.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False, pad_token_id=0)
    ours = OnnxCausalLM(folder).generate(ids, mask, max_new_tokens=12, pad_token_id=0)
    assert ours.tolist() == expected.tolist()


def smollm2(gguf_path: str, layers: int | None):
    """SmolLM2-135M-Instruct dequantized from its GGUF, cut to its first ``layers`` (None: all)."""
    from workbench import AutoModelForCausalLM, AutoTokenizer

    folder, name = os.path.split(gguf_path)
    full = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if layers is None:
        return full, tokenizer
    config = type(full.config).from_dict({**full.config.to_dict(), "num_hidden_layers": layers})
    cut = type(full)(config).eval()
    kept = {key: value for key, value in full.state_dict().items()
            if not key.startswith("model.layers.") or int(key.split(".")[2]) < layers}
    cut.load_state_dict(kept)
    return cut, tokenizer


@pytest.mark.parametrize("layers", [2, pytest.param(None, marks=pytest.mark.slow, id="all")])
def test_real_smollm2_greedy_tokens_match_through_onnxruntime(smollm2_gguf_path, tmp_path, layers):
    if layers is None and os.environ.get("WORKBENCH_ONNX_FULL") != "1":
        pytest.skip("all 30 SmolLM2 layers take 80-170 s: set WORKBENCH_ONNX_FULL=1 to run it")
    pytest.importorskip("gguf")
    from workbench.onnx import export
    from workbench.onnx.runtime import OnnxCausalLM

    model, tokenizer = smollm2(smollm2_gguf_path, layers)
    written = export(model, tmp_path / "smollm2-onnx", tokenizer=tokenizer)
    assert {"tokenizer.json", "config.json", "generation_config.json"} <= {p.name for p in written.files}
    ids = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    expected = model.generate(ids, max_new_tokens=20, do_sample=False)
    ours = OnnxCausalLM(written.folder).generate(ids, max_new_tokens=20)
    assert ours.tolist() == expected.tolist()
    if layers is None:  # the real model says the real thing
        assert "Paris" in tokenizer.decode(ours[0, ids.shape[1]:])


# --- what is refused --------------------------------------------------------------------------------


def test_an_unsupported_family_or_task_is_refused_naming_what_is_supported(bert_classifier, tmp_path, capsys):
    from workbench import GPT2Config, GPT2LMHeadModel
    from workbench.cli import main
    from workbench.onnx import UnsupportedExport, export

    gpt2 = GPT2LMHeadModel(GPT2Config(**FAMILIES["gpt2"].tiny))
    with pytest.raises(UnsupportedExport, match=r"model_type 'gpt2' .*Supported: feature-extraction \(bert.*"
                                                r"text-generation \(llama, mistral, qwen2\)"):
        export(gpt2, tmp_path / "gpt2")
    with pytest.raises(UnsupportedExport, match=r"task 'fill-mask'.*Supported: .*text-classification \(bert"):
        export(bert_classifier[1], tmp_path / "bert", task="fill-mask")
    with pytest.raises(UnsupportedExport, match=r"opset 17 cannot be written.*opset >= 18"):
        export(bert_classifier[1], tmp_path / "bert", opset=17)
    assert main(["export", "onnx", bert_classifier[1], str(tmp_path / "cli"), "--task", "text-generaton"]) == 2
    error = capsys.readouterr().err
    assert "Did you mean 'text-generation'?" in error and "Supported: feature-extraction (bert" in error
    assert not (tmp_path / "cli" / "model.onnx").exists() and not (tmp_path / "gpt2").exists()
