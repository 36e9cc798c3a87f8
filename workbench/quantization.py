"""Weight-only quantized Linear layers on the CPU, behind the reference's ``BitsAndBytesConfig`` API.

    model = AutoModelForCausalLM.from_pretrained(folder, load_in_8bit=True)
    model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=BitsAndBytesConfig(load_in_4bit=True))
    model.dequantize()   # back to float nn.Linear layers

Kernels (chosen by measurement: benchmarks/RESULTS_quant_kernels.md), both on bfloat16 activations,
as with float32 ones they fall to a scalar path 10-30x slower; the input is cast to bfloat16 and
the output back to the input's dtype:

- 8-bit: ``aten._weight_int8pack_mm``; int8 weight (N, K) with one symmetric scale per output row,
  ``w = q * scale[n]`` (bitsandbytes' LLM.int8 layout: ``scale = SCB / 127``).
  The kernel needs K % 16 == 0 (else it sums wrongly or crashes); other K multiply by the
  dequantized weight (tiny test models only: real models' widths are multiples of 16).
- 4-bit: ``aten._weight_int4pack_mm_for_cpu``; affine int4 groups along K,
  ``w = (q - 8) * scale[n, g] + zero[n, g]``, q in 0..15, groups of 32 along K. Not bitsandbytes'
  64: perplexity vs float32 on 1,024 held-out tokens (tests/text_quality.py; Intel Xeon SPR),
  SmolLM2 +32% with groups of 64, +0.02% with 32; Qwen2.5-Coder-0.5B +32% vs +20.5%; for half a bit
  a weight more and no measurable speed. (SmolLM2's float32 here is itself dequantized from Q4_1
  blocks of 32, which groups of 32 find again; Qwen's weights are mostly 5-bit Q5_0, which 4 bits
  cannot hold: ``keep_quantized=True`` on its GGUF file keeps them, +0.09%.)

**4-bit is affine int4, not nf4/fp4.** nf4's 16 levels are not evenly spaced, so no exact repack
onto a fast CPU kernel exists; affine int4 in groups of 32 has less error than nf4 on normal weights
(0.078 vs 0.092 of the weight rms, measured; groups of 64: 0.090). ``bnb_4bit_quant_type`` ("nf4" or "fp4") is accepted
and recorded in the config, but the weights are quantized as affine int4 groups either way;
``bnb_4bit_compute_dtype`` and ``bnb_4bit_use_double_quant`` are recorded, not used (compute is
bfloat16; the bf16 scales already cost 0.5 bit a weight). ``llm_int8_threshold`` (bitsandbytes'
float16 outlier path) is recorded; outliers are not split out here.

The quantized tensors are buffers, not parameters: an optimizer never sees them. Train an adapter
(LoRA) on top; ``dequantize()`` gives float layers back. A Linear whose shape the kernels cannot
take (int4 needs N % 16 == 0 and K % 32 == 0) stays float and is listed in
``model.quantization_skipped``.
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

import torch
from torch import nn

from .nn.conv1d import Conv1D

logger = logging.getLogger("workbench")

_ACT = torch.bfloat16  # the kernels' fast activation dtype


class BitsAndBytesConfig:
    """The reference's quantization options (same names and defaults; see the module docstring for
    what each one does on the CPU). Exactly one of ``load_in_8bit`` / ``load_in_4bit``."""

    quant_method = "bitsandbytes"

    def __init__(self, load_in_8bit: bool = False, load_in_4bit: bool = False, llm_int8_threshold: float = 6.0,
                 llm_int8_skip_modules: list[str] | None = None, llm_int8_enable_fp32_cpu_offload: bool = False,
                 llm_int8_has_fp16_weight: bool = False, bnb_4bit_compute_dtype: Any = None,
                 bnb_4bit_quant_type: str = "fp4", bnb_4bit_use_double_quant: bool = False,
                 bnb_4bit_quant_storage: Any = None, **kwargs: Any) -> None:
        if load_in_8bit and load_in_4bit:
            raise ValueError("load_in_8bit and load_in_4bit are both True: pick one (8-bit is closer to float, "
                             "4-bit smaller and faster).")
        if bnb_4bit_quant_type not in ("nf4", "fp4"):
            raise ValueError(f"bnb_4bit_quant_type={bnb_4bit_quant_type!r}: use 'nf4' or 'fp4' (both run as affine "
                             "int4 groups on the CPU).")
        if llm_int8_skip_modules is not None and not isinstance(llm_int8_skip_modules, list):
            raise TypeError("llm_int8_skip_modules must be a list of module names, e.g. ['lm_head'].")
        self.load_in_8bit, self.load_in_4bit = bool(load_in_8bit), bool(load_in_4bit)
        self.llm_int8_threshold = float(llm_int8_threshold)
        self.llm_int8_skip_modules = llm_int8_skip_modules
        self.llm_int8_enable_fp32_cpu_offload = llm_int8_enable_fp32_cpu_offload
        self.llm_int8_has_fp16_weight = llm_int8_has_fp16_weight
        self.bnb_4bit_compute_dtype = _dtype(bnb_4bit_compute_dtype, torch.float32)
        self.bnb_4bit_quant_type = bnb_4bit_quant_type
        self.bnb_4bit_use_double_quant = bool(bnb_4bit_use_double_quant)
        self.bnb_4bit_quant_storage = _dtype(bnb_4bit_quant_storage, torch.uint8)
        for key in ("_load_in_8bit", "_load_in_4bit"):  # the reference's to_dict writes these too
            kwargs.pop(key, None)
        kwargs.pop("quant_method", None)
        if kwargs:
            logger.info("BitsAndBytesConfig: unused options %s", sorted(kwargs))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the reference's layout (dtypes as names)."""
        out = {k: copy.deepcopy(v) for k, v in vars(self).items()}
        out["bnb_4bit_compute_dtype"] = str(self.bnb_4bit_compute_dtype).removeprefix("torch.")
        out["bnb_4bit_quant_storage"] = str(self.bnb_4bit_quant_storage).removeprefix("torch.")
        out["_load_in_8bit"], out["_load_in_4bit"] = self.load_in_8bit, self.load_in_4bit
        out["quant_method"] = self.quant_method
        return out

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> "BitsAndBytesConfig":
        merged = dict(config_dict, **kwargs)
        merged.setdefault("load_in_8bit", merged.get("_load_in_8bit", False))
        merged.setdefault("load_in_4bit", merged.get("_load_in_4bit", False))
        return cls(**merged)

    def quantization_method(self) -> str | None:
        if self.load_in_8bit:
            return "llm_int8"
        return self.bnb_4bit_quant_type if self.load_in_4bit else None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BitsAndBytesConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"BitsAndBytesConfig({self.to_dict()})"


