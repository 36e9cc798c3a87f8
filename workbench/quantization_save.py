"""Quantized checkpoints: ``save_pretrained`` of a quantized model, and ``from_pretrained`` of such a folder
with no extra argument (config.json's ``quantization_config`` says the checkpoint is quantized).

    model = AutoModelForCausalLM.from_pretrained(folder, load_in_8bit=True)
    model.save_pretrained("int8")                          # bitsandbytes' 8-bit layout
    model = AutoModelForCausalLM.from_pretrained("int8")   # Int8Linear layers from the stored int8

Layouts, per quantized Linear ``p`` (other tensors are saved as in a float checkpoint):

- **8-bit: bitsandbytes' LLM.int8 layout** (``Linear8bitLt`` with ``has_fp16_weights=False``), so the
  reference loads it (and workbench loads the reference's): ``p.weight`` int8 (N, K), ``p.SCB`` float32
  (N,) the row's absmax, ``w = weight * SCB / 127``, ``p.weight_format`` uint8 0 (row-major), ``p.bias``;
  ``quantization_config`` is ``BitsAndBytesConfig(load_in_8bit=True).to_dict()``. Exact both ways for
  workbench's own saves (SCB = scale * 127 in float32, scale a bfloat16: scale * 127 needs 15 bits, and
  float32 division gives scale back). The reference's SCB is any float32: scale = SCB / 127 is rounded
  to bfloat16 (the kernel's scale dtype), a relative error of at most 2**-8 per row.
- **4-bit: workbench's own layout** ``quant_method: "workbench_int4"``: ``p.weight`` uint8 (N, K / 2),
  two q values (0..15) a byte, ``q[n, 2i]`` in the low nibble and ``q[n, 2i + 1]`` in the high one;
  ``p.weight_scales`` and ``p.weight_zeros`` bfloat16 (N, K / group), ``w = (q - 8) * scale + zero``
  per (row, group); the group is K / weight_scales.shape[1]. The round trip is exact (same packed bytes).
  No layout the reference reads holds these groups: bitsandbytes' 4-bit stores nf4/fp4 codes times a
  block's absmax (no zero), and compressed-tensors' "pack-quantized" asymmetric groups store an integer
  4-bit zero point, where workbench's zero is any bfloat16. The reference reports the unknown
  quant_method and does not load the folder; ``model.dequantize()`` then ``save_pretrained`` writes
  float weights that it does.
- **The reference's bitsandbytes 4-bit saves** (nf4/fp4 codes, absmax per block of 64, double
  quantization too) load here without bitsandbytes: each layer is decoded (code * absmax) and
  quantized again as affine int4 groups (Int4Linear), an extra error that the log reports.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import torch
from torch import nn

from .nn.conv1d import Conv1D
from .quantization import BitsAndBytesConfig, Int4Linear, Int8Linear, int4_group_size, on_cpu
from .weights import CheckpointFiles, iter_tensors

logger = logging.getLogger("workbench")

INT4_METHOD = "workbench_int4"
_INT4_LAYOUT = "affine int4 groups along K: w = (q - 8) * scale + zero; q two a byte, low nibble first"
# bitsandbytes' weight_format codes; only "row" (0) is a plain (N, K) matrix. Older releases stored
# GPU tile layouts (col_turing, col_ampere) that only their CUDA kernels read.
_ROW_FORMAT = 0


# ---------------------------------------------------------------------------------------------
# saving


def quantized_checkpoint(model: nn.Module, folder: str, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors for a quantized ``model`` (its state dict with each Int8Linear /
    Int4Linear in the layout above), after writing config.json with that layout's quantization_config
    into ``folder`` (the staging folder of ``save_pretrained``)."""
    if not isinstance(model.quantization_config, BitsAndBytesConfig):
        method = getattr(model.quantization_config, "quant_method", type(model.quantization_config).__name__)
        raise ValueError(f"This model is quantized by {method!r} (e.g. a GGUF file loaded with keep_quantized=True), "
                         "which has no saved layout: the GGUF file itself is its checkpoint. To save a folder, "
                         "model.dequantize() first (float32, loads in the reference too), then optionally "
                         "from_pretrained(folder, load_in_4bit=True) and save that.")
    layers = {name: m for name, m in model.named_modules() if isinstance(m, (Int8Linear, Int4Linear))}
    config = copy.copy(model.config)  # a shallow copy: only quantization_config differs from the model's
    if layers:
        config.quantization_config = saved_quantization_config(model.quantization_config, layers)
    else:  # every layer kept float (shapes the kernels cannot take): a float checkpoint
        vars(config).pop("quantization_config", None)
    config.save_pretrained(folder)
    out = {}
    for key, tensor in state_dict.items():
        prefix, _, name = key.rpartition(".")
        if prefix not in layers or name == "bias":
            out[key] = tensor
    for prefix, layer in layers.items():
        out.update({f"{prefix}.{k}": v for k, v in layer_tensors(layer).items()})
    return out


