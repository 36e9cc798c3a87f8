"""Linear layers for inference on the CPU, and fusing several projections of one input into one.

Decoding one token multiplies each weight matrix by a single row: the time is spent reading the
weights, so what counts is how close the kernel comes to the memory bandwidth. On the CPU,
PyTorch sends float32 ``F.linear`` to MKL, whose matrix-vector path reaches 15-20 GB/s here;
oneDNN's linear (the one ``torch.compile`` uses after freezing) reads the same weights at 30-40 GB/s.
:func:`linear` takes that path when nothing needs gradients; the result differs from
``F.linear`` only by the order of the float32 additions.

:func:`fuse_linears` gives several linears of the same input (q/k/v, gate/up) one weight tensor:
each module's parameter becomes a view of its rows, so checkpoint keys, ``state_dict`` and the
optimizer see the same parameters as before, and one matrix product replaces several.

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
        if not _TORCH_KERNELS.get():
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


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


class FusedLinears:
    """One weight (and bias) for several linears of the same input; ``sizes`` are their output widths.

    Built by :func:`fuse_linears`. ``valid()`` says whether the modules still hold views of the
    fused tensors (``model.to(dtype)``, ``load_state_dict(assign=True)`` or a resize replaces them).
    """

    def __init__(self, linears: list[nn.Linear]) -> None:
        self.linears = linears
        self.sizes = [m.out_features for m in linears]
        self.weight = _fuse([m.weight for m in linears])
        self.bias = _fuse([m.bias for m in linears]) if linears[0].bias is not None else None
        for module, weight in zip(linears, self.weight.split(self.sizes)):
            module.weight = nn.Parameter(weight, requires_grad=module.weight.requires_grad)
        if self.bias is not None:
            for module, bias in zip(linears, self.bias.split(self.sizes)):
                module.bias = nn.Parameter(bias, requires_grad=module.bias.requires_grad)
        self._pointers = self._current_pointers()

    def _current_pointers(self) -> list[int]:
        return [m.weight.data_ptr() for m in self.linears] + [m.bias.data_ptr() for m in self.linears if m.bias is not None]

    def valid(self) -> bool:
        return self._pointers == self._current_pointers()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def _fuse(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.detach() for t in tensors])


def fuse_linears(linears: list[nn.Linear]) -> FusedLinears | None:
    """Fuse ``linears`` (same input size, dtype and device, all with or all without a bias); None
    when they cannot be (meta tensors, mixed dtypes or biases)."""
    first = linears[0]
    same = all(m.weight.dtype == first.weight.dtype and m.weight.device == first.weight.device
               and m.in_features == first.in_features and (m.bias is None) == (first.bias is None) for m in linears)
    if not same or first.weight.is_meta:
        return None
    # the parameters become views of the fused tensor: under inference_mode they would turn into
    # inference tensors, which training could no longer use
    with torch.inference_mode(False), torch.no_grad():
        return FusedLinears(linears)


def _observed(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks or nn.modules.module._global_forward_hooks
                or nn.modules.module._global_forward_pre_hooks)


def fused_for_inference(owner: nn.Module, name: str, linears: list[nn.Linear]) -> FusedLinears | None:
    """The fused projection of ``owner`` (kept as ``owner.<name>``), rebuilt when the modules'
    weights were replaced; None while gradients are being recorded (training goes through the
    separate modules, whose parameters are the ones an optimizer holds)."""
    if torch.is_grad_enabled() and any(m.weight.requires_grad for m in linears):
        return None
    if any(_observed(m) for m in linears):  # hooks (the porting engine, a user's probe) see every module run
        return None
    fused = owner.__dict__.get(name)
    if torch.compiler.is_compiling():  # fused before compiling (the check reads data pointers)
        return fused
    if fused is None or not fused.valid():
        fused = fuse_linears(linears)
        owner.__dict__[name] = fused
    return fused
