"""``tokenizer.pad``: pad features that are already token ids (what data collators do)."""

from __future__ import annotations

from collections.abc import Mapping

from .batch_encoding import BatchEncoding
from .options import PaddingStrategy, check_return_tensors, check_side, resolve_strategies


def pad_features(
    tokenizer,
    encoded_inputs,
    padding=True,
    max_length=None,
    pad_to_multiple_of=None,
    padding_side=None,
    return_attention_mask=None,
    return_tensors=None,
    verbose=True,
) -> BatchEncoding:
    """Pad one example (a dict of lists) or a batch (a dict of lists of lists, or a list of dicts).

    ``input_ids`` get ``pad_token_id``, ``attention_mask`` 0, ``token_type_ids`` ``pad_token_type_id``,
    ``special_tokens_mask`` 1; other keys are left as they are. Tensors in give tensors out.
    """
    if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
        encoded_inputs = {key: [example[key] for example in encoded_inputs] for key in encoded_inputs[0]}
    if not isinstance(encoded_inputs, Mapping):
        raise ValueError(
            "pad() takes a dict of features (like {'input_ids': [[...], ...]}) or a list of such dicts, "
            f"got {type(encoded_inputs).__name__}."
        )
    main = tokenizer.model_input_names[0]
    if main not in encoded_inputs:
        raise ValueError(
            f"pad() needs the {main!r} feature, but the features are {list(encoded_inputs)}. Pass the output "
            "of the tokenizer (or dicts holding its keys)."
        )
    check_side("padding_side", padding_side)
    return_tensors = check_return_tensors(return_tensors)
    features = dict(encoded_inputs)
    if not features[main]:
        if return_attention_mask:
            features["attention_mask"] = []
        return BatchEncoding(features)
    return_tensors = return_tensors or _tensor_type_of(features[main])
    features = {key: _to_lists(value) for key, value in features.items()}
    strategy = resolve_strategies(tokenizer, padding=padding, max_length=max_length, verbose=verbose)
    if return_attention_mask is None:
        return_attention_mask = "attention_mask" in tokenizer.model_input_names
    single = not isinstance(features[main][0], (list, tuple))
    if single:
        rows = [features]
    else:
        rows = [{key: value[i] for key, value in features.items()} for i in range(len(features[main]))]
    target = strategy.max_length
    if strategy.padding is PaddingStrategy.LONGEST:
        target = max(len(row[main]) for row in rows)
    if target is not None and pad_to_multiple_of:
        target = -(-target // pad_to_multiple_of) * pad_to_multiple_of
    side = padding_side or tokenizer.padding_side
    do_pad = strategy.padding is not PaddingStrategy.DO_NOT_PAD
    rows = [_pad_row(tokenizer, row, target if do_pad else None, side, return_attention_mask) for row in rows]
    if single:
        return BatchEncoding(rows[0], tensor_type=return_tensors)
    return BatchEncoding({key: [row[key] for row in rows] for key in rows[0]}, tensor_type=return_tensors)


def _pad_row(tokenizer, row: dict, length: int | None, side: str, attention_mask: bool) -> dict:
    main = tokenizer.model_input_names[0]
    row = dict(row)
    if attention_mask and "attention_mask" not in row:
        row["attention_mask"] = [1] * len(row[main])
    missing = 0 if length is None else length - len(row[main])
    if missing <= 0:
        return row
    fills = {main: tokenizer.pad_token_id, "token_type_ids": tokenizer.pad_token_type_id, "special_tokens_mask": 1}
    if attention_mask:
        fills["attention_mask"] = 0
    for key, fill in fills.items():
        if key in row:
            padding = [fill] * missing
            row[key] = list(row[key]) + padding if side == "right" else padding + list(row[key])
    return row


def _tensor_type_of(value) -> str | None:
    first = value[0] if isinstance(value, (list, tuple)) else value
    if isinstance(first, (list, tuple)) and first:
        first = first[0]
    kind = type(first).__module__.split(".")[0]
    if kind == "torch":
        return "pt"
    if kind == "numpy":
        return "np"
    return None


def _to_lists(value):
    """Tensors and arrays (or lists of them) -> lists; lists of ints are returned as they are."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "tolist"):
        return [item.tolist() for item in value]
    return value
