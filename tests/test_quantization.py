"""Weight-only quantized Linear layers (workbench.quantization) and the reference's
``BitsAndBytesConfig`` / ``load_in_8bit`` / ``load_in_4bit`` API on the CPU.

Bounds, measured (Sapphire Rapids, torch 2.14.1): a layer's kernel output vs float64 with its own
dequantized weight 3e-3 (int8) / 4e-3 (int4) of max|y| (bf16 activations); tiny llama logits vs
float32 2.1e-2 (int8) / 0.39 (int4) of max|logit| (random weights: 4-bit of a uniform-ish tiny
model is coarse); SmolLM2-135M: int8 3.0e-2 max / 1.6e-2 rms, int4 0.28 max / 0.14 rms, next-token
agreement with float32 over its own 48-token greedy continuation 0.90 (int8) / 0.75 (int4).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import workbench

from model_registry import TINY_DECODER
from reference import build_reference_model, save_reference_model
from workbench import AutoModelForCausalLM
from workbench.training import Trainer, TrainingArguments
from workbench.quantization import BitsAndBytesConfig, Int4Linear, Int8Linear, check_trainable, quantize_model

pytestmark = pytest.mark.usefixtures("one_thread")

# intermediate 64: every Linear fits the int4 kernel (N % 16, K % 32); hidden 32 -> groups of 32,
# intermediate 64: every Linear fits the int4 kernel (groups of 32)
TINY = dict(TINY_DECODER, intermediate_size=64)
IDS = torch.randint(1, TINY["vocab_size"], (2, 10), generator=torch.Generator().manual_seed(0))


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).abs().max() / b.double().abs().max()).item()


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("tiny_llama")
    return save_reference_model(build_reference_model("llama", "LlamaForCausalLM", TINY), str(folder))


@pytest.fixture(scope="module")
def tiny(tiny_folder):
    """float32, int8 and int4 models of the same checkpoint, and their logits on IDS."""
    models = {"fp": AutoModelForCausalLM.from_pretrained(tiny_folder),
              "int8": AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_8bit=True),
              "int4": AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_4bit=True)}
    with torch.no_grad():
        logits = {name: model(IDS).logits for name, model in models.items()}
    return models, logits


@pytest.mark.parametrize("cls", [Int8Linear, Int4Linear])
def test_layer_output_is_the_product_with_its_dequantized_weight(cls):
    torch.manual_seed(0)
    linear = nn.Linear(128, 48)
    layer = cls(linear)
    x = torch.randn(3, 5, 128)
    y = layer(x)
    assert y.dtype == torch.float32 and y.shape == (3, 5, 48)
    w = layer.dequantized_weight(torch.float64)
    expected = x.double() @ w.T + linear.bias.double()
    assert relative(y, expected) < 1e-2  # bf16 activations and output: measured 3e-3 / 4e-3
    # the dequantized weight is the float weight up to the format's step: int8 1/254 of the row's
    # range (plus bf16 scale rounding), int4 1/30 of the group's
    step = 1 / 250 if cls is Int8Linear else 1 / 28
    assert relative(w, linear.weight) < step * 2
    assert not list(layer.parameters(recurse=False)) or all(not p.requires_grad for p in layer.parameters())
    assert torch.equal(layer.to(torch.float64)(x), y)  # model.to(dtype) casts the bf16 scales: same result
    back = layer.dequantize()
    assert type(back) is nn.Linear and torch.equal(back.weight, w.float()) and torch.equal(back.bias, linear.bias)


@pytest.mark.parametrize("in_features", [8, 37, 40])
def test_int8_widths_the_kernel_cannot_take(in_features):
    """_weight_int8pack_mm needs K % 16 == 0 (other K: wrong sums or a crash); those multiply by W_dq."""
    torch.manual_seed(0)
    linear = nn.Linear(in_features, 32)
    layer = Int8Linear(linear)
    x = torch.randn(3, in_features)
    expected = x.double() @ layer.dequantized_weight(torch.float64).T + linear.bias.double()
    assert relative(layer(x), expected) < 1e-2


def test_from_quantized_rebuilds_the_same_layer():
    """What a save or a GGUF file holds (q, scales, zeros) builds the very layer: same packed bytes."""
    torch.manual_seed(0)
    linear = nn.Linear(128, 48)
    four = Int4Linear(linear)
    q, scales, zeros = four.unpacked()
    assert q.dtype == torch.uint8 and int(q.max()) <= 15 and scales.shape == (48, 4)
    again = Int4Linear.from_quantized(q, scales, zeros, linear.bias)
    assert torch.equal(again.weight, four.weight) and torch.equal(again.scales_and_zeros, four.scales_and_zeros)
    eight = Int8Linear(linear)
    copy8 = Int8Linear.from_quantized(eight.weight, eight.scales, linear.bias)
    assert torch.equal(copy8.weight, eight.weight) and torch.equal(copy8.scales, eight.scales)
    with pytest.raises(ValueError, match="out_features % 16"):
        Int4Linear.from_quantized(q[:40], scales[:40], zeros[:40])


def test_gradient_reaches_the_input_through_the_dequantized_weight():
    """Adapters below a quantized layer train: the kernel's backward is grad @ W_dq."""
    torch.manual_seed(0)
    layer = Int4Linear(nn.Linear(64, 32, bias=False))
    x = torch.randn(4, 64, requires_grad=True)
    grad = torch.randn(4, 32)
    layer(x).backward(grad)
    assert torch.allclose(x.grad, grad @ layer.dequantized_weight(), atol=1e-5)


