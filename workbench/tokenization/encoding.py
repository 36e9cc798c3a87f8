"""From ``tokenizers.Encoding`` objects to named features, and the input/encoding errors on the way."""

from __future__ import annotations

from dataclasses import dataclass

from .options import Strategies


# feature name -> the tokenizers.Encoding attribute holding it
_ATTRIBUTES = {
    "input_ids": "ids",
    "token_type_ids": "type_ids",
    "attention_mask": "attention_mask",
    "special_tokens_mask": "special_tokens_mask",
    "offset_mapping": "offsets",
}


@dataclass(frozen=True)
class Outputs:
    """Which features a call returns besides ``input_ids``."""

    token_type_ids: bool
    attention_mask: bool
    overflowing_tokens: bool = False
    special_tokens_mask: bool = False
    offsets_mapping: bool = False
    length: bool = False


def as_batch(text, text_pair, is_split_into_words: bool) -> tuple[bool, list]:
    """``(is_batched, inputs)`` where inputs is what ``encode_batch`` takes (texts, or (a, b) pairs)."""
    if is_split_into_words:
        batched = isinstance(text, (list, tuple)) and bool(text) and isinstance(text[0], (list, tuple))
    else:
        batched = isinstance(text, (list, tuple))
    if not batched:
        # an empty text_pair counts as no pair, as in the reference
        return False, [(text, text_pair)] if text_pair else [text]
    if text_pair is None:
        return True, list(text)
    if isinstance(text_pair, str) or len(text_pair) != len(text):
        got = "a str" if isinstance(text_pair, str) else f"{len(text_pair)} items"
        raise ValueError(
            f"text is a batch of {len(text)}, so text_pair must be a list of {len(text)} texts; got {got}."
        )
    return True, list(zip(text, text_pair))


def feature_names(outputs: Outputs) -> list[str]:
    names = ["input_ids"]
    names += ["token_type_ids"] * outputs.token_type_ids + ["attention_mask"] * outputs.attention_mask
    names += ["special_tokens_mask"] * outputs.special_tokens_mask + ["offset_mapping"] * outputs.offsets_mapping
    names += ["length"] * outputs.length
    return names


def collect_features(encodings: list, outputs: Outputs) -> tuple[dict, list]:
    """Encodings -> ``{feature: [row, ...]}``; with overflowing tokens every window is its own row."""
    names = feature_names(outputs)
    features = {name: [] for name in names}
    rows, sample_of_row = [], []
    for sample, encoding in enumerate(encodings):
        windows = [encoding, *encoding.overflowing] if outputs.overflowing_tokens else [encoding]
        for window in windows:
            rows.append(window)
            sample_of_row.append(sample)
            features["input_ids"].append(window.ids)
            for name in names[1:]:
                features[name].append(len(window.ids) if name == "length" else getattr(window, _ATTRIBUTES[name]))
    if outputs.overflowing_tokens:
        features["overflow_to_sample_mapping"] = sample_of_row
    return features, rows


def encode_error(error: Exception, strategies: Strategies, stride: int) -> ValueError:
    message = str(error)
    settings = f"truncation={strategies.truncation.value!r}, max_length={strategies.max_length}, stride={stride}"
    if "Second sequence not provided" in message:
        fix = "truncation='only_second' needs text_pair; pass pairs or use truncation=True (longest_first)."
    elif "too short" in message:
        fix = (
            "the sequence this strategy may cut is shorter than what must be removed; use truncation=True "
            "(longest_first), which cuts from both, or a larger max_length."
        )
    elif "stride" in message:
        fix = "stride must be smaller than max_length minus the special tokens; lower stride or raise max_length."
    else:
        fix = "check the text and these settings."
    return ValueError(f"Cannot encode with {settings}: {message.strip().rstrip(',')}. Fix: {fix}")

