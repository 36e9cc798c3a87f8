"""Record what every module of a model returns, through forward hooks.

    with ActivationCapture(model) as acts:        # hooks on, model otherwise untouched
        model(**inputs)
    acts["model.layers.3.self_attn"].outputs      # [Leaf("model.layers.3.self_attn[0]"), ...]

Each call of a module becomes a :class:`ModuleCall` holding its output's tensor leaves (a tensor,
or tensors nested in tuples, lists, dicts, ModelOutput-likes and dataclasses, with paths such as
``model.layers.3.self_attn[0]`` or ``.logits`` for the root) and, optionally, its primary input (the
first tensor it was called with). Calls are listed in the order they *return* (a module's children
before the module), which is the order an error flows in. Works on any ``nn.Module``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Union

import torch
from torch import nn

from ..nn.linear import torch_kernels as use_torch_kernels
from .quantized import QuantizedLayers
from .tolerance import module_precision

# a module filter: regexes searched in the module name, or a predicate (name, module) -> bool
ModuleFilter = Union[str, Iterable[str], Callable[[str, nn.Module], bool], None]
_MAX_DEPTH = 8  # how deep outputs are searched for tensors (tuples of tuples of ...)


@dataclass
class TensorStats:
    """Summary of one tensor; mean/std/min/max/norm are over its finite elements, in float64."""

    numel: int
    mean: float
    std: float
    min: float
    max: float
    norm: float
    nan: int
    inf: int

    @classmethod
    def of(cls, tensor: torch.Tensor) -> "TensorStats":
        values = _as_float64(tensor).reshape(-1)
        finite = values[torch.isfinite(values)]
        nan = int(torch.isnan(values).sum())
        inf = int(torch.isinf(values).sum())
        if finite.numel() == 0:
            return cls(values.numel(), math.nan, math.nan, math.nan, math.nan, 0.0, nan, inf)
        std = float(finite.std()) if finite.numel() > 1 else 0.0
        return cls(values.numel(), float(finite.mean()), std, float(finite.min()), float(finite.max()),
                   float(finite.norm()), nan, inf)

    @property
    def absmax(self) -> float:
        return max(abs(self.min), abs(self.max)) if not math.isnan(self.min) else 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Leaf:
    """One tensor a module returned (or was called with): where it sits and what it held."""

    path: str  # "model.layers.3.self_attn[0]"
    suffix: str  # "[0]": where in the module's output; "" when the output is the tensor itself
    shape: tuple[int, ...]
    dtype: str  # "float32"
    stats: TensorStats
    tensor: torch.Tensor | None  # a detached copy; the first max_elements values, flattened, when truncated
    truncated: bool = False


@dataclass
class ModuleCall:
    """One call of one module."""

    name: str  # as in model.named_modules(); "" for the model itself
    call: int  # 0 for the module's first call, 1 for its second, ...
    type: str  # class name
    start: int  # position among calls as they begin (parents before children)
    order: int = -1  # position among calls as they return (children before parents)
    input: Leaf | None = None  # the first tensor argument
    outputs: list[Leaf] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The name, with ``#n`` for the module's n-th repeated call (``model.norm#1``)."""
        return self.name if self.call == 0 else f"{self.name}#{self.call}"


