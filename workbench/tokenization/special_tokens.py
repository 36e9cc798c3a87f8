"""Special-token bookkeeping: which tokens are bos/eos/pad/..., and which extra tokens are special.

The named tokens live in one dict on the tokenizer (``tokenizer._special_tokens``); ``NamedToken``
descriptors expose them as ``tokenizer.pad_token`` and ``tokenizer.pad_token_id``.
"""

from __future__ import annotations

from tokenizers import AddedToken

STANDARD_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


class NamedToken:
    """``tokenizer.<name>_token`` (a str) or ``tokenizer.<name>_token_id`` (an int), both settable.

    Setting a token that is not in the vocabulary only records it; ``add_special_tokens`` adds it.
    """

    def __set_name__(self, owner, name: str):
        self.name = name
        self.key = name.removesuffix("_id")
        self.as_id = name.endswith("_id")

    def __get__(self, tokenizer, owner=None):
        if tokenizer is None:
            return self
        return tokenizer._special_token_value(self.key, self.as_id)

    def __set__(self, tokenizer, value):
        tokenizer._set_special_token(self.key, value, from_id=self.as_id)


def split_special_tokens_settings(settings: dict) -> tuple[dict, list]:
    """Pop the special tokens out of ``settings``: ``({name: token}, extra_tokens)``.

    Besides the seven standard names, any ``*_token`` setting holding a token (``image_token``, say)
    and a dict-valued ``extra_special_tokens`` become named, model-specific special tokens.
    """
    named = dict.fromkeys(STANDARD_SPECIAL_TOKENS)
    extra: list = []
    for key in list(settings):
        value = settings[key]
        if key in STANDARD_SPECIAL_TOKENS:
            settings.pop(key)
            if value is not None:
                named[key] = check_token(key, value)
        elif key == "extra_special_tokens":
            settings.pop(key)
            if isinstance(value, dict):
                named.update({name: check_token(name, token) for name, token in value.items()})
            elif value is not None:
                extra = [check_token(key, token) for token in value]
        elif key.endswith("_token") and isinstance(value, (str, AddedToken)):
            named[key] = settings.pop(key)
    return named, extra


def check_token(name: str, value):
    if not isinstance(value, (str, AddedToken)):
        raise ValueError(
            f"{name}={value!r} must be a str or a tokenizers.AddedToken, not {type(value).__name__}."
        )
    return value


def as_special(token) -> AddedToken:
    """A special ``AddedToken`` for ``token``: never split, never normalized, skipped by decode."""
    if isinstance(token, AddedToken):
        return token
    return AddedToken(token, rstrip=False, lstrip=False, normalized=False, special=True)


def tokens_to_register(tokenizer, added_tokens_decoder: dict) -> list[AddedToken]:
    """Tokens the backend must learn: saved added tokens it lacks, then special tokens it lacks.

    A special token is registered even when the base vocabulary has it, so that it is never split
    and decode can skip it (this keeps its id).
    """
    present = set(tokenizer.added_tokens_encoder)
    wanted = [token for _, token in sorted(added_tokens_decoder.items()) if str(token) not in present]
    seen = present | {str(token) for token in wanted}
    for token in [*tokenizer._special_tokens.values(), *tokenizer._extra_special_tokens]:
        if token is not None and str(token) not in seen:
            wanted.append(token)
            seen.add(str(token))
    named = {str(token) for token in tokenizer._special_tokens.values() if token is not None}
    tokens = []
    for token in wanted:
        if isinstance(token, str):
            token = AddedToken(token, special=True)
        elif str(token) in named and not token.special:
            token.special = True
        tokens.append(token)
    return tokens
