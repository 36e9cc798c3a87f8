"""ModelPicker and the catalog under it, driven from Python: the sources listed and their numbers
checked against the real models, the one table (rows chosen as a click or Enter would), the copy
load code text (run, it loads the same model), the model card from a README with front matter,
and repeat scans that read no file again (counted, not timed)."""

from __future__ import annotations

import builtins
import hashlib
import html
import json
import os
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

import workbench.models.bert as bert  # noqa: E402
import workbench.models.llama as llama  # noqa: E402
from workbench import catalog  # noqa: E402
from workbench.widgets import ModelPicker  # noqa: E402
from workbench.widgets.model_picker import entry_cells  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TINY_LLAMA = dict(vocab_size=99, hidden_size=32, intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, tie_word_embeddings=True)
README = """---
license: apache-2.0
tags:
- bert
- "tiny"
pipeline_tag: feature-extraction
widget:
  - text: nested, not read
---

# tiny-bert

<!-- a comment -->
[![badge](https://example.invalid/b.svg)](https://example.invalid)

A tiny BERT for the picker's tests,
written by tests/test_widgets_picker.py.

Second paragraph, not shown.
"""


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


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
    (staged / "README.md").write_text(README)
    snapshot = write_hf_cache(root / "hub", "org/tiny-bert", staged)

    torch.manual_seed(0)
    decoder = llama.LlamaForCausalLM.from_config(llama.LlamaConfig(**TINY_LLAMA)).eval()
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
    rows = {row["key"]: row["cells"] for row in picker.table.rows}
    assert list(rows) == [e.key for e in picker.filtered]
    for found in picker.entries:
        assert rows[found.key] == entry_cells(found)
        for text in entry_cells(found):
            assert html.escape(text) in bundle["text/html"]
    bert_row = rows[entry(picker, "org/tiny-bert").key]
    # the tiny BERT: 993,514 parameters, x 4 bytes in float32 and x 2 in bfloat16
    assert bert_row[3] == "993.5K" and bert_row[-1] == "4.0 MB / 2.0 MB"
    headers = [c["label"] for c in picker.table.columns]
    assert len(headers) == len(bert_row) and "weight memory fp32 / 16-bit" in headers
    assert "weights alone" in picker.table.columns[-1]["title"] and "KV cache" in picker.table.columns[-1]["title"]
    assert "fp16" not in headers and "bf16" not in headers  # one memory column, not three


def test_picker_filters_by_task_architecture_and_name(picker):
    assert {"feature-extraction", "text-generation", "text-classification"} <= set(picker.task_filter.options)
    picker.task_filter.value = "text-generation"
    assert sorted(e.name for e in picker.filtered) == ["tiny-llama", "tiny-llama.F32.gguf"]
    assert [row["key"] for row in picker.table.rows] == [e.key for e in picker.filtered]
    assert "org/tiny-bert" not in json.dumps(picker.table.rows)
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

    folder = tmp_path / "other" / "mamba-ish"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "mamba", "architectures": ["MambaForCausalLM"],
                                                    "num_hidden_layers": 3, "torch_dtype": "bfloat16"}))
    save_file({"shared.weight": torch.zeros(10, 4, dtype=torch.bfloat16), "lm.bias": torch.zeros(7)},
              str(folder / "model.safetensors"))
    picker = ModelPicker(paths=[tmp_path / "other"], include_cache=False, include_zoo=False)
    (found,) = picker.entries
    assert (found.num_parameters, found.num_layers, found.dtype, found.task) == \
        (47, 3, "bfloat16", "text-generation")
    assert "not buildable in workbench" in found.error
    assert picker.load() is None and picker.value is None
    assert picker.status.startswith("Loading mamba-ish failed: UnsupportedModelError")
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


# --- one table: rows chosen as the page chooses them ------------------------------------------------


class SavedView:
    """Stands in for IPython's DisplayHandle: keeps what refresh_saved_view wrote."""

    def __init__(self):
        self.bundles = []

    def update(self, bundle, raw=False):
        self.bundles.append(bundle)