def tensor_leaves(value: Any, suffix: str = "", depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """``(suffix, tensor)`` for each tensor in ``value``: ``[0]`` for sequences, ``.logits`` for
    string keys and dataclass fields, ``['a key']`` for other keys. Other objects are skipped."""
    if isinstance(value, torch.Tensor):
        yield suffix, value
    elif depth >= _MAX_DEPTH or isinstance(value, (str, bytes)):
        return
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from tensor_leaves(item, suffix + _key_suffix(key), depth + 1)
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from tensor_leaves(item, f"{suffix}[{index}]", depth + 1)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from tensor_leaves(getattr(value, f.name, None), f"{suffix}.{f.name}", depth + 1)


def _key_suffix(key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f".{key}"
    return f"[{key!r}]"


def leaf_path(module_key: str, suffix: str) -> str:
    if not module_key and suffix.startswith("."):
        return suffix[1:]  # the root's ".logits" reads "logits"
    return module_key + suffix


def _as_float64(tensor: torch.Tensor) -> torch.Tensor:
    tensor = tensor.detach()
    if tensor.is_quantized:
        tensor = tensor.dequantize()
    if tensor.is_complex():
        tensor = torch.view_as_real(tensor)
    return tensor.to(torch.float64)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def module_filter(include: ModuleFilter, exclude: ModuleFilter) -> Callable[[str, nn.Module], bool]:
    """A predicate from ``include`` / ``exclude``, each a regex (``re.search`` in the module name), a
    callable ``(name, module) -> bool`` or a list of those. Without ``include`` every module is in."""

    def one(spec: Any) -> Callable[[str, nn.Module], bool]:
        if callable(spec):
            return spec
        pattern = re.compile(spec)
        return lambda name, module: pattern.search(name) is not None

    def as_predicate(spec: ModuleFilter, default: bool) -> Callable[[str, nn.Module], bool]:
        if spec is None:
            return lambda name, module: default
        tests = [one(spec)] if isinstance(spec, str) or callable(spec) else [one(item) for item in spec]
        return lambda name, module: any(test(name, module) for test in tests)

    included, excluded = as_predicate(include, True), as_predicate(exclude, False)
    return lambda name, module: bool(included(name, module)) and not excluded(name, module)


class ActivationCapture:
    """A context manager that records every (filtered) module call of ``model``.

    Hooks are removed on exit, even when the forward raises; the model is not otherwise changed.
    ``max_elements`` caps the values kept per tensor (the first ones, flattened; stats still cover
    the whole tensor). ``device`` is where copies go (the CPU by default, so a GPU stays free).

    >>> with ActivationCapture(model, include=r"layers\\.0\\.") as acts:
    ...     model(**inputs)
    >>> [call.key for call in acts.calls]
    """

    def __init__(self, model: nn.Module, *, include: ModuleFilter = None, exclude: ModuleFilter = None,
                 max_elements: int | None = None, record_inputs: bool = True,
                 device: str | torch.device | None = "cpu") -> None:
        if max_elements is not None and max_elements < 1:
            raise ValueError(f"max_elements must be a positive number of values per tensor, got {max_elements}.")
        self.model = model
        self.model_type = type(model).__name__
        self.precision = module_precision(model)  # a tolerance preset name: "float32", "bfloat16", "int8", ...
        self.quantized = QuantizedLayers.of(model)  # its quantized modules, recorded or not
        self.max_elements = max_elements
        self.record_inputs = record_inputs
        self.device = device
        self.calls: list[ModuleCall] = []  # in the order they returned
        self._keep = module_filter(include, exclude)
        self._handles: list[Any] = []
        self._open: dict[int, list[ModuleCall]] = {}  # id(module) -> calls begun, not yet returned
        self._counts: dict[str, int] = {}
        self._started = 0
        self._copies: dict[int, tuple[weakref.ref, int, Leaf]] = {}  # id(tensor) -> its copy

    # --- hooks ----------------------------------------------------------------------------

    def __enter__(self) -> "ActivationCapture":
        try:
            for name, module in self.model.named_modules():
                if self._keep(name, module):
                    self._handles.append(module.register_forward_pre_hook(self._pre_hook(name), with_kwargs=True))
                    self._handles.append(module.register_forward_hook(self._post_hook(name)))
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._remove()

    def _remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._open.clear()
        self._copies.clear()

    def _pre_hook(self, name: str):
        def hook(module, args, kwargs):
            call = ModuleCall(name, self._counts.get(name, 0), type(module).__name__, self._started)
            self._counts[name] = call.call + 1
            self._started += 1
            if self.record_inputs:
                first = next(tensor_leaves((args, kwargs)), None)
                if first is not None:
                    call.input = self._leaf(first[1], f"{call.key}<input>", "<input>")
            self._open.setdefault(id(module), []).append(call)

        return hook

    def _post_hook(self, name: str):
        def hook(module, args, output):
            begun = self._open.get(id(module))
            if not begun:  # hooks registered mid-forward: no matching pre-hook
                return
            call = begun.pop()
            call.order = len(self.calls)
            call.outputs = [self._leaf(t, leaf_path(call.key, suffix), suffix) for suffix, t in tensor_leaves(output)]
            self.calls.append(call)

        return hook

    def _leaf(self, tensor: torch.Tensor, path: str, suffix: str) -> Leaf:
        # a tensor seen before (an input that is an earlier module's output) shares that copy
        seen = self._copies.get(id(tensor))
        if seen is not None and seen[0]() is tensor and seen[1] == tensor._version:
            return dataclasses.replace(seen[2], path=path, suffix=suffix)
        leaf = self._copy(tensor, path, suffix)
        with contextlib.suppress(TypeError):
            self._copies[id(tensor)] = (weakref.ref(tensor), tensor._version, leaf)
        return leaf

    def _copy(self, tensor: torch.Tensor, path: str, suffix: str) -> Leaf:
        shape, dtype = tuple(tensor.shape), _dtype_name(tensor.dtype)
        if tensor.device.type == "meta":
            return Leaf(path, suffix, shape, dtype, TensorStats(tensor.numel(), *[math.nan] * 5, 0, 0), None)
        data = tensor.detach()
        truncated = self.max_elements is not None and data.numel() > self.max_elements
        if truncated:
            data = data.reshape(-1)[: self.max_elements]
        data = data.to(self.device or data.device, copy=True)
        return Leaf(path, suffix, shape, dtype, TensorStats.of(tensor), data, truncated)

    # --- reading --------------------------------------------------------------------------

    def __getitem__(self, key: str) -> ModuleCall:
        for call in self.calls:
            if call.key == key:
                return call
        raise KeyError(f"No recorded call of module {key!r}; recorded: {[c.key for c in self.calls][:20]} ...")

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[ModuleCall]:
        return iter(self.calls)

    def __repr__(self) -> str:
        return f"ActivationCapture({self.model_type}, calls={len(self.calls)})"


@contextlib.contextmanager
def eval_mode(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Put every submodule in eval mode for the block, then restore each one's own flag."""
    flags = {module: module.training for module in model.modules()}
    if enabled:
        model.eval()
    try:
        yield
    finally:
        for module, training in flags.items():
            module.training = training


def run_model(model: nn.Module, inputs: Any) -> Any:
    """Call ``model`` on ``inputs``: a callable ``inputs(model)``, a dict of keyword arguments, a
    tuple/list of positional arguments, or one tensor. Tensors move to the model's device."""
    if callable(inputs) and not isinstance(inputs, (torch.Tensor, Mapping)):
        return inputs(model)
    inputs = _to_device(inputs, _device_of(model))
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def _device_of(model: nn.Module) -> torch.device | None:
    for tensor in model.parameters():
        return tensor.device if tensor.device.type != "meta" else None
    return None


def _to_device(value: Any, device: torch.device | None) -> Any:
    if device is None:
        return value
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, Mapping):
        return {key: _to_device(item, device) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        items = [_to_device(item, device) for item in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)  # namedtuples take *items
    return value


def capture(model: nn.Module, inputs: Any, *, include: ModuleFilter = None, exclude: ModuleFilter = None,
            max_elements: int | None = None, record_inputs: bool = True, device: str | torch.device | None = "cpu",
            eval: bool = True, no_grad: bool = True, torch_kernels: bool = True) -> ActivationCapture:
    """Run ``model`` once on ``inputs`` (see :func:`run_model`) and return what every module returned.

    ``eval`` puts the model in eval mode for the run (dropout off) and restores each submodule's
    mode afterwards; ``no_grad`` runs without autograd. ``torch_kernels`` runs workbench's linear
    layers with PyTorch's default kernel, as a PyTorch reference does, so that a correct port shows
    no difference at all; ``False`` records workbench's faster CPU inference path, whose float32
    sums differ from it in the last bits (an error that grows to about 1e-2 in a 30-layer model's
    logits).

    >>> acts = capture(model, {"input_ids": ids})
    >>> acts["model.norm"].outputs[0].stats.std
    """
    recorder = ActivationCapture(model, include=include, exclude=exclude, max_elements=max_elements,
                                 record_inputs=record_inputs, device=device)
    grad = torch.no_grad() if no_grad else contextlib.nullcontext()
    with eval_mode(model, eval), grad, use_torch_kernels(torch_kernels), recorder:
        run_model(model, inputs)
    return recorder
