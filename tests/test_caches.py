"""Key/value caches: the cache objects on their own, then generation through each of them.

Static and sliding-window caches must give exactly the tokens of the dynamic cache (and of the
reference's greedy search) on tiny Llama, Mistral (window 4 on every layer) and Qwen2 (window 4
on layer 1 only) models, with a window shorter than what is generated.
"""

from __future__ import annotations

import pytest
import torch

import workbench
from workbench import CompileConfig, DynamicCache, SlidingWindowCache, StaticCache
from workbench.auto import class_for_architecture

from model_registry import CASES, TINY_DECODER, TINY_GPT2
from reference import build_reference_model, load_reference_model, save_reference_model
from tolerance import assert_close_scaled

MODELS = {
    "llama": ("llama", "LlamaForCausalLM", TINY_DECODER),
    "mistral": ("mistral", "MistralForCausalLM", dict(TINY_DECODER, sliding_window=4, head_dim=16)),
    "qwen2": ("qwen2", "Qwen2ForCausalLM", dict(TINY_DECODER, use_sliding_window=True, sliding_window=4, max_window_layers=1)),
}
PAD = 0
PROMPTS = torch.tensor([[PAD, PAD, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16]])  # left-padded batch
MASK = (PROMPTS != PAD).long()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    built = {}

    def get(name):
        if name not in built:
            model_type, class_name, config = MODELS[name]
            folder = save_reference_model(build_reference_model(model_type, class_name, config),
                                          str(tmp_path_factory.mktemp(name)))
            built[name] = (workbench.AutoModelForCausalLM.from_pretrained(folder), load_reference_model(class_name, folder),
                           folder)
        return built[name]

    return get


def kv(batch=2, heads=2, length=3, dim=4, start=0):
    """Keys whose every entry is its position (so where each one landed is visible)."""
    positions = torch.arange(start, start + length, dtype=torch.float32)
    return positions[None, None, :, None].expand(batch, heads, length, dim).clone()


class Config:
    num_hidden_layers = 2
    sliding_window = 3
    layer_types = ["full_attention", "sliding_attention"]
    max_position_embeddings = 64


# ---------------------------------------------------------------------------------------------
# the cache objects


def test_static_cache_writes_in_place_at_the_cache_positions():
    cache = StaticCache(max_cache_len=8)
    keys, values = cache.update(kv(length=3), kv(length=3), 0, {"cache_position": torch.arange(3)})
    assert keys.shape == (2, 2, 8, 4) and cache.get_seq_length() == 3 and cache.get_max_cache_shape() == 8
    buffer = keys.data_ptr()
    keys, _ = cache.update(kv(length=1, start=3), kv(length=1, start=3), 0, {"cache_position": torch.tensor([3])})
    assert keys.data_ptr() == buffer  # the same tensor, written in place
    assert keys[0, 0, :, 0].tolist() == [0, 1, 2, 3, 0, 0, 0, 0]
    assert cache.get_seq_length() == 4
    cache.crop(2)  # positions 2, 3 stay in the buffer but the next write starts at 2
    assert cache.get_seq_length() == 2
    keys, _ = cache.update(kv(length=1, start=9), kv(length=1, start=9), 0)
    assert keys[0, 0, :4, 0].tolist() == [0, 1, 9, 3]
    with pytest.raises(ValueError, match="max_cache_len"):
        cache.key_span(0, torch.tensor([8]), 1)


def test_static_cache_reorders_rows_in_place():
    cache = StaticCache(max_cache_len=4)
    key = torch.arange(2.0)[:, None, None, None].expand(2, 1, 1, 2).clone()  # row r holds r
    keys, _ = cache.update(key, key, 0, {"cache_position": torch.tensor([0])})
    pointer = keys.data_ptr()
    cache.reorder_cache(torch.tensor([1, 1]))
    assert cache[0][0].data_ptr() == pointer and cache[0][0][:, 0, 0, 0].tolist() == [1, 1]


