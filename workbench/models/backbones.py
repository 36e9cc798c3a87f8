"""What a family's ``*Backbone`` (``AutoBackbone``) shares: which stages it outputs.

A backbone config names its stages (``stage_names``: ``["stem", "stage1", ...]``) and picks the ones
whose feature maps the backbone returns, by name (``out_features``) or by position (``out_indices``);
given one, the other follows, given neither, the last stage. config.json holds all three, as the
reference writes them.
"""

from __future__ import annotations

from ..config import PretrainedConfig


def align_out_features(stage_names: list[str], out_features: list[str] | None,
                       out_indices: list[int] | None) -> tuple[list[str], list[int]]:
    """``(out_features, out_indices)`` filled in from each other (the last stage when both are None),
    checked against ``stage_names``: known names, in the stages' order, without repeats, and the same
    stages when both are given."""
    out_indices = list(out_indices) if out_indices is not None else None
    if out_features is not None:
        unknown = [name for name in out_features if name not in stage_names]
        if unknown:
            raise ValueError(f"out_features {unknown} are not stages of this model: choose from {stage_names}.")
        positions = [stage_names.index(name) for name in out_features]
        if positions != sorted(set(positions)):
            raise ValueError(f"out_features {out_features} must follow the stages' order ({stage_names}) without repeats.")
    if out_indices is not None:
        bad = [i for i in out_indices if not -len(stage_names) <= i < len(stage_names)]
        if bad:
            raise ValueError(f"out_indices {bad} are out of range for {len(stage_names)} stages ({stage_names}).")
    if out_features is None and out_indices is None:
        return [stage_names[-1]], [len(stage_names) - 1]
    if out_features is None:
        return [stage_names[i] for i in out_indices], out_indices
    if out_indices is None:
        return list(out_features), [stage_names.index(name) for name in out_features]
    if [stage_names[i] for i in out_indices] != list(out_features):
        raise ValueError(f"out_features {out_features} and out_indices {out_indices} name different stages of "
                         f"{stage_names}: give one of them.")
    return list(out_features), out_indices


def set_stage_outputs(config: PretrainedConfig, num_stages: int) -> None:
    """Give ``config`` its ``stage_names`` ("stem", then "stage1" to "stage<num_stages>") and aligned
    ``out_features`` / ``out_indices`` (from a config's ``__post_init__``)."""
    config.stage_names = ["stem"] + [f"stage{i}" for i in range(1, num_stages + 1)]
    config.out_features, config.out_indices = align_out_features(
        config.stage_names, getattr(config, "out_features", None), getattr(config, "out_indices", None))


def realign_stage_outputs(config: PretrainedConfig, values: dict) -> None:
    """After ``config.update(values)`` (``from_pretrained(..., out_indices=[1])``): the stages ``values``
    names, by ``out_features`` or ``out_indices``, win and the other follows, as the reference's setters do."""
    if "out_features" in values or "out_indices" in values:
        config.out_features, config.out_indices = align_out_features(
            config.stage_names, values.get("out_features"), values.get("out_indices"))
