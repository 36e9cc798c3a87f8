"""LoRA on a quantized base (QLoRA on the CPU): workbench.adapters_quantized.

peft puts its LoRA layer on Int8Linear / Int4Linear through the class add_adapter registers; the
Trainer trains only the adapter; the adapter file is peft's and loads back onto a 4-bit base
(same logits) and, with peft, onto the reference's float32 base; merge_and_unload gives float layers.

Measured on the tiny llama below (random weights, so 4-bit is coarse) with the adapter the Trainer
trains here: logits of the 4-bit base vs the reference's float32 base 0.19 of max|logit|, with the
adapter on both 0.17; the adapter's own change of the logits (with minus without, 1.9x max|logit|)
differs by 0.20 against the original float32 weights (the quantization error reaches it too) and by
7e-3 when the reference runs on the same (dequantized) weights, the kernels' bfloat16 activations;
merged vs adapted 3.5e-3. SmolLM2's figures: benchmarks/RESULTS_qlora.md.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from model_registry import TINY_DECODER
from reference import build_reference_model, save_reference_model
from training.lora import pattern_rows

peft = pytest.importorskip("peft")

from workbench import AutoModelForCausalLM, Trainer, TrainingArguments  # noqa: E402
from workbench.adapters_quantized import QuantizedLoraLinear  # noqa: E402
from workbench.quantization import Int4Linear, Int8Linear  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(TINY_DECODER, intermediate_size=64)  # every Linear fits the int4 kernel (tests/test_quantization.py)
IDS = torch.randint(1, TINY["vocab_size"], (2, 10), generator=torch.Generator().manual_seed(0))
LORA = dict(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
STEPS = 30


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


def logits(model, adapters: bool = True) -> torch.Tensor:
    if not adapters:
        model.disable_adapters()
    try:
        with torch.no_grad():
            return model(IDS).logits
    finally:
        if not adapters:
            model.enable_adapters()


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tiny_llama")
    return save_reference_model(build_reference_model("llama", "LlamaForCausalLM", TINY), str(folder))


@pytest.fixture(scope="module")
def trained(tiny_folder, tmp_path_factory):
    """A 4-bit tiny llama with LoRA on q/v trained STEPS steps by the Trainer, its state before, and the
    adapter saved with save_pretrained."""
    model = AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_4bit=True)
    torch.manual_seed(0)
    model.add_adapter(peft.LoraConfig(**LORA))
    before = {key: value.clone() for key, value in model.state_dict().items() if "lora_" not in key}
    out = tmp_path_factory.mktemp("qlora")
    args = TrainingArguments(output_dir=str(out / "run"), per_device_train_batch_size=4, learning_rate=5e-2,
                             max_steps=STEPS, logging_steps=1, save_strategy="no", use_cpu=True, report_to="none",
                             seed=5, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=pattern_rows(32))
    trainer.train()
    model.eval()
    model.save_pretrained(str(out / "adapter"))
    return model, trainer, before, str(out / "adapter")


@pytest.mark.parametrize("bits", [4, 8])
def test_all_linear_adapts_every_quantized_layer_and_gradients_reach_it(tiny_folder, bits):
    model = AutoModelForCausalLM.from_pretrained(tiny_folder, **{f"load_in_{bits}bit": True})
    quantized = {name for name, module in model.named_modules() if isinstance(module, (Int4Linear, Int8Linear))}
    model.add_adapter(peft.LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    adapted = {name for name, module in model.named_modules() if isinstance(module, QuantizedLoraLinear)}
    assert adapted == quantized and len(adapted) == 7 * TINY["num_hidden_layers"]
    assert isinstance(model.lm_head, nn.Linear) and "lm_head" not in adapted  # the output layer: float, no adapter
    model(IDS, labels=IDS).loss.backward()
    grads = {name: p.grad for name, p in model.named_parameters() if p.requires_grad}
    assert grads and all("lora_" in name and g is not None and g.abs().sum() > 0 for name, g in grads.items())


def test_trainer_trains_only_the_adapter_and_leaves_the_4bit_base_bitwise(trained):
    model, trainer, before, _ = trained
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == STEPS and sum(losses[-3:]) < 0.9 * sum(losses[:3]), losses
    in_optimizer = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    lora = {id(p) for name, p in model.named_parameters() if "lora_" in name}
    assert in_optimizer == lora and len(lora) == 4 * TINY["num_hidden_layers"]
    after = model.state_dict()
    assert all(torch.equal(after[key], value) for key, value in before.items())
    assert any(key.endswith("q_proj.base_layer.weight") and value.dtype == torch.uint8 for key, value in before.items())


def test_adapter_saves_in_peft_format_and_reloads_on_a_4bit_base(trained, tiny_folder):
    model, _, _, folder = trained
    weights = load_file(f"{folder}/adapter_model.safetensors")
    assert len(weights) == 4 * TINY["num_hidden_layers"]
    assert all(key.startswith("base_model.model.model.layers.") and ".lora_" in key and "default" not in key
               for key in weights)
    config = json.load(open(f"{folder}/adapter_config.json"))
    assert config["peft_type"] == "LORA" and sorted(config["target_modules"]) == ["q_proj", "v_proj"]
    assert not any("custom" in key for key in config)
    assert config["base_model_name_or_path"] == tiny_folder
    reloaded = AutoModelForCausalLM.from_pretrained(folder, load_in_4bit=True)  # the base it names, then the adapter
    assert isinstance(reloaded.model.layers[0].self_attn.q_proj.base_layer, Int4Linear)
    assert torch.equal(logits(reloaded), logits(model))


def test_reference_peft_loads_the_adapter_on_its_float_base(trained, tiny_folder, tmp_path):
    transformers = pytest.importorskip("transformers")
    model, _, _, folder = trained
    ours, ours_base = logits(model), logits(model, adapters=False)

    def reference(base_folder):
        base = transformers.AutoModelForCausalLM.from_pretrained(base_folder)
        with torch.no_grad():
            without = base(IDS).logits
            return peft.PeftModel.from_pretrained(base, folder)(IDS).logits, without

    # the original float32 checkpoint: off by the quantization error, with or without the adapter
    theirs, theirs_base = reference(tiny_folder)
    error = relative(ours_base, theirs_base)
    assert 0 < error < 0.4 and relative(ours, theirs) < 1.5 * error  # 0.19, 0.17
    # the same weights (the 4-bit base dequantized): the adapter changes the logits the same way
    dequantized = AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_4bit=True).dequantize()
    dequantized.save_pretrained(str(tmp_path / "dequantized"))
    theirs, theirs_base = reference(str(tmp_path / "dequantized"))
    assert relative(ours_base, theirs_base) < 1e-2  # bfloat16 activations in the kernels
    assert relative(ours - ours_base, theirs - theirs_base) < 2e-2  # 7e-3


def test_merge_and_unload_gives_float_layers_with_the_adapter_folded_in(trained, tiny_folder):
    model, _, _, folder = trained
    merged = AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_4bit=True)
    merged.load_adapter(folder)
    lora = merged.model.layers[0].self_attn.q_proj
    expected = lora.base_layer.dequantized_weight() + lora.get_delta_weight("default")
    merged.merge_and_unload()
    q_proj, k_proj = merged.model.layers[0].self_attn.q_proj, merged.model.layers[0].self_attn.k_proj
    assert type(q_proj) is nn.Linear and type(k_proj) is Int4Linear  # adapted layers float, the rest 4-bit
    assert torch.equal(q_proj.weight, expected)
    assert not any("lora_" in key for key in merged.state_dict())
    assert relative(logits(merged), logits(model)) < 1e-2  # 3.5e-3: float32 vs bfloat16 activations in q/v


def test_gpt2_conv1d_layers_quantized_take_lora_and_merge_back_to_conv1d(tmp_path):
    from model_registry import TINY_GPT2

    from workbench.nn.conv1d import Conv1D

    folder = save_reference_model(build_reference_model("gpt2", "GPT2LMHeadModel", TINY_GPT2), str(tmp_path))
    model = AutoModelForCausalLM.from_pretrained(folder, load_in_8bit=True)
    torch.manual_seed(0)
    model.add_adapter(peft.LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    assert isinstance(model.transformer.h[0].attn.c_attn.base_layer, Int8Linear)
    adapted = logits(model)
    model.merge_and_unload()
    c_attn = model.transformer.h[0].attn.c_attn
    assert type(c_attn) is Conv1D and c_attn.weight.shape == (TINY_GPT2["n_embd"], 3 * TINY_GPT2["n_embd"])
    assert relative(logits(model), adapted) < 2e-2  # 4e-3: float32 vs bfloat16 activations


def test_backward_weight_cache_is_the_kernels_weight():
    torch.manual_seed(0)
    layer = Int4Linear(nn.Linear(128, 48))
    exact = layer.dequantized_weight()
    assert getattr(layer, "q_nibbles", None) is None
    x = torch.randn(5, 128, requires_grad=True)
    grad = torch.randn(5, 48)
    layer(x).backward(grad)  # the backward keeps q as nibbles (48, 64) uint8
    assert layer.q_nibbles.shape == (48, 64) and torch.equal(layer.dequantized_weight(), exact)
    assert torch.allclose(x.grad, grad @ exact)
    with torch.no_grad():  # a new weight in the same buffer: the cache is not used
        layer.weight.copy_(Int4Linear(nn.Linear(128, 48)).weight)
    assert not torch.equal(layer.dequantized_weight(), exact)


def test_what_needs_the_float_weight_is_refused_with_the_fix(tiny_folder):
    model = AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_4bit=True)
    with pytest.raises(ValueError, match=r"use_dora.*dequantize\(\)"):
        model.add_adapter(peft.LoraConfig(r=4, target_modules=["q_proj"], use_dora=True))
    with pytest.raises(ValueError, match=r"init_lora_weights='pissa'.*dequantize\(\)"):
        model.add_adapter(peft.LoraConfig(r=4, target_modules=["q_proj"], init_lora_weights="pissa"))
    with pytest.raises(ValueError, match=r"IA3Config on a quantized model.*dequantize\(\)"):
        model.add_adapter(peft.IA3Config(target_modules=["q_proj"], feedforward_modules=[]))


REVIEWS = [("A warm, funny film with a cast that clearly loves it.", "positive"),
           ("Two hours of noise and a plot that goes nowhere.", "negative"),
           ("The best thriller I have seen in years.", "positive"),
           ("Dull, slow, and the jokes all fall flat.", "negative"),
           ("A beautiful story, told with great care.", "positive"),
           ("I wanted my money back after ten minutes.", "negative"),
           ("Smart writing and a wonderful lead performance.", "positive"),
           ("A mess of a movie with no heart at all.", "negative")]


def test_smollm2_4bit_lora_trains_on_review_prompts(smollm2_gguf_path, tmp_path):
    """SmolLM2-135M-Instruct, its GGUF loaded to float32 then quantized to 4-bit on load; LoRA r=8
    on q/v, 10 Trainer steps on 8 "Review: ... Sentiment: word" prompts: the loss falls (5.26 ->
    3.13, benchmarks/RESULTS_qlora.md; 40-50 s on a loaded 2-core machine)."""
    from pathlib import Path

    from workbench import AutoTokenizer
    from workbench.training import DataCollatorForSeq2Seq

    gguf = Path(smollm2_gguf_path)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, load_in_4bit=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert sum(isinstance(m, Int4Linear) for m in model.modules()) == 7 * model.config.num_hidden_layers
    rows = []
    for review, word in REVIEWS:
        ids = tokenizer(f"Review: {review}\nSentiment: {word}")["input_ids"]
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": ids})
    torch.manual_seed(0)
    model.add_adapter(peft.LoraConfig(**LORA))
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=4, learning_rate=2e-3,
                             max_steps=10, logging_steps=1, save_strategy="no", use_cpu=True, report_to="none",
                             seed=0, disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorForSeq2Seq(tokenizer))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert sum(losses[-2:]) < 0.8 * sum(losses[:2]), losses
    model.save_pretrained(str(tmp_path / "adapter"))
    assert len(load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))) == 4 * model.config.num_hidden_layers
