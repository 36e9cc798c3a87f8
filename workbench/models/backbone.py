"""What every backbone (``AutoBackbone``: a model's per-stage feature maps for a detection or
segmentation head) shares: the config's ``stage_names`` and which of them it outputs.

``out_features`` (stage names) and ``out_indices`` (their positions in ``stage_names``) say the same
thing twice, as config.json writes both; setting either one sets the other, as in the reference.
Neither given: the last stage.
"""

from __future__ import annotations

from typing import Any


def aligned_out_features(stage_names: list[str], out_features: list[str] | None,
                         out_indices: list[int] | None) -> tuple[list[str], list[int]]:
    """``(out_features, out_indices)`` filled in from each other, checked against ``stage_names``."""
    if out_features is not None:
        unknown = [name for name in out_features if name not in stage_names]
        if unknown:
            raise ValueError(f"out_features {list(out_features)} names stages {unknown} the model does not have: "
                             f"choose among {stage_names}.")
        if list(out_features) != [name for name in stage_names if name in out_features]:
            raise ValueError(f"out_features {list(out_features)} must be distinct and in the order of {stage_names}.")
    if out_indices is not None:
        count = len(stage_names)
        positive = [index % count for index in out_indices if -count <= index < count]
        if len(positive) != len(out_indices) or positive != sorted(set(positive)):
            raise ValueError(f"out_indices {list(out_indices)} must be distinct positions in stage_names {stage_names}, "
                             "in increasing order.")
    if out_features is None and out_indices is None:
        return [stage_names[-1]], [len(stage_names) - 1]
    if out_features is None:
        return [stage_names[i] for i in out_indices], list(out_indices)
    indices = [stage_names.index(name) for name in out_features]
    if out_indices is not None and [stage_names[i] for i in out_indices] != list(out_features):
        raise ValueError(f"out_features {list(out_features)} and out_indices {list(out_indices)} name different "
                         f"stages of {stage_names}: give one of them.")
    return list(out_features), indices if out_indices is None else list(out_indices)


class BackboneConfigMixin:
    """Mixed into a family's config before :class:`~workbench.config.PretrainedConfig`: the family's
    ``__post_init__`` sets ``stage_names`` and calls :meth:`align_out_features`; afterwards setting
    ``out_features`` or ``out_indices`` (``AutoBackbone.from_pretrained(path, out_features=[...])``)
    recomputes the other."""

    def align_out_features(self) -> None:
        features, indices = aligned_out_features(self.stage_names, self.__dict__.get("out_features"),
                                                 self.__dict__.get("out_indices"))
        object.__setattr__(self, "out_features", features)
        object.__setattr__(self, "out_indices", indices)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in ("out_features", "out_indices") and value is not None and "stage_names" in self.__dict__:
            features, indices = aligned_out_features(self.stage_names, value if name == "out_features" else None,
                                                     value if name == "out_indices" else None)
            object.__setattr__(self, "out_features", features)
            object.__setattr__(self, "out_indices", indices)


class BackboneMixin:
    """Mixed into a backbone model: ``out_features``, and ``channels`` (the width of each feature map
    it outputs) from ``num_features``, the width of every stage, which the model sets."""

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
        return [self.out_feature_channels[name] for name in self.out_features]
