"""Linear layers for inference on the CPU, and fusing several projections of one input into one.

Decoding one token multiplies each weight matrix by a single row: the time is spent reading the
weights, so what counts is how close the kernel comes to the memory bandwidth. On the CPU,
PyTorch sends float32 ``F.linear`` to MKL, whose matrix-vector path reaches 15-20 GB/s here;
oneDNN's linear (the one ``torch.compile`` uses after freezing) reads the same weights at 30-40 GB/s.
:func:`linear` takes that path when nothing needs gradients, except for a single input row on a
single thread, where MKL's matrix-vector product is the faster one; the result differs from
``F.linear`` only by the order of the float32 additions.

Fusion: :func:`fused_for_inference` gives several linears of the same input (a Llama layer's
q/k/v, its gate/up) one weight tensor, so one matrix product replaces several. What happens, and
where you can see it:

- When: a forward that records no gradient for those weights (an evaluation, ``generate()``,
  ``torch.no_grad()``, frozen weights) and no forward hook on the modules. A forward that records
  gradients, or that hooks observe (the porting engine, a probe), runs the separate modules.
- How: the weights are packed into one contiguous buffer and each module's ``nn.Parameter``
  **stays the same object**; only its ``.data`` becomes a view of its rows of that buffer. An
  optimizer built before or after, a hook, ``state_dict`` and ``named_parameters`` all see the
  parameters the model computes with; an optimizer step writes into the buffer in place, so the
  next fused product uses it. No second copy of the weights is kept.
- Re-packed: when the parameters no longer lie in one buffer (``model.to(dtype or device)`` gives
  each its own storage, ``load_state_dict(assign=True)`` or an assignment puts new ones in place),
  the next such forward packs them again: one copy of those weights, the old storages freed, the
  Parameter objects unchanged. Until then the old buffer is held by the cache below.
- Visible: ``print(model)`` shows ``weight=rows 0:64 of a 128-row buffer`` on each packed :class:`Linear`;
  ``module.weight.untyped_storage()`` is the shared buffer; the owner keeps the fused view as a
  plain attribute (``self_attn._qkv``, a :class:`FusedLinears`: not a submodule, not in
  ``state_dict``); a weight loaded as a view of its memory-mapped checkpoint file
  (``workbench.weights.map_safetensors``) shows ``weight=view of a 538 MB mapped file``.

:func:`torch_kernels` turns the oneDNN path off for a block, so a model matches a PyTorch
implementation of the same math bit for bit (the porting engine runs models that way).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn import functional as F

_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
_TORCH_KERNELS = contextvars.ContextVar("workbench_torch_kernels", default=False)


@contextlib.contextmanager
def torch_kernels(enabled: bool = True) -> Iterator[None]:
    """Within the block :func:`linear` is plain ``F.linear`` (PyTorch's default kernel), so results
    equal those of a PyTorch implementation that does the same operations in the same order."""
    token = _TORCH_KERNELS.set(enabled)
    try:
        yield
    finally:
        _TORCH_KERNELS.reset(token)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear``, through oneDNN for float32 on the CPU when no gradient is needed. Under
    ``torch.compile`` the oneDNN call is an opaque operator (inductor would otherwise lower the
    product to MKL again, or need ``freezing`` and a packed copy of every weight)."""
    if (_ONEDNN and x.dtype == torch.float32 and weight.dtype == torch.float32 and x.device.type == "cpu"
            and not (torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad))):
        if torch.compiler.is_compiling():  # (dynamo cannot read a ContextVar; nothing compiles under torch_kernels)
            return _onednn_linear(x, weight, bias)
        if not _TORCH_KERNELS.get() and not _single_thread_gemv(x, weight):
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