def saved_quantization_config(config: BitsAndBytesConfig, layers: dict[str, nn.Module]) -> dict[str, Any]:
    """config.json's ``quantization_config``: the reference's dict for 8-bit, workbench's for 4-bit."""
    if config.load_in_8bit:
        return config.to_dict()
    out = {k: v for k, v in config.to_dict().items() if k not in ("load_in_4bit", "_load_in_4bit", "load_in_8bit",
                                                                  "_load_in_8bit")}  # the reference reads these as bnb
    groups = sorted({m.group_size for m in layers.values() if isinstance(m, Int4Linear)})
    return dict(out, quant_method=INT4_METHOD, bits=4, group_sizes=groups, layout=_INT4_LAYOUT)


def layer_tensors(layer: Int8Linear | Int4Linear) -> dict[str, torch.Tensor]:
    """One quantized Linear's tensors in the checkpoint layout (bias not included)."""
    if isinstance(layer, Int8Linear):
        return {"weight": layer.weight, "SCB": layer.scales.float() * 127,
                "weight_format": torch.tensor(_ROW_FORMAT, dtype=torch.uint8)}
    q, scales, zeros = layer.unpacked()  # (N, K) uint8 in 0..15; (N, K / group) float32 holding bf16 values
    return {"weight": q[:, 0::2] | (q[:, 1::2] << 4), "weight_scales": scales.to(torch.bfloat16),
            "weight_zeros": zeros.to(torch.bfloat16)}


# ---------------------------------------------------------------------------------------------
# loading


