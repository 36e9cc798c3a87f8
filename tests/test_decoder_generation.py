"""generate() on every decoder family of the registry, against the reference on the same tiny checkpoint.

One case per registered family with a causal LM head (its base config from
``workbench.models.registry``): workbench loads the folder the reference saved, with its default
(fast) attention, and decodes a left-padded batch of two prompts greedily and with beam search. The
tokens must be the reference's exactly (ties within float32 rounding do not occur on these random
models; see tests/test_generation.py), and the greedy steps' logits within 1e-5. Twelve new
tokens after six-token prompts run past every tiny config's sliding window (4), so windowed,
hybrid local/global and soft-capped layers are decoded through their caches. Families whose
attention allows the static cache decode through it too.

tests/test_generation.py covers generate()'s options in depth on Llama, GPT-2 and OPT.
"""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench.models.registry import FAMILIES

from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

pytestmark = pytest.mark.usefixtures("one_thread")

DECODERS = sorted(model_type for model_type, family in FAMILIES.items() if "AutoModelForCausalLM" in family.heads)
NEW_TOKENS = 12


def prompts(config: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Two six-token prompts, the first left-padded by two, as ids from 3 up (never a special token)."""
    pad = config.get("pad_token_id") or 0
    ids = torch.randint(3, config["vocab_size"], (2, 6), generator=torch.Generator().manual_seed(5))
    mask = torch.ones_like(ids)
    ids[0, :2], mask[0, :2] = pad, 0
    return ids, mask


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """model_type -> (workbench model, reference model, prompts), built on first use."""
    built = {}

    def get(model_type):
        if model_type not in built:
            family = FAMILIES[model_type]
            head = family.heads["AutoModelForCausalLM"]
            config = dict(family.tiny)
            folder = save_reference_model(build_reference_model(model_type, head, config),
                                          str(tmp_path_factory.mktemp(model_type)))
            ours = workbench.AutoModelForCausalLM.from_pretrained(folder)
            assert type(ours).__name__ == head
            built[model_type] = (ours, load_reference_model(head, folder), prompts(config))
        return built[model_type]

    return get


def generate_both(ours, reference, ids, mask, **kwargs):
    # no eos: every row runs the full twelve steps, whatever the random model emits
    settings = dict(attention_mask=mask, max_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0, **kwargs)
    with torch.no_grad():
        return ours.generate(ids, **settings), reference.generate(ids, **settings)


@pytest.mark.parametrize("model_type", DECODERS)
def test_greedy_tokens_and_logits_match_the_reference(model_type, pairs):
    ours, reference, (ids, mask) = pairs(model_type)
    mine, theirs = generate_both(ours, reference, ids, mask, do_sample=False, return_dict_in_generate=True,
                                 output_logits=True)
    assert mine.sequences.shape == (2, ids.shape[1] + NEW_TOKENS)
    assert torch.equal(mine.sequences, theirs.sequences)
    for step, (a, b) in enumerate(zip(mine.logits, theirs.logits)):
        assert_close_scaled(a, b, what=f"logits of step {step}")


@pytest.mark.parametrize("model_type", DECODERS)
def test_beam_search_tokens_match_the_reference(model_type, pairs):
    ours, reference, (ids, mask) = pairs(model_type)
    mine, theirs = generate_both(ours, reference, ids, mask, num_beams=3, num_return_sequences=2, do_sample=False)
    assert torch.equal(mine, theirs)


@pytest.mark.parametrize("model_type", DECODERS)
def test_static_cache_gives_the_dynamic_cache_tokens(model_type, pairs):
    """Where the family allows a static cache (fixed-size buffers, masks over the whole buffer),
    greedy decoding through it gives the reference's tokens too."""
    ours, reference, (ids, mask) = pairs(model_type)
    if not getattr(ours, "_supports_static_cache", False):
        with pytest.raises(ValueError, match="dynamic cache only"):
            ours.generate(ids, attention_mask=mask, max_new_tokens=2, cache_implementation="static")
        return
    mine = ours.generate(ids, attention_mask=mask, max_new_tokens=NEW_TOKENS, eos_token_id=None, pad_token_id=0,
                         do_sample=False, cache_implementation="static")
    _, theirs = generate_both(ours, reference, ids, mask, do_sample=False)
    assert torch.equal(mine, theirs)