def test_a_row_chosen_in_the_page_selects_its_model_and_rewrites_the_saved_view(picker):
    picker.task_filter.value = picker.arch_filter.value = "(all)"
    picker.select("org/tiny-bert")
    saved = SavedView()
    picker._display_handles = [saved]
    try:
        gguf_row = next(row for row in picker.table.rows if "tiny-llama.F32.gguf" in row["cells"][0])
        picker.table.selected = gguf_row["key"]  # what a click, Enter or Space on the row sends
        assert picker.selected.gguf_file == "tiny-llama.F32.gguf"
        assert "tiny-llama.F32.gguf" in picker.details.value and "Q4" not in picker.details.value
        assert "llama · F32" in picker.details.value  # the GGUF header's architecture and quantization
        html_saved = saved.bundles[-1]["text/html"]
        assert re.findall(r'<tr data-key="([^"]*)"[^>]*aria-selected="true"', html_saved) == [gguf_row["key"]]
        assert saved.bundles[-1]["text/plain"].count("\n* ") == 1
    finally:
        picker._display_handles = None


def test_the_picker_opens_on_a_given_model(machine):
    picker = ModelPicker(cache_dir=machine.cache, zoo_dir=machine.zoo, selected="zoo/text-classification")
    assert picker.table.selected == picker.selected.key and picker.selected.name == "zoo/text-classification"
    with pytest.raises(KeyError, match="No model 'org/missing'"):
        ModelPicker(cache_dir=machine.cache, include_zoo=False, selected="org/missing")


# --- model card and load code --------------------------------------------------------------------


def test_the_model_card_shows_the_readme_text_license_and_tags(picker):
    picker.task_filter.value = picker.arch_filter.value = "(all)"
    entry_ = picker.select("org/tiny-bert")
    card = catalog.model_card(entry_)
    assert card.license == "apache-2.0" and card.tags == ["bert", "tiny"]
    assert card.description == "A tiny BERT for the picker's tests, written by tests/test_widgets_picker.py."
    assert card.metadata["pipeline_tag"] == "feature-extraction" and "widget" not in card.metadata
    for view in (picker.details.value, picker.to_html()):
        assert "apache-2.0" in view and '<span class="tag">tiny</span>' in view
        assert "A tiny BERT for the picker&#x27;s tests" in view and "Second paragraph" not in view
    picker.select("tiny-llama")
    assert "No model card" in picker.details.value and catalog.model_card(picker.selected) is None


