"""Which stages a backbone outputs: a config's ``out_features`` (stage names) and ``out_indices`` (their
positions in ``stage_names``), either given, the other derived; neither given means the last stage.

    stage_names = ["stem", "stage1", "stage2"]; out_indices = [-1]  ->  (["stage2"], [2])
"""

from __future__ import annotations


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
