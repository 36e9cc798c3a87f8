"""Porting a checkpoint from another library (torchvision, timm, an ONNX export ...) to a Hugging
Face folder, checked tensor by tensor and then module by module.

A :class:`PortingRecipe` holds what is specific to one source: a rename table from the source's
keys onto the target model's, tensor transforms where the layouts differ (a transposed linear, a
fused qkv), the target's ``config.json`` and extra files (``preprocessor_config.json``). The steps
are the same for every source::

    source file ──read_state_dict──► {source key: tensor}          (torch.load(weights_only=True); .onnx: initializers)
                ──recipe.convert───► {target key: tensor}          (every source key renamed or dropped on purpose)
                ──build_target─────► target model, strict load      (check_keys: nothing left over either way)
                ──check_activations► DiffReport vs the source model (compare(align="order"): coverage, divergence)
                ──save_folder──────► <output>/                      (written beside it, renamed into place whole)

:func:`port` runs them all. The source library itself (torchvision, timm) is imported only by the
recipe that needs it; nothing here knows any architecture.

>>> recipe = PortingRecipe("my source", rename={r"features\\.0\\.(.*)": r"stem.\\1"}, config={...})
>>> result = port(recipe, read_state_dict("weights.pth"), MyModelForImageClassification, "out/",
...               source_model=source, inputs=torch.randn(1, 3, 224, 224))     # doctest: +SKIP
>>> result.report.coverage.describe(), result.report.first_divergence()       # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Union

import torch
from torch import nn

from ..errors import CheckpointError
from .diff import compare
from .report import DiffReport

# source key -> target key; None drops the key (say why in the recipe)
KeyMap = Union[Mapping[str, Union[str, None]], Callable[[str], Union[str, None]]]
# half of the larger model's modules is the report's own "low coverage" line; a port should do far better
DEFAULT_MIN_COVERAGE = 0.9


class PortingError(CheckpointError):
    """A port that does not fit: keys left over, shapes that differ, or activations that diverge."""


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a ``.pth`` / ``.pt`` / ``.bin`` (read with ``weights_only=True``: no pickled code
    runs), ``.safetensors`` or ``.onnx`` file (:func:`read_onnx_state_dict`). A training checkpoint that
    nests them under ``"state_dict"`` or ``"model"`` is unwrapped."""
    path = Path(path)
    if path.suffix == ".onnx":
        return read_onnx_state_dict(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle errors come in many types; all mean the same here
        raise PortingError(f"{path} could not be read as a PyTorch state dict with weights_only=True ({error}). "
                           "If it pickles a whole model, load it in its own library and save model.state_dict().") from error
    for wrapper in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict):
            loaded = loaded[wrapper]
    tensors = {key: value for key, value in loaded.items() if isinstance(value, torch.Tensor)} if isinstance(loaded, dict) else {}
    if not tensors:
        raise PortingError(f"{path} holds a {type(loaded).__name__} with no tensors, not a state dict.")
    return tensors


def read_onnx_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The initializers of an ONNX model (external data files beside it included), by initializer name.

    Only initializers are read: what the graph computes is the recipe's business. How the names and
    tensors look depends on the export: ``torch.onnx.export(..., dynamo=True, optimize=False)`` keeps
    every parameter and running statistic under its PyTorch name (``num_batches_tracked``, unused by
    the graph, is not exported), while the default ``optimize=True`` folds each eval-mode BatchNorm
    into the conv before it (``<conv>.weight`` scaled, a new ``<conv>.weight_bias``): the statistics
    are then gone and cannot be recovered, only a function-equivalent port into identity norms."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as error:
        raise ImportError(f"Reading {path} needs the onnx package: pip install onnx.") from error
    model = onnx.load(str(path))  # loads external data from the file's folder
    tensors = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy()) for init in model.graph.initializer}
    if not tensors:
        raise PortingError(f"{path} has no initializers: its weights are inputs or Constant nodes, which a "
                           "recipe cannot map by name. Re-export keeping parameters as initializers.")
    return tensors


