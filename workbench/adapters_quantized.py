"""LoRA on workbench's quantized Linear layers (QLoRA on the CPU), through peft's hook for custom layers.

    model = AutoModelForCausalLM.from_pretrained(folder, load_in_4bit=True)
    model.add_adapter(LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))   # or "all-linear"

peft adapts ``nn.Linear`` (and bitsandbytes' layers, which it knows by class); Int8Linear and
Int4Linear are neither. peft's documented way for other layer types is a LoRA layer class
registered on the config (``LoraConfig._register_custom_module({layer type: LoRA layer})``);
:func:`register_quantized_layers` does that in ``add_adapter`` / ``load_adapter`` when the model
has quantized layers, with :class:`QuantizedLoraLinear` for them. That class is peft's own LoRA
``Linear`` (same ``lora_A`` / ``lora_B`` names, so the adapter file is the one peft writes and
reads on a float base) with the three places that read ``base_layer.weight`` replaced:

- in/out features come from the quantized layer;
- ``merge`` dequantizes the base layer to the float layer it replaced (``nn.Linear``, or GPT-2's
  ``Conv1D``; in the adapter's dtype, float32) and adds the LoRA delta there: the merged layer
  computes what base + adapter computed (up to the kernels' bfloat16 activations). peft's
  bitsandbytes layers quantize the sum again instead, which adds a second rounding error of the
  adapter's own size; to get 4-bit layers back, quantize the merged model again
  (``quantize_model(model, model.quantization_config)``);
- LoRA variants and initialisations that need the float base weight (DoRA, PiSSA, ...) are refused.

The forward is base (the int4/int8 kernel) + ``lora_B(lora_A(x)) * scaling``; the gradient reaches
``x`` through the quantized layer's backward (workbench.quantization), so the adapters of lower
layers train, and the frozen int buffers never change.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from peft.tuners.lora.layer import Linear as LoraLinear
from peft.tuners.tuners_utils import BaseTunerLayer, check_adapters_to_merge
from peft.utils import PeftType
from torch import nn

from .quantization import Int4Linear, Int8Linear

QUANTIZED_LINEARS = (Int8Linear, Int4Linear)


class QuantizedLoraLinear(LoraLinear):
    """peft's LoRA ``Linear`` over an :class:`~workbench.quantization.Int8Linear` or ``Int4Linear``
    (see the module docstring for what differs)."""

    def _get_in_out_features(self, module: nn.Module) -> tuple[int, int]:
        return module.in_features, module.out_features

    def resolve_lora_variant(self, *, config, **kwargs: Any):
        requested = [field.name for field in dataclasses.fields(config)  # peft tags its variants' fields
                     if field.metadata.get("is_lora_variant") and getattr(config, field.name)]
        init = config.init_lora_weights
        if requested or init not in (True, False, "gaussian", "orthogonal"):  # the other inits read the base weight
            raise ValueError(f"LoraConfig({', '.join(requested) or 'init_lora_weights=' + repr(init)})"
                             " on a quantized layer: these need the float base weight. Use plain LoRA on the quantized "
                             "model, or model.dequantize() first and train in float.")
        return None

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        """Fold the adapters into a float copy of the base layer (it stays float, see the module docstring)."""
        if check_adapters_to_merge(self, adapter_names) and isinstance(self.base_layer, QUANTIZED_LINEARS):
            dtype = next(iter(self.lora_A.values())).weight.dtype
            # the float layer it replaced: nn.Linear (N, K), or GPT-2's Conv1D (K, N), whose delta peft
            # transposes (fan_in_fan_out)
            self.fan_in_fan_out = bool(getattr(self.base_layer, "from_conv1d", False))
            self.base_layer = self.base_layer.dequantize(dtype)
        super().merge(safe_merge=safe_merge, adapter_names=adapter_names)


def register_quantized_layers(config, model: nn.Module) -> None:
    """Let peft put ``config``'s adapter on the model's quantized layers (a no-op without any)."""
    if not any(isinstance(module, QUANTIZED_LINEARS) for module in model.modules()):
        return
    if config.peft_type != PeftType.LORA:
        raise ValueError(f"{type(config).__name__} on a quantized model: only LoRA adapts workbench's int8/int4 "
                         "layers. Use LoraConfig, or model.dequantize() first for other adapter methods.")
    config._register_custom_module({layer: QuantizedLoraLinear for layer in QUANTIZED_LINEARS})


def quantized_linear_names(model: nn.Module) -> set[str]:
    """The names of the quantized layers ``target_modules="all-linear"`` adds to peft's nn.Linear
    ones (not those already inside an adapter layer: peft counts that layer itself)."""
    inside = {f"{prefix}.{suffix}" for prefix, module in model.named_modules() if isinstance(module, BaseTunerLayer)
              for suffix, _ in module.named_modules() if suffix}
    return {name for name, module in model.named_modules() if isinstance(module, QUANTIZED_LINEARS)} - inside