def test_copy_load_code_gives_code_that_loads_the_same_model(picker, machine, monkeypatch):
    import huggingface_hub.constants

    # the picker's cache is this process's cache: the code names the repo id
    monkeypatch.setenv("HF_HUB_CACHE", str(machine.cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(machine.cache))  # read at import
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    picker.task_filter.value = picker.arch_filter.value = "(all)"
    picker.mode.value, picker.dtype.value = "model", "auto"
    picker.select("tiny-llama")
    picker.select("org/tiny-bert")
    assert picker.code_box.layout.display == "none" and picker.code_box.value == ""
    picker.copy_button.press()  # what the page's button sends, after writing the clipboard
    code = picker.code_box.value
    assert picker.code_box.layout.display == "" and code == picker.copy_button.text == picker.load_code
    assert code == ("from workbench import AutoModel, AutoTokenizer\n\n"
                    "model = AutoModel.from_pretrained('org/tiny-bert')\n"
                    "tokenizer = AutoTokenizer.from_pretrained('org/tiny-bert')\n")
    scope = {}
    exec(code, scope)
    ids = scope["tokenizer"]("hello world", return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(scope["model"](**ids).last_hidden_state, machine.encoder.eval()(**ids).last_hidden_state)

    picker.select("tiny-llama.F32.gguf")
    picker.dtype.value = "bfloat16"
    picker.copy_load_code()
    assert f"from_pretrained({str(machine.gguf.parent)!r}, gguf_file='tiny-llama.F32.gguf', dtype='bfloat16')" \
        in picker.code_box.value  # a new dtype rewrites the shown code
    picker.dtype.value = "auto"
    scope = {}
    exec(picker.copy_load_code(), scope)
    tokens = torch.tensor([[3, 14, 15, 9]])
    with torch.no_grad():
        assert torch.equal(scope["model"](tokens).logits, machine.decoder(tokens).logits)

    picker.mode.value = "pipeline"
    picker.select("org/tiny-bert")
    assert picker.copy_load_code() == \
        "from workbench import pipeline\n\npipe = pipeline('feature-extraction', model='org/tiny-bert')\n"
    picker.mode.value = "model"


def test_load_code_names_a_cache_outside_this_process_by_its_folder(picker, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    picker.task_filter.value = picker.arch_filter.value = "(all)"
    snapshot = picker.select("org/tiny-bert").path
    assert f"AutoModel.from_pretrained({snapshot!r})" in picker.load_code


# --- scanning: what a repeat scan reads ------------------------------------------------------------


def counting_opens(monkeypatch) -> list[str]:
    opened = []
    real_open = builtins.open

    def counting(file, *args, **kwargs):
        opened.append(os.fspath(file) if isinstance(file, (str, os.PathLike)) else repr(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    return opened


def test_a_repeat_scan_reads_no_file_and_a_changed_folder_is_read_again(machine, tmp_path, monkeypatch):
    local = tmp_path / "local"
    shutil.copytree(machine.local, local)
    shutil.copytree(machine.local / "tiny-llama", local / "tiny-llama-2")
    sources = dict(cache_dir=machine.cache, zoo_dir=machine.zoo)
    catalog.REMEMBERED.clear()
    opened = counting_opens(monkeypatch)
    first = catalog.scan([local], **sources)
    configs = sorted(p for p in opened if p.endswith("config.json"))
    assert len(configs) == 4  # the cached BERT, two local llamas, the zoo classifier
    assert any(p.endswith(".gguf") for p in opened)

    opened.clear()
    again = catalog.scan([local], **sources)
    assert opened == []  # nothing read, only stat'ed
    assert [(e.key, e.num_parameters, e.size_on_disk) for e in again.entries] == \
        [(e.key, e.num_parameters, e.size_on_disk) for e in first.entries]

    changed = local / "tiny-llama-2" / "config.json"
    changed.write_text(json.dumps(json.loads(changed.read_text()) | {"num_hidden_layers": 1}))
    opened.clear()
    third = catalog.scan([local], **sources)
    assert [p for p in opened if p.endswith("config.json")] == [str(changed)]
    by_name = {e.name: e for e in third.entries}
    assert by_name["tiny-llama-2"].num_layers == 1 and by_name["tiny-llama"].num_layers == 2
    assert by_name["tiny-llama-2"].num_parameters < by_name["tiny-llama"].num_parameters

    (local / "tiny-llama" / "extra.bin").write_bytes(b"x" * 10)  # a new file: the folder is described again,
    opened.clear()
    fourth = {e.name: e for e in catalog.scan([local], **sources).entries}
    assert fourth["tiny-llama"].size_on_disk == by_name["tiny-llama"].size_on_disk + 10
    assert [p for p in opened if p.endswith("config.json")] == []  # its unchanged config.json still not read


def test_entries_from_the_remembered_scan_are_copies(machine):
    first = catalog.scan(cache_dir=machine.cache, include_zoo=False).entries[0]
    first.config["hidden_size"] = -1
    first.name = "changed"
    again = catalog.scan(cache_dir=machine.cache, include_zoo=False).entries[0]
    assert again.name == "org/tiny-bert" and again.config["hidden_size"] == 32


# --- adapters: folders written by workbench and by peft, in a folder and in the cache ---------------


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    """A reference tiny llama (the base), a workbench LoRA folder (two adapters on the model, "sft"
    active and saved), a peft LoRA folder written by PeftModel.save_pretrained on the reference, the
    latter also in a fake HF cache, and an adapter whose base folder is gone."""
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    from model_registry import TINY_DECODER
    from reference import build_reference_model

    from workbench import AutoModelForCausalLM

    root = tmp_path_factory.mktemp("adapters")
    base = root / "base"
    build_reference_model("llama", "LlamaForCausalLM", TINY_DECODER).save_pretrained(base)
    torch.manual_seed(0)
    ours = AutoModelForCausalLM.from_pretrained(base)
    ours.add_adapter(peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
                     adapter_name="sft")
    ours.add_adapter(peft.LoraConfig(r=2, target_modules=["o_proj"], init_lora_weights=False), adapter_name="other")
    ours.set_adapter("sft")
    ours.eval().save_pretrained(root / "adapters" / "wb-lora")
    reference = transformers.AutoModelForCausalLM.from_pretrained(base, attn_implementation="eager")
    wrapped = peft.get_peft_model(reference, peft.LoraConfig(r=2, lora_alpha=4, target_modules="all-linear",
                                                             init_lora_weights=False)).eval()
    wrapped.save_pretrained(root / "adapters" / "peft-lora")
    snapshot = write_hf_cache(root / "hub", "org/tiny-lora", root / "adapters" / "peft-lora")
    orphan = root / "missing" / "orphan-lora"
    shutil.copytree(root / "adapters" / "wb-lora", orphan)
    config = json.loads((orphan / "adapter_config.json").read_text())
    (orphan / "adapter_config.json").write_text(json.dumps(config | {"base_model_name_or_path": str(root / "gone")}))
    picker = ModelPicker(paths=[root / "adapters", root / "missing"], cache_dir=root / "hub", include_zoo=False)
    return SimpleNamespace(root=root, base=base, ours=ours, wrapped=wrapped, snapshot=snapshot, picker=picker)


def adapter_numel(model, name: str) -> int:
    """By hand: the values of the adapter's LoRA matrices (their keys hold lora_ and the adapter's name)."""
    return sum(p.numel() for key, p in model.named_parameters() if "lora_" in key and name in key.split("."))


def test_adapter_folders_are_entries_with_their_base_method_and_counts(adapters):
    from workbench import AutoModelForCausalLM

    picker = adapters.picker
    found = {(e.source, e.name): e for e in picker.entries}
    assert sorted(found) == [("cache", "org/tiny-lora"), ("folder", "orphan-lora"), ("folder", "peft-lora"),
                             ("folder", "wb-lora")]
    assert {e.kind for e in found.values()} == {"adapter"}
    base_count = AutoModelForCausalLM.from_pretrained(adapters.base).num_parameters()
    ours, theirs = found["folder", "wb-lora"], found["folder", "peft-lora"]
    # the saved adapter is the active one, "sft": its count, not "other"'s
    assert ours.num_parameters == adapter_numel(adapters.ours, "sft") != adapter_numel(adapters.ours, "other")
    assert theirs.num_parameters == found["cache", "org/tiny-lora"].num_parameters == \
        adapter_numel(adapters.wrapped, "default")
    for entry_ in (ours, theirs, found["cache", "org/tiny-lora"]):
        facts = entry_.adapter
        assert (facts.base_model, facts.base_path, facts.method) == (str(adapters.base), str(adapters.base), "LORA")
        assert (entry_.architecture, entry_.task, entry_.num_layers, entry_.error) == \
            ("LlamaForCausalLM", "text-generation", 2, None)
        assert facts.base_parameters == base_count
        assert entry_.memory("float32") == 4 * (base_count + entry_.num_parameters)  # base + adapter, loaded
    assert (ours.adapter.r, ours.adapter.alpha, sorted(ours.adapter.target_modules)) == (4, 8, ["q_proj", "v_proj"])
    assert (theirs.adapter.r, theirs.adapter.alpha) == (2, 4)
    assert found["cache", "org/tiny-lora"].path == str(adapters.snapshot)
    cells = entry_cells(ours)
    assert cells[0] == f"wb-lora · LORA adapter on {adapters.base} · folder" and cells[3] == str(ours.num_parameters)
    picker.select("wb-lora")
    card = picker.details.value
    assert "LORA adapter" in card and f"{base_count:,}" in card and "r=4, alpha=8, targets q_proj, v_proj" in card
    assert f'<td class="num">{ours.num_parameters:,}</td>' in card  # the adapter table, from the files


def test_loading_an_adapter_entry_gives_the_model_loaded_by_hand(adapters, monkeypatch):
    from workbench import AutoModelForCausalLM

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    picker, ids = adapters.picker, torch.tensor([[3, 14, 15, 9, 26, 5]])
    picker.mode.value, picker.dtype.value = "model", "auto"
    for name, folder in (("wb-lora", adapters.root / "adapters" / "wb-lora"), ("org/tiny-lora", adapters.snapshot)):
        picker.select(name)
        model = picker.load()
        by_hand = AutoModelForCausalLM.from_pretrained(adapters.base)
        by_hand.load_adapter(str(folder))
        with torch.no_grad():
            assert torch.equal(model(ids).logits, by_hand(ids).logits), name
            differs = (model(ids).logits - AutoModelForCausalLM.from_pretrained(adapters.base)(ids).logits).abs().max()
        assert differs > 1e-3, "the adapter changed nothing"
        rows = model.adapter_summary()
        assert [(r["name"], r["active"]) for r in rows] == [("default", True)]
        card = picker.details.value  # the loaded model's adapters: loaded, active, parameters
        assert "adapters: 1 loaded, 1 active" in card and "<td>active</td>" in card
        assert f'<td class="num">{rows[0]["parameters"]:,}</td>' in card
        scope = {}
        exec(picker.load_code, scope)  # the copied code loads the same model
        with torch.no_grad():
            assert torch.equal(scope["model"](ids).logits, by_hand(ids).logits)
    with torch.no_grad():  # and the peft folder is peft's model on the reference, through our loading
        torch.testing.assert_close(model(ids).logits, adapters.wrapped(input_ids=ids).logits, atol=1e-5, rtol=1e-5)
        picker.select("wb-lora")
        torch.testing.assert_close(picker.load()(ids).logits, adapters.ours(ids).logits, atol=1e-5, rtol=1e-5)


def test_the_card_follows_adapters_added_and_switched_on_the_loaded_model(adapters):
    peft = pytest.importorskip("peft")
    picker = adapters.picker
    picker.select("wb-lora")
    model = picker.load()
    model.add_adapter(peft.LoraConfig(r=8, target_modules=["k_proj"]), adapter_name="extra")  # active, trainable
    picker.update_card()
    card = picker.details.value
    assert "adapters: 2 loaded, 1 active" in card and '<tr class="active"><td>* extra</td>' in card
    total = sum(p.numel() for p in model.parameters())
    assert f"trainable {adapter_numel(model, 'extra'):,} of {total:,} parameters" in card
    model.set_adapter("default")
    picker.update_card()
    assert '<tr class="active"><td>* default</td>' in picker.details.value
    assert "<td>extra</td><td>LORA</td><td>loaded</td>" in picker.details.value
    for view in (picker.details.value, picker.to_html()):  # light and dark: the theme's variables, no literal colour
        assert 'class="wb-view' in view and not re.findall(r"[;{\s\"](?:color|background(?:-color)?)\s*:\s*#", view)
    assert "adapters: 2 loaded, 1 active" in picker.to_html()  # the saved view shows them too


def test_a_missing_base_is_said_in_the_card_and_the_load_fails_plainly(adapters, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    picker = adapters.picker
    orphan = picker.select("orphan-lora")
    gone = str(adapters.root / "gone")
    assert orphan.error.startswith(f"base model {gone!r} not found: the folder does not exist")
    assert orphan.architecture is None and orphan.memory("float32") is None
    assert "not found: the folder does not exist" in picker.details.value
    assert "Traceback" not in picker.details.value
    assert picker.load() is None and picker.status_is_error
    assert picker.status.startswith(f"Loading orphan-lora failed: FileNotFoundError: Cannot load the adapter "
                                    f"orphan-lora: base model {gone!r} not found")
    assert "set base_model_name_or_path in adapter_config.json" in picker.status


def test_base_layers_saved_with_an_adapter_are_counted_apart(adapters, tmp_path):
    """LoRA on the embedding makes peft save the embedding itself too: the adapter's count is its
    LoRA matrices (what adapter_summary() counts), the embedding is listed as saved with it."""
    peft = pytest.importorskip("peft")
    from workbench import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(adapters.base)
    model.add_adapter(peft.LoraConfig(r=2, target_modules=["q_proj", "embed_tokens"]), adapter_name="embed")
    with pytest.warns(UserWarning, match="save_embedding_layers"):
        model.save_pretrained(tmp_path / "embed-lora")
    (found,) = ModelPicker(paths=[tmp_path], include_cache=False, include_zoo=False).entries
    assert found.num_parameters == model.adapter_summary()[0]["parameters"] == adapter_numel(model, "embed")
    assert found.adapter.base_values == model.get_input_embeddings().weight.numel()