def _single_thread_gemv(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """One input row on one thread (decoding at batch 1 with ``torch.set_num_threads(1)``): MKL's
    matrix-vector product reads the weights faster than oneDNN's there (SmolLM2 float32 decode,
    matrix products alone: 1.2x from RAM, 1.5x from L2; benchmarks/RESULTS_decode.md). With more
    rows oneDNN is the faster one (batch 8: 1.3x); with two threads it read large weights from RAM
    faster too (ibid., session 2)."""
    return x.numel() == weight.shape[-1] and torch.get_num_threads() == 1


if _ONEDNN:
    @torch.library.custom_op("workbench::onednn_linear", mutates_args=())
    def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")

    @_onednn_linear.register_fake
    def _(x, weight, bias):
        return x.new_empty(*x.shape[:-1], weight.shape[0])


class Linear(nn.Linear):
    """``nn.Linear`` (same parameters, same checkpoint keys) whose forward uses :func:`linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        weight = self.weight
        if weight.is_meta or weight.dim() != 2 or not weight.is_contiguous():
            return super().extra_repr()
        row, size = max(weight.element_size() * weight.shape[1], 1), weight.untyped_storage().nbytes()
        rows = size // row
        if rows <= weight.shape[0]:
            return super().extra_repr()
        if size % row or (weight.storage_offset() * weight.element_size()) % row:
            # not a buffer of whole rows: the memory map of a checkpoint file (weights.map_safetensors)
            return f"{super().extra_repr()}, weight=view of a {size / 1e6:.0f} MB mapped file"
        first = weight.storage_offset() // max(weight.shape[1], 1)  # fused (see the module docstring)
        return f"{super().extra_repr()}, weight=rows {first}:{first + weight.shape[0]} of a {rows}-row buffer"


class FusedLinears:
    """One weight (and bias) for several linears of the same input; ``sizes`` are their output widths.

    Built by :func:`fuse_linears`: ``weight`` (sum(sizes), in) is the buffer whose rows the modules'
    own parameters view. ``valid()`` says whether they still do (``model.to(dtype)``,
    ``load_state_dict(assign=True)`` or a resize gives them other storage).
    """

    def __init__(self, linears: list[nn.Linear], weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.linears = linears
        self.sizes = [m.out_features for m in linears]
        self.weight, self.bias = weight, bias
        # the buffer is held here, so while these addresses match no other tensor can have taken them
        self._pointers = self._current_pointers()

    def _current_pointers(self) -> list[int]:
        return [m.weight.data_ptr() for m in self.linears] + [m.bias.data_ptr() for m in self.linears if m.bias is not None]

    def valid(self) -> bool:
        return self._pointers == self._current_pointers()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return f"FusedLinears(sizes={self.sizes}, weight={tuple(self.weight.shape)}, bias={self.bias is not None})"


def _packed(params: list[nn.Parameter]) -> torch.Tensor:
    """One tensor whose consecutive rows are ``params``, which then view it; each parameter stays
    the same object (only its ``.data`` moves), so optimizers and hooks keep holding the right ones."""
    first = params[0]
    total = (sum(p.shape[0] for p in params), *first.shape[1:])
    if _adjacent(params):  # packed before (or built so): the buffer is already there
        return first.detach().as_strided(total, first.stride(), first.storage_offset())
    buffer = torch.cat([p.detach() for p in params])
    for param, rows in zip(params, buffer.split([p.shape[0] for p in params])):
        param.data = rows
    return buffer


def _adjacent(params: list[nn.Parameter]) -> bool:
    """Whether ``params`` are contiguous, consecutive pieces of one storage."""
    storage = params[0].untyped_storage().data_ptr()
    end = params[0].data_ptr()
    for param in params:
        if (not param.is_contiguous() or param.data_ptr() != end
                or param.untyped_storage().data_ptr() != storage):
            return False
        end += param.numel() * param.element_size()
    return True


def fuse_linears(linears: list[nn.Linear]) -> FusedLinears | None:
    """Fuse ``linears`` (same input size, dtype and device, all with or all without a bias; see the
    module docstring for what happens to their parameters); None when they cannot be (meta tensors,
    mixed dtypes or biases, weights that are not ``nn.Parameter``s, as under ``functional_call``)."""
    first = linears[0]
    same = all(m.weight.dtype == first.weight.dtype and m.weight.device == first.weight.device
               and m.in_features == first.in_features and (m.bias is None) == (first.bias is None) for m in linears)
    tensors = [m.weight for m in linears] + [m.bias for m in linears if m.bias is not None]
    if (not same or first.weight.is_meta or not all(isinstance(t, nn.Parameter) for t in tensors)
            or len({id(t) for t in tensors}) < len(tensors)):
        return None
    # under inference_mode the buffer would be an inference tensor, which training could no longer use
    with torch.inference_mode(False), torch.no_grad():
        weight = _packed([m.weight for m in linears])
        bias = _packed([m.bias for m in linears]) if first.bias is not None else None
    return FusedLinears(linears, weight, bias)


def _observed(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or nn.modules.module._global_forward_hooks
                or nn.modules.module._global_forward_pre_hooks)


_PLAIN_FORWARDS = (Linear.forward, nn.Linear.forward)


def fused_for_inference(owner: nn.Module, name: str, linears: list[nn.Linear]) -> FusedLinears | None:
    """The fused projection of ``owner`` (kept as ``owner.<name>``), packed again when the modules'
    parameters left the buffer; None while gradients are being recorded for them or hooks watch them
    (then the caller runs the separate modules). See the module docstring."""
    fused = owner.__dict__.get(name)
    compiling = torch.compiler.is_compiling()  # then fused before compiling (the check reads data pointers)
    if not compiling and fused is not None and not fused.valid():
        fused = owner.__dict__[name] = None  # let the old buffer go, even if no inference follows
    if not all(type(m).forward in _PLAIN_FORWARDS for m in linears):
        return None  # an adapter (peft) wraps or subclasses one of them: its forward adds what the fused weight lacks
    if torch.is_grad_enabled() and any(m.weight.requires_grad for m in linears):
        return None
    if any(_observed(m) for m in linears):  # hooks (the porting engine, a user's probe) see every module run
        return None
    if fused is None and not compiling:
        fused = owner.__dict__[name] = fuse_linears(linears)
    return fused