def test_sliding_window_cache_keeps_the_window_and_returns_whole_prompts():
    cache = SlidingWindowCache(Config())
    full, _ = cache.update(kv(length=5), kv(length=5), 0)
    windowed, _ = cache.update(kv(length=5), kv(length=5), 1)
    assert full.shape[-2] == 5 and windowed.shape[-2] == 5  # the prompt attends over all its keys
    assert cache[0][0].shape[-2] == 5 and cache[1][0][0, 0, :, 0].tolist() == [3, 4]  # window - 1 kept
    assert cache.get_seq_length(1) == 5 and cache.key_span(1, None, 1) == (3, 3)
    keys, _ = cache.update(kv(length=1, start=5), kv(length=1, start=5), 1)
    assert keys[0, 0, :, 0].tolist() == [3, 4, 5] and cache[1][0][0, 0, :, 0].tolist() == [4, 5]
    cache.crop(6)  # nothing to drop
    with pytest.raises(ValueError, match="cache_implementation='dynamic'"):
        cache.crop(4)
    assert not cache.can_crop


def test_static_cache_gives_windowed_layers_a_shifting_buffer():
    cache = StaticCache(Config(), max_cache_len=8)
    cache.update(kv(length=2), kv(length=2), 1, {"cache_position": torch.arange(2)})
    assert cache.layers[1].keys.shape[-2] == 3  # the window, not max_cache_len
    for position in range(2, 6):
        keys, _ = cache.update(kv(length=1, start=position), kv(length=1, start=position), 1,
                               {"cache_position": torch.tensor([position])})
    assert keys[0, 0, :, 0].tolist() == [3, 4, 5]  # slot i holds position p + 1 - window + i
    start, length = cache.key_span(1, torch.tensor([6]), 1)
    assert int(start) == 4 and length == 3
    with pytest.raises(ValueError, match="crop"):
        cache.crop(3)


def test_dynamic_cache_crop_and_reorder():
    cache = DynamicCache()
    cache.update(kv(length=4), kv(length=4), 0)
    cache.crop(2)
    assert cache.get_seq_length() == 2 and cache[0][0].shape == (2, 2, 2, 4)
    cache.reorder_cache(torch.tensor([1, 1]))
    assert cache[0][0].shape[0] == 2 and cache.can_crop and len(cache) == 1


# ---------------------------------------------------------------------------------------------
# the model through each cache

# the families whose masks follow Cache.key_span (GPT-2 and OPT keep to the dynamic cache)
DECODERS = [(case, head) for case in CASES if case.decoder for head in case.heads
            if head.endswith("ForCausalLM") and getattr(class_for_architecture(head), "_supports_static_cache", False)]


@pytest.mark.parametrize("kind", ["static", "sliding_window"])
@pytest.mark.parametrize("case,head", DECODERS, ids=[c.name for c, _ in DECODERS])
def test_cached_decode_equals_full_forward(case, head, kind, tmp_path):
    """Prompt, then one token at a time through a static or sliding-window cache (with left
    padding in the batch): the full forward's logits."""
    folder = save_reference_model(build_reference_model(case.model_type, head, case.config), str(tmp_path))
    model = class_for_architecture(head).from_pretrained(folder)
    ids = torch.randint(3, case.config["vocab_size"], (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, :2] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = StaticCache(model.config, max_cache_len=12) if kind == "static" else SlidingWindowCache(model.config)
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        out = model(input_ids=ids[:, :5], attention_mask=mask[:, :5], position_ids=positions[:, :5],
                    past_key_values=cache, use_cache=True)
        steps = [out.logits]
        for t in range(5, ids.shape[1]):
            out = model(input_ids=ids[:, t:t + 1], attention_mask=mask[:, :t + 1], position_ids=positions[:, t:t + 1],
                        past_key_values=cache, use_cache=True)
            steps.append(out.logits)
    valid = mask.bool()
    assert_close_scaled(torch.cat(steps, dim=1)[valid], full[valid])


@pytest.mark.parametrize("name", MODELS)
def test_static_and_sliding_caches_give_the_dynamic_caches_tokens(name, models):
    ours, reference, _ = models(name)
    settings = dict(attention_mask=MASK, max_new_tokens=12)  # 18 positions, window 4
    dynamic = ours.generate(PROMPTS, **settings)
    assert torch.equal(dynamic, reference.generate(PROMPTS, **settings))
    for kind in ("static", "sliding_window", "hybrid"):
        assert torch.equal(ours.generate(PROMPTS, cache_implementation=kind, **settings), dynamic), kind
    out = ours.generate(PROMPTS, return_dict_in_generate=True, cache_implementation="sliding_window", **settings)
    if name != "llama":  # the windowed layers held no more than window - 1 positions
        windowed = [layer for layer in out.past_key_values.layers if hasattr(layer, "window")]
        assert windowed and all(layer.keys.shape[-2] == 3 for layer in windowed)


@pytest.mark.parametrize("name", MODELS)
def test_beam_search_reorders_every_cache(name, models):
    ours, _, _ = models(name)
    settings = dict(attention_mask=MASK, max_new_tokens=8, num_beams=3, num_return_sequences=2)
    expected = ours.generate(PROMPTS, **settings)
    for kind in ("static", "sliding_window"):
        assert torch.equal(ours.generate(PROMPTS, cache_implementation=kind, **settings), expected), kind


def test_assisted_generation_crops_a_static_cache_and_refuses_a_window(models):
    llama, _, _ = models("llama")
    prompt = PROMPTS[1:]
    expected = llama.generate(prompt, max_new_tokens=10)
    assert torch.equal(llama.generate(prompt, max_new_tokens=10, assistant_model=llama, cache_implementation="static"),
                       expected)
    mistral, _, _ = models("mistral")
    for kind in ("static", "sliding_window"):
        with pytest.raises(ValueError, match="cache_implementation='dynamic'"):
            mistral.generate(prompt, max_new_tokens=10, assistant_model=mistral, cache_implementation=kind)


def test_a_cache_object_passed_to_generate(models):
    ours, _, _ = models("qwen2")
    expected = ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=6)
    cache = StaticCache(ours.config, max_cache_len=16)
    assert torch.equal(ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=6, past_key_values=cache), expected)
    assert cache.get_seq_length() == 11  # the last token is never fed back
    with pytest.raises(ValueError, match="max_cache_len >= 26"):
        ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=20, past_key_values=StaticCache(ours.config, max_cache_len=16))
    with pytest.raises(ValueError, match="not both"):
        ours.generate(PROMPTS, max_new_tokens=2, past_key_values=DynamicCache(), cache_implementation="static")
    with pytest.raises(ValueError, match="one of"):
        ours.generate(PROMPTS, max_new_tokens=2, cache_implementation="paged")


