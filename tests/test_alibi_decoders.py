"""ALiBi and the decoders built on it, where the shared suites (test_models.py,
test_decoder_generation.py) cannot look: slopes for every head count, Falcon's ALiBi layout, MPT
decoding through its cache, and the configs workbench refuses.

Falcon with ``alibi=True``: the reference's eager attention adds the bias twice (once into the
mask, once into the scores) while its SDPA path adds it once, so its two kernels disagree. The
shared suite compares against the eager kernel (for the attention maps); here workbench is
compared with the reference's SDPA path, the one its generate() runs.
"""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.errors import ConfigError
from workbench.models.registry import FAMILIES
from workbench.nn.alibi import alibi_slopes, mpt_alibi_slopes

from reference import build_reference_model, save_reference_model
from tolerance import assert_close_scaled

pytestmark = pytest.mark.usefixtures("one_thread")

HEAD_COUNTS = list(range(1, 41)) + [48, 64, 71, 96, 112, 128]


@pytest.mark.parametrize("heads", HEAD_COUNTS)
def test_slopes_equal_the_references_bit_for_bit(heads):
    from transformers.models.bloom.modeling_bloom import _get_alibi_slopes
    from transformers.models.mpt.modeling_mpt import build_mpt_alibi_tensor

    assert torch.equal(alibi_slopes(heads), _get_alibi_slopes(heads, torch.device("cpu")))
    # MPT's table holds slope * (1 - L .. 0): its last-but-one column is -slope
    assert torch.equal(-mpt_alibi_slopes(heads), build_mpt_alibi_tensor(heads, 2)[:, 0, 0])
    # the same slopes (MPT's with its default max bias), computed along another rounding path
    torch.testing.assert_close(mpt_alibi_slopes(heads), alibi_slopes(heads), rtol=1e-6, atol=0)


FALCON_ALIBI = dict(FAMILIES["falcon"].tiny, alibi=True, new_decoder_architecture=False, multi_query=False,
                    parallel_attn=False, num_kv_heads=None, bias=True)  # Falcon-RW's layout


@pytest.fixture(scope="module")
def falcon_alibi(tmp_path_factory):
    """(workbench model, reference model on SDPA, folder) for Falcon-RW's layout."""
    import transformers

    folder = save_reference_model(build_reference_model("falcon", "FalconForCausalLM", FALCON_ALIBI),
                                  str(tmp_path_factory.mktemp("falcon-alibi")))
    reference = transformers.FalconForCausalLM.from_pretrained(folder, attn_implementation="sdpa").eval()
    return workbench.AutoModelForCausalLM.from_pretrained(folder), reference, folder


def padded_batch():
    ids = torch.randint(3, 99, (2, 7), generator=torch.Generator().manual_seed(3))
    mask = torch.ones_like(ids)
    ids[0, :3], mask[0, :3] = 0, 0  # left padding: ALiBi's positions count real tokens
    return ids, mask


def test_falcon_alibi_matches_the_references_sdpa_path_with_any_kernel(falcon_alibi):
    ours, reference, _ = falcon_alibi
    ids, mask = padded_batch()
    with torch.no_grad():
        expected = reference(ids, attention_mask=mask).logits
        fast = ours(ids, attention_mask=mask).logits
        eager = ours(ids, attention_mask=mask, output_attentions=True)
    real = mask.bool()
    assert_close_scaled(fast[real], expected[real])
    assert_close_scaled(eager.logits[real], expected[real])
    assert len(eager.attentions) == 2 and eager.attentions[0].shape == (2, 4, 7, 7)


def test_falcon_alibi_save_loads_in_the_reference(falcon_alibi, tmp_path):
    import transformers

    ours, reference, _ = falcon_alibi
    ours.save_pretrained(tmp_path)
    reloaded = transformers.FalconForCausalLM.from_pretrained(tmp_path, attn_implementation="sdpa").eval()
    ids, mask = padded_batch()
    with torch.no_grad():
        assert_close_scaled(reloaded(ids, attention_mask=mask).logits[mask.bool()],
                            reference(ids, attention_mask=mask).logits[mask.bool()])


@pytest.mark.parametrize("beams", [1, 3])
def test_falcon_alibi_generates_the_references_tokens(falcon_alibi, beams):
    ours, reference, _ = falcon_alibi
    ids, mask = padded_batch()
    settings = dict(attention_mask=mask, max_new_tokens=10, eos_token_id=None, pad_token_id=0, do_sample=False,
                    num_beams=beams)
    with torch.no_grad():
        assert torch.equal(ours.generate(ids, **settings), reference.generate(ids, **settings))


