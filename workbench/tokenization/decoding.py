"""Decoding: token ids -> text, for ``PreTrainedTokenizerFast.decode`` / ``.batch_decode``.

The ``tokenizers`` backend turns ids into text; here are the input shapes it accepts (an int, a
list, a batch, a tensor or array, a ``BatchEncoding``), the error for ids that are not token ids
(labels' ``-100``), and the WordPiece clean-up of spaces before punctuation.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

_CLEANUPS = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
    (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip


def decode(tokenizer, token_ids, skip_special_tokens: bool = False,
           clean_up_tokenization_spaces: bool | None = None) -> str | list[str]:
    """Ids -> text. A batch (list of lists, 2-D tensor) gives a list of texts."""
    ids = to_python(token_ids)
    if isinstance(ids, Mapping):
        ids = to_python(ids["input_ids"])
    if isinstance(ids, int):
        ids = [ids]
    if ids and isinstance(ids[0], (list, tuple)):
        return [tokenizer.decode(row, skip_special_tokens, clean_up_tokenization_spaces) for row in ids]
    try:
        text = tokenizer._tokenizer.decode([int(index) for index in ids], skip_special_tokens=skip_special_tokens)
    except (OverflowError, TypeError, ValueError) as error:
        raise ValueError(
            f"Cannot decode {str(ids)[:80]}: token ids must be non-negative ints ({error}). Labels use -100 "
            "for ignored positions; replace it first, e.g. ids[ids == -100] = tokenizer.pad_token_id."
        ) from None
    return _clean_up(tokenizer, text, clean_up_tokenization_spaces)


def batch_decode(tokenizer, sequences, skip_special_tokens: bool = False,
                 clean_up_tokenization_spaces: bool | None = None) -> list[str]:
    """Decode each sequence of a batch; always returns a list."""
    texts = tokenizer.decode(sequences, skip_special_tokens, clean_up_tokenization_spaces)
    return [texts] if isinstance(texts, str) else texts


def clean_up_tokenization(text: str) -> str:
    """Remove the spaces WordPiece decoding leaves before punctuation and English contractions."""
    for spaced, joined in _CLEANUPS:
        text = text.replace(spaced, joined)
    return text


def _clean_up(tokenizer, text: str, clean_up: bool | None) -> str:
    if not (tokenizer.clean_up_tokenization_spaces if clean_up is None else clean_up):
        return text
    is_bpe = type(tokenizer._tokenizer.model).__name__ == "BPE"
    if is_bpe and not tokenizer.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output:
        if "bpe_cleanup" not in tokenizer._warned:
            tokenizer._warned.add("bpe_cleanup")
            warnings.warn(
                "Ignoring clean_up_tokenization_spaces=True: the cleanup is written for WordPiece and "
                "deletes real spaces from BPE output. Pass clean_up_tokenization_spaces=False.",
                stacklevel=3,
            )
        return text
    return tokenizer.clean_up_tokenization(text)


def to_python(value):
    """Tensors and arrays -> (nested) lists or ints."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
