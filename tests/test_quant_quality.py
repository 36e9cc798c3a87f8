"""Quality of the int8 / int4 Linear layers on a real model (issue 17's goals): perplexity on a
held-out English text within 2% (int8) and 10% (4-bit) of float32, and greedy agreement with
float32 reported (and held above a floor measured on this model).

SmolLM2-135M-Instruct from its Q4_1 GGUF file (tests/conftest.py ``smollm2_gguf_path``),
dequantized to float32 on load, is the baseline; ``load_in_8bit=True`` / ``load_in_4bit=True``
quantize that float model's Linear layers. The text and measures: tests/text_quality.py.

Because the float baseline is itself a dequantized Q4_1 file (4-bit, groups of 32), 4-bit groups
of 64 would not fall on its grid and quantize it a second time (+32% perplexity, measured), while
``load_in_4bit``'s groups of 32 (``quantization.int4_group_size``) find it again (+0.06%); Qwen's
mostly 5-bit weights are the harder case (+20.5%, benchmarks/RESULTS_quant_decode.md).
"""

from __future__ import annotations

import copy

import pytest
import torch

from text_quality import agreement, heldout_ids, perplexity, torch_logits

pytestmark = pytest.mark.usefixtures("one_thread")

TOKENS = 512  # of held-out text: windows of 256, stride 128
NEW_TOKENS = 32
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a small village,",
           "The GNU General Public License is"]


def measure(model, tokenizer, ids) -> dict:
    """Perplexity on ``ids`` and the greedy continuations (B, NEW_TOKENS) of PROMPTS."""
    batch = tokenizer(PROMPTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)
    return {"ppl": held_out_perplexity(model, ids), "tokens": out[:, batch["input_ids"].shape[1]:]}


def held_out_perplexity(model, ids) -> float:
    return perplexity(torch_logits(model), ids, window=256, stride=128)


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf_path):
    """(folder, file name, tokenizer, held-out ids, the float32 model, its measures): one float load."""
    pytest.importorskip("gguf")
    import os

    import workbench

    folder, name = os.path.dirname(smollm2_gguf_path), os.path.basename(smollm2_gguf_path)
    tokenizer = workbench.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    tokenizer.padding_side = "left"
    ids = heldout_ids(tokenizer, TOKENS)
    model = workbench.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    return folder, name, tokenizer, ids, model, measure(model, tokenizer, ids)


def compare(label: str, model, smollm2) -> tuple[float, float, float]:
    """(perplexity ratio to float32, agreement over all positions, agreement before the first difference)."""
    *_, tokenizer, ids, _, float_measures = smollm2
    ours = measure(model, tokenizer, ids)
    ratio = ours["ppl"] / float_measures["ppl"]
    same, prefix = agreement(ours["tokens"], float_measures["tokens"])
    print(f"\n{label}: perplexity {ours['ppl']:.3f} vs float32 {float_measures['ppl']:.3f} (x{ratio:.4f}); "
          f"greedy agreement over {NEW_TOKENS} tokens x {len(PROMPTS)} prompts: {same:.0%} of positions, "
          f"{prefix:.0%} before the first difference")
    return ratio, same, prefix


def test_int8_perplexity_within_2_percent_and_greedy_agreement(smollm2):
    import workbench

    folder, name, *_ = smollm2
    model = workbench.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, load_in_8bit=True)
    assert type(model.model.layers[0].mlp.down_proj).__name__ == "Int8Linear"
    ratio, same, _ = compare("load_in_8bit", model, smollm2)
    assert ratio < 1.02, f"int8 perplexity is {ratio:.3f}x float32's (goal: within 2%)"
    # measured 0.71 here (one prompt leaves float32's path at token ~10, then drifts): a floor well
    # under that still fails when int8 goes wrong (random or misplaced weights agree < 5%)
    assert same > 0.4, f"int8 greedy tokens agree with float32 at only {same:.0%} of the positions"


def test_int4_perplexity_within_10_percent_and_greedy_agreement(smollm2):
    from workbench import quantization

    *_, float_model, _ = smollm2
    # what load_in_4bit=True does after loading (modeling._place), on a copy of the shared float load
    model = quantization.quantize_model(copy.deepcopy(float_model), quantization.BitsAndBytesConfig(load_in_4bit=True))
    assert model.model.layers[0].mlp.down_proj.group_size == 32
    ratio, same, _ = compare("4-bit, groups of 32", model, smollm2)
    assert ratio < 1.10, f"4-bit (groups of 32) perplexity is {ratio:.3f}x float32's (goal: within 10%)"
    assert same > 0.4, f"4-bit greedy tokens agree with float32 at only {same:.0%} of the positions"