def _dtype(value: Any, default: torch.dtype) -> torch.dtype:
    if value is None:
        return default
    if isinstance(value, str):
        value = getattr(torch, value.removeprefix("torch."), None)
    if not isinstance(value, torch.dtype):
        raise TypeError(f"expected a torch dtype or its name ('bfloat16', ...), got {value!r}")
    return value


# ---------------------------------------------------------------------------------------------
# modules


class _QuantizedMatmul(torch.autograd.Function):
    """``x @ W.T`` through the module's kernel; the gradient reaches ``x`` (so adapters below this
    layer train) through the dequantized weight. The quantized weight itself gets none."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, module: "_QuantizedLinear") -> torch.Tensor:
        ctx.module = module
        return module._kernel(x.to(_ACT)).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad @ ctx.module.dequantized_weight(grad.dtype, cache=True), None


class _QuantizedLinear(nn.Module):
    """What Int8Linear and Int4Linear share: the bias (float, frozen), forward, dequantize."""

    in_features: int
    out_features: int
    # set when the layer replaced a Conv1D (GPT-2's (in, out) weights): dequantize() gives a Conv1D back,
    # so a dequantized model saves the layout its checkpoints have
    from_conv1d: bool = False

    def _init_shape(self, out_features: int, in_features: int, bias: torch.Tensor | None) -> None:
        self.in_features, self.out_features = in_features, out_features
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    def _kernel(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def dequantized_weight(self, dtype: torch.dtype = torch.float32, cache: bool = False) -> torch.Tensor:
        """The (N, K) weight the kernel multiplies by. ``cache=True`` (the backward's call) may keep
        what makes later calls fast (Int4Linear: see its ``dequantized_weight``)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1])
        if x.requires_grad and torch.is_grad_enabled():
            y = _QuantizedMatmul.apply(rows, self)
        else:  # inference: the kernel alone (the autograd function's set-up cost 13% of a packed decode step)
            y = self._kernel(rows.to(_ACT)).to(x.dtype)
        y = y.reshape(*shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias.to(y.dtype)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> nn.Module:
        """A float nn.Linear (or the Conv1D it replaced) with this layer's dequantized weight and its bias."""
        weight = self.dequantized_weight(dtype)
        if self.from_conv1d:
            layer = Conv1D(self.out_features, self.in_features).to(dtype)
            with torch.no_grad():
                layer.weight.copy_(weight.T)
                layer.bias.copy_(self.bias if self.bias is not None else torch.zeros(self.out_features))
            return layer
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(weight)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Int8Linear(_QuantizedLinear):
    """nn.Linear with an int8 weight (N, K) and one symmetric bfloat16 scale per output row."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        w = linear.weight.detach().float()
        scale = (w.abs().amax(1) / 127).clamp(min=1e-12).to(_ACT)  # bf16 first: q is rounded against it
        q = torch.round(w / scale.float()[:, None]).clamp(-127, 127).to(torch.int8)
        self._set(q, scale, linear.bias)

    @classmethod
    def from_quantized(cls, q: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None = None) -> "Int8Linear":
        """The layer whose weight is ``q[n, k] * scales[n]`` (q int8 (N, K), scales (N,))."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        # a copy: q may view a mapped checkpoint file, which the kernel's vector loads can read past the end of
        layer._set(q.to(torch.int8, copy=True), scales, bias)
        return layer

    def _set(self, q: torch.Tensor, scales: torch.Tensor, bias: torch.Tensor | None) -> None:
        self._init_shape(q.shape[0], q.shape[1], bias)
        self.register_buffer("weight", q.contiguous())
        self.register_buffer("scales", scales.to(_ACT).contiguous())

    def _kernel(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_features % 16:  # the kernel reads K in blocks of 16: other K give wrong sums or crash (torch 2.14)
            return x @ self.dequantized_weight(x.dtype).T
        return torch.ops.aten._weight_int8pack_mm(x.contiguous(), self.weight, self.scales.to(_ACT))

    def dequantized_weight(self, dtype: torch.dtype = torch.float32, cache: bool = False) -> torch.Tensor:
        return (self.weight.float() * self.scales.float()[:, None]).to(dtype)


def int4_group_size(linear: nn.Linear) -> int | None:
    """32 (see the module docstring for why not 64); None when the int4 kernel cannot take the shape."""
    if linear.out_features % 16:
        return None
    return 32 if linear.in_features % 32 == 0 else None


INT4_TILE = 64  # the int4 kernel's packed layout keeps rows in tiles of 64 (the last one smaller)


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """q (N, K) in 0..15 -> the int4 kernel's packed (N, K/2) uint8 layout."""
    return torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32).contiguous(), 1)