def load_quantized_layers(model: nn.Module, files: CheckpointFiles, requested: BitsAndBytesConfig | None,
                          device: Any) -> frozenset[str]:
    """Build the quantized Linear layers of a quantized checkpoint straight from its stored tensors,
    in place of ``model``'s (meta) nn.Linear ones; a float checkpoint is left alone.

    Returns the names (checkpoint's and model's) of the tensors read here, which the float loader then
    skips. The model is then marked quantized (``requested``, if any, is ignored with a warning)."""
    stored = getattr(getattr(model, "config", None), "quantization_config", None)
    if not stored or files.format == "gguf":
        return frozenset()
    kind, config = _stored_kind(stored)
    if requested is not None:
        logger.warning("This checkpoint is quantized already (its config.json has a quantization_config): the "
                       "quantization_config / load_in_8bit / load_in_4bit you passed is ignored.")
    if not on_cpu(device):
        raise ValueError(f"device_map={device!r}: this checkpoint is quantized and workbench's quantized layers run "
                         "on the CPU only. Drop device_map (or use 'cpu').")
    marker = {"int8": ".SCB", "int4": ".weight_zeros", "bnb4": ".weight.absmax"}[kind]
    names = [name for name, _ in iter_tensors(files, wanted=lambda n: False)]  # names only: nothing is read
    prefixes = {n[: -len(marker)] for n in names if n.endswith(marker)}
    if not prefixes:
        raise ValueError(f"config.json says this checkpoint is quantized ({stored.get('quant_method')}), but its "
                         f"weights hold no quantized layer (no '*{marker}' tensor): remove quantization_config "
                         "from config.json if the weights are float.")
    groups: dict[str, dict[str, torch.Tensor]] = {p: {} for p in prefixes}
    for name, tensor in iter_tensors(files, wanted=lambda n: _prefix_of(n, prefixes) is not None):
        prefix = _prefix_of(name, prefixes)
        if prefix is not None:
            groups[prefix][name[len(prefix) + 1:]] = tensor
    read = {n for n in names if _prefix_of(n, prefixes) is not None}
    build = {"int8": _int8_layer, "int4": _int4_layer, "bnb4": _bnb4_layer}[kind]
    skipped = []  # bnb 4-bit layers whose shape the int4 kernel cannot take: float
    for prefix in sorted(groups):
        module_name = _module_name(model, prefix)
        layer = build(groups.pop(prefix), prefix)  # the stored weight is (out, in) for a Conv1D too, as bnb's
        layer.from_conv1d = isinstance(model.get_submodule(module_name), Conv1D)
        parent, _, child = module_name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, layer)
        if not isinstance(layer, (Int8Linear, Int4Linear)):
            skipped.append(module_name)
        read.update(f"{module_name}.{k}" for k, _ in layer.named_parameters(recurse=False))
        read.update(f"{module_name}.{k}" for k, _ in layer.named_buffers(recurse=False))
    model.is_quantized, model.quantization_config, model.quantization_skipped = True, config, skipped
    model.config.quantization_config = config.to_dict()
    return frozenset(read)


def _stored_kind(stored: dict[str, Any]) -> tuple[str, BitsAndBytesConfig]:
    method = stored.get("quant_method")
    if method == INT4_METHOD:
        options = {k: v for k, v in stored.items() if k not in ("bits", "group_sizes", "layout")}
        return "int4", BitsAndBytesConfig.from_dict(options, load_in_4bit=True)
    if method == "bitsandbytes" or stored.get("load_in_8bit") or stored.get("load_in_4bit"):
        config = BitsAndBytesConfig.from_dict(stored)
        if config.load_in_8bit or config.load_in_4bit:
            return ("int8" if config.load_in_8bit else "bnb4"), config
    raise ValueError(f"config.json's quantization_config has quant_method={method!r}, which workbench cannot load: it "
                     f"reads bitsandbytes 8-bit and 4-bit checkpoints and its own '{INT4_METHOD}'. Load a float "
                     "checkpoint (and pass load_in_8bit=True or load_in_4bit=True).")


def _prefix_of(name: str, prefixes: set[str]) -> str | None:
    """The quantized layer ``name`` belongs to: ``p.weight`` and ``p.weight.absmax`` belong to ``p``."""
    head = name
    while "." in head:
        head = head.rpartition(".")[0]
        if head in prefixes:
            return head
    return None


def _module_name(model: nn.Module, prefix: str) -> str:
    """The model's nn.Linear (or Conv1D) a checkpoint prefix names (a base checkpoint in a head model, and back)."""
    base = getattr(model, "base_model_prefix", "")
    candidates = [prefix] + ([prefix[len(base) + 1:], f"{base}.{prefix}"] if base else [])
    for name in candidates:
        try:
            if isinstance(model.get_submodule(name), (nn.Linear, Conv1D)):
                return name
        except AttributeError:
            continue
    raise ValueError(f"The checkpoint holds a quantized layer {prefix!r}, but {type(model).__name__} has no Linear "
                     "layer of that name: the config does not match the weights.")


def _int8_layer(tensors: dict[str, torch.Tensor], prefix: str) -> Int8Linear:
    weight_format = int(tensors.pop("weight_format", torch.tensor(_ROW_FORMAT)))
    if weight_format != _ROW_FORMAT:
        raise ValueError(f"{prefix}.weight_format is {weight_format}: a GPU tile layout of bitsandbytes < 0.45, which "
                         "only its CUDA kernels read. Load the checkpoint in the reference with a newer bitsandbytes "
                         "and save it again (row-major, weight_format 0).")
    _expect(tensors, prefix, ("weight", "SCB"))
    return Int8Linear.from_quantized(tensors["weight"], tensors["SCB"].float() / 127, tensors.get("bias"))