def test_tiny_llama_quantized(tiny):
    models, logits = tiny
    assert relative(logits["int8"], logits["fp"]) < 0.05  # measured 2.1e-2
    assert relative(logits["int4"], logits["fp"]) < 0.6  # measured 0.39 (random tiny weights)
    for name, cls in (("int8", Int8Linear), ("int4", Int4Linear)):
        model = models[name]
        assert model.is_quantized and not models["fp"].is_quantized
        assert type(model.lm_head) is not cls  # the output layer stays float
        quantized = [m for m in model.modules() if isinstance(m, cls)]
        assert len(quantized) == 7 * TINY["num_hidden_layers"]
        assert not any(p.dtype in (torch.int8, torch.uint8) for p in model.parameters())
    assert models["int8"].quantization_config.load_in_8bit
    assert models["int4"].config.quantization_config["load_in_4bit"]


def test_dequantize_gives_float_layers_with_the_same_logits(tiny_folder, tiny):
    _, logits = tiny
    model = AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_4bit=True).dequantize()
    assert not model.is_quantized and model.quantization_config is None
    assert not any(isinstance(m, (Int8Linear, Int4Linear)) for m in model.modules())
    assert type(model.model.layers[0].mlp.down_proj) is nn.Linear
    with torch.no_grad():
        assert relative(model(IDS).logits, logits["int4"]) < 2e-2  # the kernels' bf16 activations only


def test_shortcut_equals_config_and_skip_modules(tiny_folder, tiny):
    _, logits = tiny
    model = AutoModelForCausalLM.from_pretrained(tiny_folder, quantization_config=BitsAndBytesConfig(load_in_8bit=True))
    with torch.no_grad():
        assert torch.equal(model(IDS).logits, logits["int8"])
    skipping = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", llm_int8_skip_modules=["mlp"])
    model = AutoModelForCausalLM.from_pretrained(tiny_folder, quantization_config=skipping)
    layer = model.model.layers[0]
    assert isinstance(layer.self_attn.q_proj, Int4Linear) and type(layer.mlp.up_proj) is not Int4Linear