@functools.lru_cache(maxsize=32)
def _nibble_order(rows: int, k: int) -> torch.Tensor:
    """For a packed tile of ``rows`` (<= 64) x ``k``: the flat index into q of each nibble of the
    packed bytes (low nibble first), read off by packing the hex digits of the indices."""
    index = torch.arange(rows * k)
    order = torch.zeros(rows * k, dtype=torch.long)
    for shift in range(0, max(1, (rows * k - 1).bit_length()), 4):
        packed = pack_int4(((index >> shift) & 15).reshape(rows, k))
        order |= torch.stack([packed & 15, packed >> 4], -1).reshape(-1).long() << shift
    return order


def unpack_int4(packed: torch.Tensor, k: int) -> torch.Tensor:
    """q (N, K) uint8 in 0..15 from the kernel's packed (N, K/2) layout (exact, no kernel call)."""
    n = packed.shape[0]
    q = torch.empty(n, k, dtype=torch.uint8)
    full = n - n % INT4_TILE
    for start, stop, rows in ((0, full, INT4_TILE), (full, n, n - full)):
        if stop > start:
            nibbles = packed[start:stop].reshape(-1, rows * k // 2)
            nibbles = torch.stack([nibbles & 15, nibbles >> 4], -1).reshape(-1, rows * k)
            tiles = torch.empty_like(nibbles)
            tiles[:, _nibble_order(rows, k)] = nibbles
            q[start:stop] = tiles.reshape(stop - start, k)
    return q


class Int4Linear(_QuantizedLinear):
    """nn.Linear with affine int4 weight groups: ``w = (q - 8) * scale + zero`` per (row, group)."""

    def __init__(self, linear: nn.Linear, group_size: int | None = None) -> None:
        super().__init__()
        group_size = group_size or int4_group_size(linear)
        n, k = linear.out_features, linear.in_features
        _check_int4_shape(n, k, group_size)
        groups = linear.weight.detach().float().reshape(n, k // group_size, group_size)
        low, high = groups.amin(-1), groups.amax(-1)
        scale = ((high - low) / 15).clamp(min=1e-12).to(_ACT).float()
        zero = (low + 8 * scale).to(_ACT).float()  # the kernel's zero: the weight at q = 8
        q = torch.round((groups - (zero - 8 * scale)[..., None]) / scale[..., None]).clamp(0, 15)
        self._set(q.reshape(n, k), scale, zero, linear.bias)

    @classmethod
    def from_quantized(cls, q: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor,
                       bias: torch.Tensor | None = None) -> "Int4Linear":
        """The layer whose weight is ``(q[n, k] - 8) * scales[n, g] + zeros[n, g]`` with g = k // group
        (q in 0..15, (N, K), any integer dtype; scales and zeros (N, K / group), rounded to bfloat16)."""
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        _check_int4_shape(q.shape[0], q.shape[1], q.shape[1] // scales.shape[1])
        layer._set(q, scales, zeros, bias)
        return layer

    def _set(self, q: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor, bias: torch.Tensor | None) -> None:
        n, k = q.shape
        self._init_shape(n, k, bias)
        self.group_size = k // scales.shape[1]
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q.to(torch.int32).contiguous(), 1)
        self.register_buffer("weight", packed)  # (N, K/2) uint8, the kernel's own layout
        # (K/g, N, 2): the kernel's scales-and-zeros tensor
        self.register_buffer("scales_and_zeros", torch.stack([scales.T, zeros.T], -1).to(_ACT).contiguous())

    def _kernel(self, x: torch.Tensor) -> torch.Tensor:
        # .to(_ACT): a no-op, unless model.to(dtype) cast the scales (the kernels need them in bf16)
        return torch.ops.aten._weight_int4pack_mm_for_cpu(x.contiguous(), self.weight, self.group_size,
                                                          self.scales_and_zeros.to(_ACT))

    def unpacked(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(q, scales, zeros)`` as :meth:`from_quantized` takes them: q uint8 (N, K) in 0..15,
        scales and zeros float32 (N, K / group)."""
        q = unpack_int4(self.weight, self.in_features)
        scale, zero = self.scales_and_zeros.float().permute(2, 1, 0)  # (N, K/g) each
        return q, scale.contiguous(), zero.contiguous()

    def dequantized_weight(self, dtype: torch.dtype = torch.float32, cache: bool = False) -> torch.Tensor:
        """(q - 8) * scale + zero in float32: exactly the weight the kernel multiplies by.

        Reading q out of the kernel's tiled layout (:meth:`unpacked`) takes ~3x as long as reading
        it from a plain nibble copy (3.1 vs 1.1 ms for 1536x576, 1 thread). ``cache=True`` (what the
        backward passes) keeps q as two nibbles a byte in our own layout, ``self.q_nibbles`` (N, K/2)
        uint8: half a byte a weight more, as much again as the packed weight, kept until the layer's
        weight changes (not a buffer: not saved, not moved by ``.to()``, rebuilt after)."""
        n, k, g = self.out_features, self.in_features, self.group_size
        key = (self.weight.data_ptr(), self.weight._version)  # a load_state_dict into the buffer bumps it
        nibbles = getattr(self, "q_nibbles", None)
        if nibbles is not None and self._q_key == key:
            q = torch.cat([nibbles & 15, nibbles >> 4], 1)  # low nibbles: columns :K/2, high: K/2:
            scale, zero = self.scales_and_zeros.float().permute(2, 1, 0)  # (N, K/g) each
        else:
            q, scale, zero = self.unpacked()
            if cache:
                self.q_nibbles, self._q_key = q[:, : k // 2] | (q[:, k // 2:] << 4), key
        # q * scale + (zero - 8 * scale), in place: fewer passes over (N, K/g, g) than (q - 8) * scale + zero
        groups = q.reshape(n, k // g, g).float().mul_(scale[..., None]).add_((zero - 8 * scale)[..., None])
        return groups.reshape(n, k).to(dtype)


def _check_int4_shape(n: int, k: int, group_size: int | None) -> None:
    if group_size not in (32, 64, 128, 256) or k % group_size or n % 16:
        raise ValueError(f"Int4Linear needs out_features % 16 == 0 and in_features divisible by a group of 32, 64, "
                         f"128 or 256, got {n}x{k} (group {group_size}): keep this layer float (or use Int8Linear).")


# ---------------------------------------------------------------------------------------------
# whole models


def quantize_model(model: nn.Module, config: BitsAndBytesConfig) -> nn.Module:
    """Replace the model's nn.Linear (and GPT-2's Conv1D) layers by Int8Linear / Int4Linear in place, and
    mark the model quantized. Skipped, as in the reference: the ``llm_int8_skip_modules`` names, and
    when that is None (the default) the output layer; ``llm_int8_skip_modules=[]`` quantizes the
    output layer too (on SmolLM2 it is half a 4-bit decode step when kept float)."""
    if not (config.load_in_8bit or config.load_in_4bit):
        raise ValueError("BitsAndBytesConfig has neither load_in_8bit nor load_in_4bit set: nothing to quantize.")
    skip = set(config.llm_int8_skip_modules or ())
    default_skips = config.llm_int8_skip_modules is None and hasattr(model, "get_output_embeddings")
    output = model.get_output_embeddings() if default_skips else None
    skipped = []
    for name, module in list(model.named_modules()):
        for attr, value in list(vars(module).items()):  # fused q/k/v views of the old weights (nn.linear)
            if type(value).__name__ == "FusedLinears":
                setattr(module, attr, None)
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if not isinstance(child, (nn.Linear, Conv1D)):
                continue
            if child is output or any(f"{key}." in f"{full}." for key in skip):  # the reference's match: a name part
                continue
            linear = child if isinstance(child, nn.Linear) else conv1d_as_linear(child)
            if config.load_in_4bit and int4_group_size(linear) is None:
                skipped.append(full)
                continue
            layer = Int4Linear(linear) if config.load_in_4bit else Int8Linear(linear)
            layer.from_conv1d = isinstance(child, Conv1D)
            setattr(module, child_name, layer)
    if skipped:
        logger.warning("load_in_4bit: %d Linear layer(s) kept float, their shape does not fit the int4 kernel "
                       "(N %% 16, K %% 32): %s", len(skipped), ", ".join(skipped[:5]))
    model.is_quantized = True
    model.quantization_config = config
    model.quantization_skipped = skipped
    if hasattr(model, "config"):
        model.config.quantization_config = config.to_dict()
    return model


def conv1d_as_linear(layer: Conv1D) -> nn.Linear:
    """An nn.Linear sharing a Conv1D's weight, as (out, in) (a transposed view; no copy) and bias."""
    linear = nn.Linear(layer.in_features, layer.out_features, bias=False, device="meta")  # no init: set below
    linear.weight = nn.Parameter(layer.weight.T, requires_grad=False)
    linear.bias = layer.bias
    return linear


def dequantize_model(model: nn.Module, dtype: torch.dtype = torch.float32) -> nn.Module:
    """Replace every Int8Linear / Int4Linear by a float nn.Linear with its dequantized weight."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, _QuantizedLinear):
                setattr(module, child_name, child.dequantize(dtype))
    model.is_quantized = False
    model.quantization_config = None
    if hasattr(model, "config") and hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def pop_quantization_options(kwargs: dict[str, Any], device: Any) -> BitsAndBytesConfig | None:
    """``quantization_config=`` or the ``load_in_8bit`` / ``load_in_4bit`` shortcuts, taken out of
    ``from_pretrained``'s keyword arguments; errors for what the CPU kernels cannot do."""
    config = kwargs.pop("quantization_config", None)
    shortcuts = {k: kwargs.pop(k) for k in ("load_in_8bit", "load_in_4bit") if k in kwargs}
    if isinstance(config, dict):
        config = BitsAndBytesConfig.from_dict(config)
    if config is not None and any(shortcuts.values()):
        raise ValueError("Pass load_in_8bit/load_in_4bit inside quantization_config=BitsAndBytesConfig(...) or as "
                         "a shortcut, not both.")
    if config is None and any(shortcuts.values()):
        config = BitsAndBytesConfig(**shortcuts)
    if config is None:
        return None
    if not isinstance(config, BitsAndBytesConfig):
        raise TypeError(f"quantization_config must be a BitsAndBytesConfig (or its dict), got {type(config).__name__}.")
    if not on_cpu(device):
        raise ValueError(f"device_map={device!r}: workbench's quantized layers run on the CPU only (PyTorch's int8/int4 "
                         "CPU kernels). Drop device_map (or use 'cpu'), or load in float on the GPU.")
    return config


def on_cpu(device: Any) -> bool:
    """Whether ``device`` / ``device_map`` puts the model on the CPU (None and "auto" do here)."""
    if device is None or device == "auto":  # "auto": the CPU, as the kernels need
        return True
    if isinstance(device, dict):
        return all(on_cpu(v) for v in device.values())
    return not isinstance(device, int) and torch.device(device).type == "cpu"


def check_trainable(model: nn.Module) -> None:
    """Raise when a quantized model without an adapter is about to be trained."""
    if getattr(model, "is_quantized", False) and not getattr(model, "_hf_peft_config_loaded", False):
        raise ValueError("This model's Linear weights are quantized (frozen int8/int4 buffers, not parameters), so "
                         "training would not update them: add an adapter first (model.add_adapter(LoraConfig(...))), "
                         "or model.dequantize() to train in float.")