def test_falcon_alibi_cached_decode_equals_full_forward(falcon_alibi):
    ours, _, _ = falcon_alibi
    ids, mask = padded_batch()
    with torch.no_grad():
        full = ours(ids, attention_mask=mask).logits
        out = ours(ids[:, :4], attention_mask=mask[:, :4], use_cache=True)
        steps = [out.logits]
        for t in range(4, ids.shape[1]):
            out = ours(ids[:, t:t + 1], attention_mask=mask[:, :t + 1], past_key_values=out.past_key_values,
                       use_cache=True)
            steps.append(out.logits)
    assert_close_scaled(torch.cat(steps, dim=1)[1], full[1])
    assert_close_scaled(torch.cat(steps, dim=1)[0, 3:], full[0, 3:])


def test_mpt_generates_the_references_tokens_through_its_cache(tmp_path):
    """MPT's config turns the cache off (use_cache=False), so test_decoder_generation decodes it
    without one; here both sides decode through their caches (workbench's static one too)."""
    import transformers

    folder = save_reference_model(build_reference_model("mpt", "MptForCausalLM", FAMILIES["mpt"].tiny), str(tmp_path))
    ours = workbench.AutoModelForCausalLM.from_pretrained(folder)
    reference = transformers.MptForCausalLM.from_pretrained(folder).eval()
    ids, mask = padded_batch()
    for beams in (1, 3):
        settings = dict(attention_mask=mask, max_new_tokens=10, eos_token_id=None, pad_token_id=0, do_sample=False,
                        num_beams=beams, use_cache=True)
        with torch.no_grad():
            expected = reference.generate(ids, **settings)
            assert torch.equal(ours.generate(ids, **settings), expected)
            assert torch.equal(ours.generate(ids, cache_implementation="static", **settings), expected)


@pytest.mark.parametrize("setting", [dict(no_bias=False), dict(logit_scale=0.5), dict(attn_config=dict(qk_ln=True)),
                                     dict(attn_config=dict(alibi=False)), dict(attn_config=dict(alibi_bias_max=4)),
                                     dict(attn_config=dict(attn_type="multiquery_attention"))])
def test_mpt_settings_the_reference_ignores_are_refused_by_name(setting):
    name = next(iter(setting)) if "attn_config" not in setting else next(iter(setting["attn_config"]))
    with pytest.raises(ConfigError, match=name):
        workbench.AutoConfig.for_model("mpt", **setting)


def test_mpt_attn_config_reads_as_dict_and_attributes_and_round_trips():
    config = workbench.AutoConfig.for_model("mpt", attn_config={"clip_qkv": 6.0, "extra": 1})
    assert config.attn_config.clip_qkv == config.attn_config["clip_qkv"] == 6.0
    assert config.attn_config.softmax_scale is None and config.attn_config["extra"] == 1
    assert type(config).from_dict(config.to_dict()).to_dict() == config.to_dict()


@pytest.mark.parametrize("setting", [dict(new_decoder_architecture=True, parallel_attn=False),
                                     dict(new_decoder_architecture=False, num_ln_in_parallel_attn=2)])
def test_falcon_layouts_the_reference_cannot_run_are_refused(setting):
    with pytest.raises(ConfigError, match="Falcon"):
        workbench.AutoConfig.for_model("falcon", **setting)


# the tokenizer_class the families' Hub checkpoints name (None: the config's model_type decides)
TOKENIZER_CLASSES = [("bloom", "BloomTokenizerFast"), ("falcon", "PreTrainedTokenizerFast"), ("mpt", "GPTNeoXTokenizer"),
                     ("gpt_bigcode", "GPT2Tokenizer"), ("starcoder2", "GPT2Tokenizer")]


@pytest.mark.parametrize("model_type,name", TOKENIZER_CLASSES + [(t, None) for t, _ in TOKENIZER_CLASSES])
def test_the_families_tokenizer_classes_load_as_the_reference_loads_them(model_type, name, tmp_path):
    """A byte-level BPE tokenizer.json under each family's tokenizer_class: the same padding side,
    model inputs and padded batch as the reference's AutoTokenizer."""
    import json

    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer, backend.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    backend.train_from_iterator(["def hello_world():\n    return 'the quick brown fox'"] * 20, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<pad>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    backend.save(str(tmp_path / "tokenizer.json"))
    settings = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>"} | ({"tokenizer_class": name} if name else {})
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(settings))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    theirs, ours = transformers.AutoTokenizer.from_pretrained(tmp_path), workbench.AutoTokenizer.from_pretrained(tmp_path)
    texts = ["def hello_world():", "return 'fox'"]
    assert (ours.padding_side, list(ours.model_input_names)) == (theirs.padding_side, list(theirs.model_input_names))
    assert dict(ours(texts, padding=True)) == dict(theirs(texts, padding=True))