def key_mapper(table: KeyMap) -> Callable[[str], Union[str, None]]:
    """A function source key -> target key (or None: dropped) from a callable or a table of
    ``{regex: template}`` (``re.fullmatch``, first match in table order, ``match.expand(template)``).
    A key that no pattern matches raises :class:`PortingError` later, in :meth:`PortingRecipe.convert`."""
    if callable(table) and not isinstance(table, Mapping):
        return table
    compiled = [(re.compile(pattern), template) for pattern, template in table.items()]

    def rename(key: str) -> Union[str, None]:
        for pattern, template in compiled:
            if match := pattern.fullmatch(key):
                return None if template is None else match.expand(template)
        raise KeyError(key)

    return rename


@dataclass
class PortingRecipe:
    """What makes one source's checkpoint a Hugging Face checkpoint.

    ``rename`` maps every source key onto a target key (a ``{regex: template}`` table or a
    callable; None drops a key on purpose). ``transforms`` maps target-key regexes to functions
    ``tensor -> tensor`` applied after renaming (a transpose, a reshape, a split channel order).
    ``config`` is the target's ``config.json`` body (``model_type``, sizes, ``id2label`` ...);
    ``files`` are further JSON files written into the folder (``preprocessor_config.json``).
    ``absent`` maps target-key regexes to why the source lacks them (an ONNX export has no
    ``num_batches_tracked``): those keys keep the freshly built target's value."""

    name: str
    rename: KeyMap
    config: dict[str, Any]
    transforms: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] = field(default_factory=dict)
    files: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    absent: Mapping[str, str] = field(default_factory=dict)

    def convert(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The source tensors under their target names, transformed. Raises :class:`PortingError`
        listing the source keys the table does not cover, or two source keys landing on one target."""
        rename = key_mapper(self.rename)
        transforms = [(re.compile(pattern), function) for pattern, function in self.transforms.items()]
        converted: dict[str, torch.Tensor] = {}
        origin: dict[str, str] = {}
        unmapped, clashes = [], []
        for key, tensor in state.items():
            try:
                target = rename(key)
            except KeyError:
                unmapped.append(key)
                continue
            if target is None:
                continue
            if target in converted:
                clashes.append(f"{origin[target]} and {key} -> {target}")
                continue
            for pattern, function in transforms:
                if pattern.fullmatch(target):
                    tensor = function(tensor)
            converted[target], origin[target] = tensor, key
        if unmapped or clashes:
            raise PortingError(f"The {self.name} recipe's rename table does not fit this checkpoint: "
                               + "; ".join(filter(None, [_listing("source keys no rule matches", unmapped),
                                                          _listing("two source keys on one target", clashes)]))
                               + ". Fix: add a rule for them (None drops a key on purpose).")
        return converted


def _listing(what: str, items: list[str], show: int = 12) -> str:
    if not items:
        return ""
    more = f", ... ({len(items) - show} more)" if len(items) > show else ""
    return f"{len(items)} {what}: {', '.join(items[:show])}{more}"


def check_keys(converted: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], name: str = "the port") -> None:
    """Raise :class:`PortingError` unless ``converted`` has exactly the keys of ``expected`` (a target
    model's ``state_dict()``) with the same shapes; the message lists every key left over either way."""
    missing = [key for key in expected if key not in converted]
    unexpected = [key for key in converted if key not in expected]
    shapes = [f"{key} {tuple(converted[key].shape)} vs {tuple(expected[key].shape)}"
              for key in converted if key in expected and converted[key].shape != expected[key].shape]
    problems = [_listing("target keys nothing fills", missing), _listing("converted keys the target lacks", unexpected),
                _listing("shapes that differ (converted vs target)", shapes)]
    if any(problems):
        raise PortingError(f"{name} does not fill the target model exactly: " + "; ".join(filter(None, problems))
                           + ". Fix the rename table or the transforms (or the target config's sizes).")


def build_target(recipe: PortingRecipe, converted: Mapping[str, torch.Tensor], target_class: type[nn.Module]) -> nn.Module:
    """``target_class`` built from the recipe's config, its every tensor loaded strictly from ``converted``
    (after :func:`check_keys`), in eval mode. Any class with ``config_class`` fits: a workbench model or
    another implementation of the same Hugging Face layout."""
    config = target_class.config_class(**copy.deepcopy(recipe.config))  # the recipe's own dict stays as it is
    model = target_class(config)
    expected = model.state_dict()
    absent = [re.compile(pattern) for pattern in recipe.absent]
    filled = {key: value for key, value in expected.items()
              if key not in converted and any(pattern.fullmatch(key) for pattern in absent)}
    converted = {**converted, **filled}  # the target's own init values for keys the source lacks on purpose
    check_keys(converted, expected, f"The {recipe.name} port")
    model.load_state_dict(converted, strict=True)
    return model.eval()


def check_activations(source_model: nn.Module, ported_model: nn.Module, inputs: Any, *, align: Any = "order",
                      min_coverage: float = DEFAULT_MIN_COVERAGE, **options: Any) -> DiffReport:
    """:func:`~workbench.porting.compare` the source model with the port; raise :class:`PortingError` when
    under ``min_coverage`` of the modules aligned or some module's output diverges past the tolerance.
    ``options`` go to ``compare`` (``atol``, ``rtol``, ``preset``, ``candidate_inputs``)."""
    report = compare(source_model, ported_model, inputs, align=align, **options)
    coverage = report.coverage
    if coverage.fraction < min_coverage:
        raise PortingError(f"The activation check compared too little: {coverage.describe()}, under the "
                           f"{min_coverage:.0%} asked for, so a matching output proves little about the port. "
                           "Fix: align with a mapping {source module regex: ported module name} instead of "
                           f"{align!r}, or lower min_coverage if the models truly differ in structure.\n{report.to_text(30)}")
    diverged = report.first_divergence()
    if diverged is not None:
        raise PortingError(f"The port diverges from its source at {diverged.reference} -> {diverged.candidate} "
                           f"(max abs err {diverged.max_abs_err:.3e}, tolerance atol {report.atol:g} rtol {report.rtol:g}): "
                           f"the tensors there or before it were mapped or transformed wrongly.\n{report.to_text(30)}")
    return report


def save_folder(model: nn.Module, output: str | os.PathLike, files: Mapping[str, dict[str, Any]] | None = None) -> Path:
    """``model.save_pretrained`` plus ``files`` (JSON), written in a new folder beside ``output`` and
    renamed into place whole: a crash leaves the old folder or none, and a save replaces every file
    an older save wrote."""
    from ..training.checkpoints import publish

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        model.save_pretrained(scratch)
        for name, body in (files or {}).items():
            (scratch / name).write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        publish(str(scratch), str(output))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return output


@dataclass
class PortResult:
    """What :func:`port` made: the folder, the ported model (eval mode) and the activation diff
    against the source (None when no source model was given)."""

    folder: Path
    model: nn.Module
    report: DiffReport | None


def port(recipe: PortingRecipe, state: Mapping[str, torch.Tensor], target_class: type[nn.Module],
         output: str | os.PathLike, *, source_model: nn.Module | None = None, inputs: Any = None,
         min_coverage: float = DEFAULT_MIN_COVERAGE, **compare_options: Any) -> PortResult:
    """Convert ``state`` with ``recipe`` into ``target_class``, check every key, check the activations
    against ``source_model`` on ``inputs`` (when given) and only then write ``output``."""
    model = build_target(recipe, recipe.convert(state), target_class)
    report = None
    if source_model is not None:
        if inputs is None:
            raise ValueError("port(source_model=...) needs inputs= to run both models on.")
        report = check_activations(source_model, model, inputs, min_coverage=min_coverage, **compare_options)
    return PortResult(save_folder(model, output, recipe.files), model, report)
