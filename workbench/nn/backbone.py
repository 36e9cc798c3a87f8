"""Backbones: a vision model's per-stage feature maps, for detection and segmentation heads.

A backbone config names its stages (``stage_names``: ``["stem", "stage1", ...]``) and which of them
the backbone returns, by name (``out_features``) or by position (``out_indices``); setting one sets
the other, and config.json holds both, as the reference writes them. With neither, the last stage.

    stage_names = ["stem", "stage1", "stage2"]; out_indices = [-1]  ->  (["stage2"], [-1])

The config side is :class:`BackboneConfigMixin`, the model side :class:`BackboneMixin`; the output
class is :class:`workbench.outputs.BackboneOutput`.
"""

from __future__ import annotations

from typing import Any

STAGE_KEYS = ("out_features", "out_indices")


def aligned_out_features(stage_names: list[str], out_features: list[str] | None,
                         out_indices: list[int] | tuple[int, ...] | None) -> tuple[list[str], list[int]]:
    """``(out_features, out_indices)`` filled in from each other (the last stage when both are None),
    checked as the reference checks them: known stage names, in the stages' order, without repeats,
    indices in range, and the same stages when both are given. ``out_indices`` keep their sign."""
    out_indices = list(out_indices) if out_indices is not None else None
    if out_features is not None:
        if not isinstance(out_features, list):
            raise ValueError(f"out_features must be a list of stage names from {stage_names}, got {out_features!r}.")
        unknown = [name for name in out_features if name not in stage_names]
        if unknown:
            raise ValueError(f"out_features {unknown} are not stage names of this model: choose from {stage_names}.")
        if out_features != [name for name in stage_names if name in out_features]:
            raise ValueError(f"out_features {out_features} must name each stage once, in the order of {stage_names}.")
    if out_indices is not None:
        count = len(stage_names)
        bad = [index for index in out_indices if not -count <= index < count]
        if bad:
            raise ValueError(f"out_indices {bad} are out of range for the {count} stages {stage_names}.")
        positive = [index % count for index in out_indices]
        if positive != sorted(set(positive)):
            raise ValueError(f"out_indices {out_indices} must name each stage of {stage_names} once, in stage order.")
    if out_features is None and out_indices is None:
        return [stage_names[-1]], [len(stage_names) - 1]
    if out_indices is None:
        return list(out_features), [stage_names.index(name) for name in out_features]
    named = [stage_names[index] for index in out_indices]
    if out_features is not None and out_features != named:
        raise ValueError(f"out_features {out_features} and out_indices {out_indices} name different stages of "
                         f"{stage_names}: give one of them.")
    return named, out_indices


class BackboneConfigMixin:
    """For a config class (before ``PretrainedConfig`` in the bases) with stages ``"stem"``,
    ``"stage1"`` ... (one per ``depths`` entry; override :meth:`default_stage_names` otherwise):
    ``out_features`` / ``out_indices`` kept aligned and written to config.json.

    As in the reference, setting either one later (``config.out_indices = [1]``, or
    ``from_pretrained(path, out_indices=[1])`` / ``from_dict(d, out_indices=[1])``, which set it after
    reading config.json) re-derives the other, so they never name different stages."""

    def __init__(self, **kwargs: Any) -> None:
        # config.json's stage_names is derived again (it follows from the other keys)
        out_features, out_indices = kwargs.pop("out_features", None), kwargs.pop("out_indices", None)
        kwargs.pop("stage_names", None)
        super().__init__(**kwargs)
        object.__setattr__(self, "stage_names", self.default_stage_names())
        self._set_stages(out_features, out_indices)

    def default_stage_names(self) -> list[str]:
        return ["stem"] + [f"stage{index}" for index in range(1, len(self.depths) + 1)]

    def _set_stages(self, out_features: list[str] | None, out_indices: list[int] | None) -> None:
        features, indices = aligned_out_features(self.stage_names, out_features, out_indices)
        object.__setattr__(self, "out_features", features)
        object.__setattr__(self, "out_indices", indices)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in STAGE_KEYS and "stage_names" in self.__dict__:
            self._set_stages(value if name == "out_features" else None, value if name == "out_indices" else None)
        elif name in STAGE_KEYS:  # during __init__ (a default): aligned once stage_names is known
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **overrides: Any):
        """config.json's dict, then ``out_features`` / ``out_indices`` overrides set on it (the other follows)."""
        stages = {key: overrides.pop(key) for key in STAGE_KEYS if key in overrides}
        config = super().from_dict(config_dict, **overrides)
        config.update(stages)
        return config


class BackboneMixin:
    """For a backbone model whose ``num_features`` lists the width of every stage's map (the stem's
    first): the config's stage choice, and ``channels``, the width of each map it returns."""

    num_features: list[int]

    @property
    def stage_names(self) -> list[str]:
        return self.config.stage_names

    @property
    def out_features(self) -> list[str]:
        return self.config.out_features

    @property
    def out_indices(self) -> list[int]:
        return self.config.out_indices

    @property
    def out_feature_channels(self) -> dict[str, int]:
        return dict(zip(self.stage_names, self.num_features))

    @property
    def channels(self) -> list[int]:
        """The width of each returned feature map, in ``out_features`` order."""
        return [self.out_feature_channels[name] for name in self.out_features]


def select_feature_maps(hidden_states: tuple, stage_names: list[str], out_features: list[str]) -> tuple:
    """The hidden states (one per stage, the stem's first) of the stages ``out_features`` names."""
    return tuple(state for name, state in zip(stage_names, hidden_states) if name in out_features)
