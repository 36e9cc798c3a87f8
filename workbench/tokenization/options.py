"""The keyword arguments of ``tokenizer(...)``, checked and turned into strategies.

Every bad value is caught here, before the ``tokenizers`` library sees it, so the error names the
argument, the values it accepts and the fix instead of surfacing from Rust.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import Enum

VERY_LARGE_INTEGER = int(1e30)  # model_max_length of a tokenizer that sets none
LARGE_INTEGER = int(1e20)  # above this, model_max_length counts as "no limit"

SIDES = ("right", "left")
TENSOR_TYPES = ("pt", "np")


class PaddingStrategy(str, Enum):
    LONGEST = "longest"
    MAX_LENGTH = "max_length"
    DO_NOT_PAD = "do_not_pad"


class TruncationStrategy(str, Enum):
    ONLY_FIRST = "only_first"
    ONLY_SECOND = "only_second"
    LONGEST_FIRST = "longest_first"
    DO_NOT_TRUNCATE = "do_not_truncate"


_PADDING_HELP = (
    "True or 'longest' (pad to the longest sequence in the batch), 'max_length' (pad to max_length, "
    "or to model_max_length when max_length is not given), False or 'do_not_pad'"
)
_TRUNCATION_HELP = (
    "True or 'longest_first' (trim the longer sequence of a pair first), 'only_first', "
    "'only_second', False or 'do_not_truncate'"
)


@dataclass(frozen=True)
class Strategies:
    padding: PaddingStrategy
    truncation: TruncationStrategy
    max_length: int | None


def parse_padding(padding) -> PaddingStrategy:
    if padding is None or padding is False:
        return PaddingStrategy.DO_NOT_PAD
    if padding is True:
        return PaddingStrategy.LONGEST
    try:
        return PaddingStrategy(getattr(padding, "value", padding))
    except ValueError:
        raise ValueError(f"padding={padding!r} is not a padding strategy. Use one of: {_PADDING_HELP}.") from None


def parse_truncation(truncation) -> TruncationStrategy:
    if truncation is None or truncation is False:
        return TruncationStrategy.DO_NOT_TRUNCATE
    if truncation is True:
        return TruncationStrategy.LONGEST_FIRST
    try:
        return TruncationStrategy(getattr(truncation, "value", truncation))
    except ValueError:
        raise ValueError(
            f"truncation={truncation!r} is not a truncation strategy. Use one of: {_TRUNCATION_HELP}."
        ) from None


def resolve_strategies(
    tokenizer, padding=False, truncation=None, max_length=None, pad_to_multiple_of=None, verbose=True
) -> Strategies:
    """Turn ``padding``/``truncation``/``max_length`` into strategies the way the reference does.

    ``max_length`` alone (no padding, truncation left unset) means "truncate to max_length". A strategy
    that needs a length falls back to ``model_max_length``, and is dropped when that is unset.
    """
    if max_length is not None and padding in (None, False) and truncation is None:
        truncation = TruncationStrategy.LONGEST_FIRST
    padding_strategy = parse_padding(padding)
    truncation_strategy = parse_truncation(truncation)
    if max_length is not None and not isinstance(max_length, int):
        raise ValueError(f"max_length={max_length!r} must be an int (a number of tokens) or None.")
    if padding is True and max_length is not None and truncation_strategy is TruncationStrategy.DO_NOT_TRUNCATE:
        if verbose:
            warnings.warn(
                "max_length is ignored when padding=True and there is no truncation; to pad to max_length "
                "use padding='max_length'.",
                stacklevel=3,
            )
    if max_length is None:
        has_limit = tokenizer.model_max_length <= LARGE_INTEGER
        needs_length = (
            padding_strategy is PaddingStrategy.MAX_LENGTH
            or truncation_strategy is not TruncationStrategy.DO_NOT_TRUNCATE
        )
        if needs_length and has_limit:
            max_length = tokenizer.model_max_length
        elif needs_length:
            _warn_no_length(padding_strategy, truncation_strategy, verbose)
            if padding_strategy is PaddingStrategy.MAX_LENGTH:
                padding_strategy = PaddingStrategy.DO_NOT_PAD
            truncation_strategy = TruncationStrategy.DO_NOT_TRUNCATE
    if padding_strategy is not PaddingStrategy.DO_NOT_PAD:
        check_can_pad(tokenizer, padding)
    if (
        pad_to_multiple_of is not None
        and max_length is not None
        and padding_strategy is not PaddingStrategy.DO_NOT_PAD
        and truncation_strategy is not TruncationStrategy.DO_NOT_TRUNCATE
        and max_length % pad_to_multiple_of != 0
    ):
        raise ValueError(
            f"Truncation and padding are both on, but max_length={max_length} is not a multiple of "
            f"pad_to_multiple_of={pad_to_multiple_of}. Pick a max_length divisible by {pad_to_multiple_of}."
        )
    return Strategies(padding_strategy, truncation_strategy, max_length)


def _warn_no_length(padding: PaddingStrategy, truncation: TruncationStrategy, verbose: bool) -> None:
    if not verbose:
        return
    asked = []
    if padding is PaddingStrategy.MAX_LENGTH:
        asked.append("padding='max_length'")
    if truncation is not TruncationStrategy.DO_NOT_TRUNCATE:
        asked.append(f"truncation={truncation.value!r}")
    warnings.warn(
        f"{' and '.join(asked)} without max_length, and this tokenizer sets no model_max_length: "
        "nothing is padded or truncated. Pass max_length=.",
        stacklevel=4,
    )


def check_can_pad(tokenizer, padding) -> None:
    if tokenizer.pad_token is None or tokenizer.pad_token_id is None or tokenizer.pad_token_id < 0:
        raise ValueError(
            f"padding={padding!r} needs a pad token, and this tokenizer has none. Set one, e.g. "
            "tokenizer.pad_token = tokenizer.eos_token, or add a new one with "
            "tokenizer.add_special_tokens({'pad_token': '[PAD]'})."
        )


def check_side(name: str, side: str | None) -> None:
    if side is not None and side not in SIDES:
        raise ValueError(f"{name}={side!r} is not a side. Use 'right' or 'left'.")


def check_return_tensors(return_tensors) -> str | None:
    value = getattr(return_tensors, "value", return_tensors)
    if value is None or value in TENSOR_TYPES:
        return value
    raise ValueError(
        f"return_tensors={return_tensors!r} is not supported. Use 'pt' (torch.Tensor), 'np' (numpy.ndarray) "
        "or None (Python lists)."
    )


def is_text_input(value) -> bool:
    """A str, a list of str, a list of lists (or pairs) of str, or a list of pairs of lists of str."""
    if isinstance(value, str):
        return True
    if not isinstance(value, (list, tuple)):
        return False
    if len(value) == 0 or isinstance(value[0], str):
        return True
    if not isinstance(value[0], (list, tuple)):
        return False
    inner = value[0]
    if len(inner) == 0 or isinstance(inner[0], str):
        return True
    return isinstance(inner[0], (list, tuple)) and (len(inner[0]) == 0 or isinstance(inner[0][0], str))


def check_text_input(name: str, value) -> None:
    if not is_text_input(value):
        raise text_input_error(name, value)


def text_input_error(name: str, value, detail: str = "") -> ValueError:
    got = f"got {_describe(value)}" + (f" ({detail})" if detail else "")
    return ValueError(
        f"{name} must be a str (one example), a list of str (a batch, or one pre-split example with "
        "is_split_into_words=True), a list of lists of str (a batch of pre-split examples) or a list "
        f"of (text, text_pair) tuples; {got}. Convert the input to str first."
    )


def _describe(value) -> str:
    if isinstance(value, (list, tuple)) and value:
        return f"a {type(value).__name__} of {type(value[0]).__name__}"
    return f"{type(value).__name__} {value!r}"[:120]