def test_gpt2_refuses_static_caches():
    model = workbench.AutoModelForCausalLM.from_config(workbench.AutoConfig.for_model("gpt2", **TINY_GPT2))
    with pytest.raises(ValueError, match="dynamic cache only"):
        model.generate(PROMPTS[1:], max_new_tokens=2, cache_implementation="static")


# ---------------------------------------------------------------------------------------------
# fused projections


def test_fused_projections_save_train_and_convert(models, tmp_path):
    """Inference fuses q/k/v and gate/up into views of one weight: saving still writes the
    checkpoint's tensors, gradients still reach each module, and a dtype change re-fuses."""
    _, reference, folder = models("llama")
    model = workbench.AutoModelForCausalLM.from_pretrained(folder)
    ids = PROMPTS[1:]
    with torch.no_grad():
        before = model(ids).logits  # fuses
    attention = model.model.layers[0].self_attn
    assert attention.__dict__["_qkv"].weight.data_ptr() == attention.q_proj.weight.data_ptr()
    model.save_pretrained(tmp_path)
    reloaded = load_reference_model("LlamaForCausalLM", str(tmp_path))
    with torch.no_grad():
        assert_close_scaled(reloaded(ids).logits, before)
    model.train()
    model(ids).logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    fresh = workbench.AutoModelForCausalLM.from_pretrained(folder)
    with torch.inference_mode():
        fresh(ids)  # fuses under inference mode: the parameters must stay usable for training
    fresh(ids).logits.sum().backward()
    assert fresh.model.layers[0].self_attn.q_proj.weight.grad is not None
    model.eval().to(torch.bfloat16)
    with torch.no_grad():
        assert_close_scaled(model(ids).logits.float(), before, tol=0.1, what="bfloat16 logits")
    assert attention.__dict__["_qkv"].weight.dtype == torch.bfloat16


# ---------------------------------------------------------------------------------------------
# compiled decode


@pytest.mark.slow
def test_compiled_decode_gives_the_same_tokens(models):
    """``torch.compile`` of the one-token step with a static cache: one graph, the same tokens."""
    ours, _, _ = models("qwen2")
    expected = ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=8)
    compiled = dict(cache_implementation="static", compile_config=CompileConfig(fullgraph=True))
    assert torch.equal(ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=8, **compiled), expected)
    assert torch.equal(ours.generate(PROMPTS, attention_mask=MASK, max_new_tokens=8, **compiled), expected)
