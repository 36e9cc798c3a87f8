"""Backbones: a vision model's per-stage feature maps, for detection and segmentation heads.

A backbone config names its stages (``stage_names``: ``["stem", "stage1", ...]``) and which of them
the backbone returns, by name (``out_features``) or by position (``out_indices``); setting one sets
the other, and config.json holds both, as the reference writes them. With neither, the last stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..outputs import ModelOutput, Tensors


@dataclass
class BackboneOutput(ModelOutput):
    """``feature_maps``: one (B, C_i, H_i, W_i) map per ``out_features`` stage, in stage order."""

    feature_maps: Tensors = None
    hidden_states: Tensors = None
    attentions: Tensors = None


def aligned_out_features(stage_names: list[str], out_features: list[str] | None,
                         out_indices: list[int] | tuple[int, ...] | None) -> tuple[list[str], list[int]]:
    """``out_features`` and ``out_indices`` naming the same stages (the last stage when neither is
    given), checked: known stages, no repeats, in stage order, and the two agreeing when both are given."""
    out_indices = list(out_indices) if out_indices is not None else None
    if out_features is not None:
        if not isinstance(out_features, list) or any(name not in stage_names for name in out_features):
            raise ValueError(f"out_features must be a list of stage names from {stage_names}, got {out_features!r}.")
        if out_features != [name for name in stage_names if name in out_features]:
            raise ValueError(f"out_features must name each stage once, in the order of {stage_names}: got {out_features}.")
    if out_indices is not None:
        positive = [index % len(stage_names) if -len(stage_names) <= index < 0 else index for index in out_indices]
        if any(not 0 <= index < len(stage_names) for index in positive) or positive != sorted(set(positive)):
            raise ValueError(f"out_indices must be distinct indices of {stage_names}, in stage order: got {out_indices}.")
    if out_features is None and out_indices is None:
        return [stage_names[-1]], [len(stage_names) - 1]
    if out_indices is None:
        return out_features, [stage_names.index(name) for name in out_features]
    if out_features is None:
        return [stage_names[index] for index in out_indices], out_indices
    if out_features != [stage_names[index] for index in out_indices]:
        raise ValueError(f"out_features {out_features} and out_indices {out_indices} name different stages of "
                         f"{stage_names}: give one of them.")
    return out_features, out_indices


class BackboneConfigMixin:
    """For a config class (before ``PretrainedConfig`` in the bases) whose ``default_stage_names()``
    lists its stages: ``out_features`` / ``out_indices`` kept aligned, written to config.json."""

    def __init__(self, **kwargs: Any) -> None:
        out_features, out_indices = kwargs.pop("out_features", None), kwargs.pop("out_indices", None)
        super().__init__(**kwargs)
        self.stage_names = self.default_stage_names()
        self.set_output_features_output_indices(out_features, out_indices)

    def default_stage_names(self) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} must name its stages (default_stage_names).")

    def set_output_features_output_indices(self, out_features: list[str] | None, out_indices: list[int] | None) -> None:
        features, indices = aligned_out_features(self.stage_names, out_features, out_indices)
        object.__setattr__(self, "_out_features", features)
        object.__setattr__(self, "_out_indices", indices)

    @property
    def out_features(self) -> list[str]:
        return self._out_features

    @out_features.setter
    def out_features(self, names: list[str] | None) -> None:
        self.set_output_features_output_indices(names, None)

    @property
    def out_indices(self) -> list[int]:
        return self._out_indices

    @out_indices.setter
    def out_indices(self, indices: list[int] | None) -> None:
        self.set_output_features_output_indices(None, indices)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["out_features"], out["out_indices"] = out.pop("_out_features"), out.pop("_out_indices")
        return dict(sorted(out.items()))


def select_feature_maps(hidden_states: tuple, stage_names: list[str], out_features: list[str]) -> tuple:
    """The hidden states (one per stage, the stem's first) of the stages ``out_features`` names."""
    return tuple(state for name, state in zip(stage_names, hidden_states) if name in out_features)

def select_stages(stage_names: list[str], out_features: list[str] | None,
                  out_indices: list[int] | tuple[int, ...] | None) -> tuple[list[str], list[int]]:
    """(out_features, out_indices), aligned with each other and in ``stage_names`` order."""
    if out_features is None and out_indices is None:
        return [stage_names[-1]], [len(stage_names) - 1]
    if out_indices is not None:
        indices = [index % len(stage_names) if index < 0 else index for index in out_indices]
        if any(index >= len(stage_names) for index in indices) or indices != sorted(set(indices)):
            raise ValueError(f"out_indices {list(out_indices)} must be distinct, increasing positions in "
                             f"stage_names {stage_names}: fix the config.")
        named = [stage_names[index] for index in indices]
        if out_features is not None and list(out_features) != named:
            raise ValueError(f"out_features {out_features} and out_indices {list(out_indices)} name different stages "
                             f"of {stage_names}: set only one of them.")
        return named, list(out_indices)
    unknown = [name for name in out_features if name not in stage_names]
    ordered = [name for name in stage_names if name in out_features]
    if unknown or list(out_features) != ordered:
        raise ValueError(f"out_features {out_features} must be distinct stage names, in the order of {stage_names}: "
                         f"fix the config.")
    return list(out_features), [stage_names.index(name) for name in out_features]
