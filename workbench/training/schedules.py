"""Learning-rate schedules by name, as multipliers of the optimizer's initial rate.

Each schedule is a ``torch.optim.lr_scheduler.LambdaLR`` over a ``functools.partial`` of a
module-level function, so ``scheduler.state_dict()`` holds only numbers and loads with
``torch.load(weights_only=True)``.

>>> from torch.optim import AdamW
>>> scheduler = get_scheduler("linear", optimizer=AdamW(model.parameters(), lr=5e-5),
...                           num_warmup_steps=0, num_training_steps=1000)     # doctest: +SKIP
"""

from __future__ import annotations

import math
from enum import Enum
from functools import partial

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau


class SchedulerType(str, Enum):
    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    INVERSE_SQRT = "inverse_sqrt"
    REDUCE_ON_PLATEAU = "reduce_lr_on_plateau"
    COSINE_WITH_MIN_LR = "cosine_with_min_lr"


def _warmup(step: int, warmup: int) -> float:
    return step / max(1, warmup)


def _constant(step: int) -> float:
    return 1.0


def _constant_with_warmup(step: int, *, warmup: int) -> float:
    return _warmup(step, warmup) if step < warmup else 1.0


def _linear(step: int, *, warmup: int, total: int) -> float:
    if step < warmup:
        return _warmup(step, warmup)
    return max(0.0, (total - step) / max(1, total - warmup))


def _cosine(step: int, *, warmup: int, total: int, num_cycles: float = 0.5, min_lr_rate: float = 0.0,
            hard_restarts: bool = False) -> float:
    if step < warmup:
        return _warmup(step, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    if hard_restarts:  # num_cycles whole cosines, each restarting from the top
        if progress >= 1.0:
            return 0.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((num_cycles * progress) % 1.0))))
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    return max(0.0, factor * (1 - min_lr_rate) + min_lr_rate)


def _polynomial(step: int, *, warmup: int, total: int, lr_init: float, lr_end: float, power: float) -> float:
    if step < warmup:
        return _warmup(step, warmup)
    if step > total:
        return lr_end / lr_init
    remaining = 1 - (step - warmup) / (total - warmup)
    return ((lr_init - lr_end) * remaining**power + lr_end) / lr_init


def _inverse_sqrt(step: int, *, warmup: int, timescale: int) -> float:
    if step < warmup:
        return _warmup(step, warmup)
    return 1.0 / math.sqrt((step + timescale - warmup) / timescale)


def _need(name: str, **values) -> None:
    missing = [key for key, value in values.items() if value is None]
    if missing:
        raise ValueError(f"The {name!r} schedule needs {' and '.join(missing)}; pass it to get_scheduler.")


def get_scheduler(name: str | SchedulerType, optimizer: Optimizer, num_warmup_steps: int | None = None,
                  num_training_steps: int | None = None, scheduler_specific_kwargs: dict | None = None):
    """A learning-rate scheduler by name: linear, cosine, cosine_with_restarts, polynomial, constant,
    constant_with_warmup, inverse_sqrt, cosine_with_min_lr, reduce_lr_on_plateau."""
    try:
        name = SchedulerType(name)
    except ValueError:
        choices = ", ".join(s.value for s in SchedulerType)
        raise ValueError(f"Unknown lr_scheduler_type {name!r}; choose one of: {choices}.") from None
    extra = dict(scheduler_specific_kwargs or {})
    if name == SchedulerType.CONSTANT:
        return LambdaLR(optimizer, _constant)
    if name == SchedulerType.REDUCE_ON_PLATEAU:
        return ReduceLROnPlateau(optimizer, **extra)
    _need(name.value, num_warmup_steps=num_warmup_steps)
    warmup = int(num_warmup_steps)
    if name == SchedulerType.CONSTANT_WITH_WARMUP:
        return LambdaLR(optimizer, partial(_constant_with_warmup, warmup=warmup))
    if name == SchedulerType.INVERSE_SQRT:
        timescale = extra.pop("timescale", None) or (warmup or 10_000)
        return LambdaLR(optimizer, partial(_inverse_sqrt, warmup=warmup, timescale=timescale))
    _need(name.value, num_training_steps=num_training_steps)
    total = int(num_training_steps)
    if name == SchedulerType.LINEAR:
        schedule = partial(_linear, warmup=warmup, total=total)
    elif name == SchedulerType.COSINE:
        schedule = partial(_cosine, warmup=warmup, total=total, num_cycles=extra.get("num_cycles", 0.5))
    elif name == SchedulerType.COSINE_WITH_RESTARTS:
        schedule = partial(_cosine, warmup=warmup, total=total, num_cycles=extra.get("num_cycles", 1),
                           hard_restarts=True)
    elif name == SchedulerType.COSINE_WITH_MIN_LR:
        rate = extra.get("min_lr_rate")
        if rate is None:
            if "min_lr" not in extra:
                raise ValueError("cosine_with_min_lr needs min_lr or min_lr_rate in lr_scheduler_kwargs.")
            rate = extra["min_lr"] / optimizer.defaults["lr"]
        schedule = partial(_cosine, warmup=warmup, total=total, num_cycles=extra.get("num_cycles", 0.5),
                           min_lr_rate=rate)
    else:  # polynomial
        lr_init = optimizer.defaults["lr"]
        lr_end = extra.get("lr_end", 1e-7)
        if lr_init <= lr_end:
            raise ValueError(f"The polynomial schedule needs lr_end ({lr_end}) below the initial lr ({lr_init}).")
        schedule = partial(_polynomial, warmup=warmup, total=total, lr_init=lr_init, lr_end=lr_end,
                           power=extra.get("power", 1.0))
    return LambdaLR(optimizer, schedule)


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, last_epoch=-1):
    return LambdaLR(optimizer, partial(_linear, warmup=num_warmup_steps, total=num_training_steps), last_epoch)


def get_cosine_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps, num_cycles=0.5, last_epoch=-1):
    schedule = partial(_cosine, warmup=num_warmup_steps, total=num_training_steps, num_cycles=num_cycles)
    return LambdaLR(optimizer, schedule, last_epoch)


def get_constant_schedule(optimizer, last_epoch=-1):
    return LambdaLR(optimizer, _constant, last_epoch)


def get_constant_schedule_with_warmup(optimizer, num_warmup_steps, last_epoch=-1):
    return LambdaLR(optimizer, partial(_constant_with_warmup, warmup=num_warmup_steps), last_epoch)