def test_empty_skip_list_quantizes_the_output_layer_as_the_reference_does(tmp_path):
    """llm_int8_skip_modules=None keeps the output layer float; a list (even empty) replaces that default
    in the reference (its Linear8bitLt lm_head), and here too; a tied output layer gets its own quantized
    copy, which tie_weights and a save and reload leave alone."""
    bnb = pytest.importorskip("bitsandbytes")
    transformers = pytest.importorskip("transformers")
    folder = save_reference_model(build_reference_model("llama", "LlamaForCausalLM", dict(TINY, tie_word_embeddings=True,
                                                                                          vocab_size=96)), str(tmp_path / "tied"))
    reference = transformers.AutoModelForCausalLM.from_pretrained(
        folder, quantization_config=transformers.BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=[]))
    assert isinstance(reference.lm_head, bnb.nn.Linear8bitLt)
    config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=[])
    model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=config)
    default = AutoModelForCausalLM.from_pretrained(folder, load_in_8bit=True)
    assert isinstance(model.lm_head, Int8Linear) and isinstance(default.lm_head, nn.Linear)
    assert type(model.model.embed_tokens) is nn.Embedding  # the input embedding stays a float lookup
    model.tie_weights()
    assert isinstance(model.lm_head, Int8Linear)
    with torch.no_grad():
        logits = model(IDS).logits
        assert relative(logits, default(IDS).logits) < 0.05
    model.save_pretrained(tmp_path / "saved")
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "saved")
    assert isinstance(again.lm_head, Int8Linear) and torch.equal(again.lm_head.weight, model.lm_head.weight)
    with torch.no_grad():
        assert torch.equal(again(IDS).logits, logits)


def test_config_round_trips_in_the_reference_layout():
    transformers = pytest.importorskip("transformers")
    options = dict(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
                   bnb_4bit_use_double_quant=True, llm_int8_skip_modules=["lm_head"])
    ours = workbench.BitsAndBytesConfig(**options)  # the public name
    assert ours.to_dict() == transformers.BitsAndBytesConfig(**options).to_dict()
    assert BitsAndBytesConfig.from_dict(ours.to_dict()) == ours
    assert ours.quantization_method() == "nf4" and BitsAndBytesConfig(load_in_8bit=True).quantization_method() == "llm_int8"


def test_errors(tiny_folder, tiny, tmp_path):
    models, _ = tiny
    with pytest.raises(ValueError, match="both True"):
        BitsAndBytesConfig(load_in_8bit=True, load_in_4bit=True)
    with pytest.raises(ValueError, match="both True"):
        AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_8bit=True, load_in_4bit=True)
    with pytest.raises(ValueError, match="not both"):
        AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_8bit=True,
                                             quantization_config=BitsAndBytesConfig(load_in_8bit=True))
    with pytest.raises(ValueError, match="CPU only"):
        AutoModelForCausalLM.from_pretrained(tiny_folder, load_in_8bit=True, device_map="cuda")
    with pytest.raises(ValueError, match="nf4"):
        BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="int4")
    with pytest.raises(ValueError, match="add an adapter"):
        Trainer(model=models["int4"], args=TrainingArguments(output_dir=str(tmp_path / "run")))
    check_trainable(models["fp"])
    with pytest.raises(ValueError, match="Int4Linear needs"):
        Int4Linear(nn.Linear(37, 32))


def test_smollm2_int8_and_int4(smollm2_gguf_path):
    """A real checkpoint: logits and teacher-forced next tokens close to float32 (bounds above)."""
    fp = AutoModelForCausalLM.from_pretrained(smollm2_gguf_path)
    ids = torch.tensor([[1, 504, 3458, 282, 4649, 314, 216, 28, 29, 30, 31, 32, 33, 34, 35, 36]])
    with torch.no_grad():
        sequence = fp.generate(ids, max_new_tokens=48, do_sample=False)
        reference = fp(sequence).logits
        rms = reference.pow(2).mean().sqrt()
        for option, max_bound, rms_bound, agreement in (("load_in_8bit", 0.06, 0.03, 0.8), ("load_in_4bit", 0.45, 0.25, 0.6)):
            # a copy quantized as from_pretrained does it (tiny_llama tests the keyword path): one GGUF read
            model = quantize_model(copy.deepcopy(fp), BitsAndBytesConfig(**{option: True}))
            logits = model(sequence).logits
            assert relative(logits, reference) < max_bound, option
            assert (logits - reference).pow(2).mean().sqrt() < rms_bound * rms, option
            same = (logits[0, 15:-1].argmax(-1) == reference[0, 15:-1].argmax(-1)).float().mean()
            assert same >= agreement, (option, same)