def _int4_layer(tensors: dict[str, torch.Tensor], prefix: str) -> Int4Linear:
    _expect(tensors, prefix, ("weight", "weight_scales", "weight_zeros"))
    nibbles = tensors["weight"]  # (N, K / 2) uint8
    q = torch.stack([nibbles & 0xF, nibbles >> 4], -1).reshape(nibbles.shape[0], -1)  # (N, K)
    return Int4Linear.from_quantized(q, tensors["weight_scales"].float(), tensors["weight_zeros"].float(),
                                     tensors.get("bias"))


def _expect(tensors: dict[str, torch.Tensor], prefix: str, names: tuple[str, ...]) -> None:
    missing = [n for n in names if n not in tensors]
    if missing:
        raise ValueError(f"The quantized layer {prefix!r} lacks {', '.join(f'{prefix}.{n}' for n in missing)} in the "
                         "checkpoint: the files are incomplete; save or download them again.")


def _bnb4_layer(tensors: dict[str, torch.Tensor], prefix: str) -> nn.Module:
    """A bitsandbytes 4-bit layer decoded to float, then quantized again as Int4Linear (affine groups);
    a shape the int4 kernel cannot take stays a float nn.Linear, as when quantizing at load."""
    weight = bnb4_weight(tensors, prefix)
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")  # no init: set below
    linear.weight = nn.Parameter(weight, requires_grad=False)
    linear.bias = None if "bias" not in tensors else nn.Parameter(tensors["bias"], requires_grad=False)
    if int4_group_size(linear) is not None:
        layer = Int4Linear(linear)
        error = (layer.dequantized_weight() - weight).norm() / weight.norm().clamp(min=1e-12)
        logger.info("%s: bitsandbytes 4-bit quantized again as affine int4 groups, relative weight error %.3g",
                    prefix, float(error))
        return layer
    return linear


def bnb4_weight(tensors: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    """The float32 (N, K) weight a bitsandbytes 4-bit layer stores: ``code[q] * absmax[block]``, codes
    two a byte (high nibble first), blocks of ``blocksize`` along the flattened weight; with double
    quantization the absmax are themselves ``nested_code[a] * nested_absmax[block] + offset``."""
    state_key = next((k for k in tensors if k.startswith("weight.quant_state.bitsandbytes__")), None)
    if state_key is None or "weight.absmax" not in tensors:
        raise ValueError(f"{prefix} lacks bitsandbytes' 4-bit quant_state or absmax: the files are incomplete.")
    state = json.loads(bytes(tensors[state_key].tolist()).decode())
    code = tensors.get("weight.quant_map")
    if code is None:
        raise ValueError(f"{prefix}.weight.quant_map is missing: bitsandbytes saves the nf4/fp4 code table beside the weight.")
    absmax = tensors["weight.absmax"]
    if "nested_absmax" in state or "weight.nested_absmax" in tensors:
        absmax = _blockwise(absmax.long(), tensors["weight.nested_quant_map"].float(),
                            tensors["weight.nested_absmax"].float(), state["nested_blocksize"]) + state["nested_offset"]
    packed = tensors["weight"].reshape(-1).view(torch.uint8)
    codes = torch.stack([packed >> 4, packed & 0xF], -1).reshape(-1).long()
    shape = state["shape"]
    count = shape[0] * shape[1]
    return _blockwise(codes[:count], code.float(), absmax.float(), state["blocksize"]).reshape(shape)


def _blockwise(indices: torch.Tensor, code: torch.Tensor, absmax: torch.Tensor, blocksize: int) -> torch.Tensor:
    """``code[indices] * absmax[i // blocksize]`` over a flat tensor (the last block may be short)."""
    values = code[indices]
    scale = absmax.repeat_interleave(blocksize)[: values.numel()]
    return values * scale

