"""The ALBERT and CamemBERT pipelines from their bare SentencePiece models.

What the reference's ``AlbertTokenizer`` builds from ``spiece.model``::

    normalizer      ``\u0060\u0060`` and ``''`` to ``"``, then NFKD + strip accents (unless
                    ``keep_accents``), lowercase (unless ``do_lower_case`` is false), the model's
                    precompiled charsmap
    pre-tokenizer   split on whitespace, "▁" before every word
    model           Unigram over the file's pieces, unknown id fixed at 1 (ALBERT's layout:
                    ``<pad>`` 0, ``<unk>`` 1, ``[CLS]`` 2, ``[SEP]`` 3, ``[MASK]`` 4)
    post-processor  ``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]`` (token types 0, then 1)

and its ``CamembertTokenizer`` from ``sentencepiece.bpe.model`` (fairseq's dictionary layout)::

    normalizer      the model's precompiled charsmap
    pre-tokenizer   split on whitespace, "▁" before every word
    model           Unigram over ``<s>NOTUSED <pad> </s>NOTUSED <unk> <unk>NOTUSED``, the file's
                    pieces but its first (so ``<s>`` is 5 and ``</s>`` 6), then ``<mask>``
    post-processor  ``<s> A </s>`` and ``<s> A </s> </s> B </s>``

In both, the file's control and user-defined pieces become extra special tokens, as the reference
reads them from the file.
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

from ..errors import CheckpointError

# SentencePiece piece types (sentencepiece_model.proto)
_CONTROL, _USER_DEFINED = 3, 4

_ALBERT_SPECIAL_TOKENS = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "<unk>", "sep_token": "[SEP]",
                          "pad_token": "<pad>", "cls_token": "[CLS]", "mask_token": "[MASK]"}
_CAMEMBERT_SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                             "unk_token": "<unk>", "pad_token": "<pad>"}


def build_albert_tokenizer(proto, settings: dict) -> Tokenizer:
    """ALBERT's pipeline (see the module docstring) from a ``ModelProto``; updates ``settings``."""
    for key, token in _ALBERT_SPECIAL_TOKENS.items():
        settings.setdefault(key, token)
    backend = Tokenizer(Unigram([(piece.piece, piece.score) for piece in proto.pieces], unk_id=1, byte_fallback=False))
    steps = [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
    if not settings.get("keep_accents", False):
        steps += [normalizers.NFKD(), normalizers.StripAccents()]
    if settings.get("do_lower_case", True):
        steps.append(normalizers.Lowercase())
    if proto.normalizer_spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
    backend.normalizer = normalizers.Sequence(steps)
    _split_words(backend, settings)
    cls_id, sep_id = (_piece_id(backend, settings, key, "ALBERT") for key in ("cls_token", "sep_token"))
    # the template names [CLS] and [SEP] whatever the tokens are called; the ids are the tokens'
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    _file_special_tokens(proto, settings)
    return backend


def build_camembert_tokenizer(proto, settings: dict) -> Tokenizer:
    """CamemBERT's pipeline (see the module docstring) from a ``ModelProto``; updates ``settings``."""
    for key, token in _CAMEMBERT_SPECIAL_TOKENS.items():
        settings.setdefault(key, token)
    mask = settings.get("mask_token", "<mask>")
    # the mask token takes the space before it ("Paris est <mask>." predicts "▁capitale")
    settings["mask_token"] = AddedToken(mask, lstrip=True, special=True) if isinstance(mask, str) else mask
    unk = str(settings["unk_token"])
    vocab = [("<s>NOTUSED", 0.0), (str(settings["pad_token"]), 0.0), ("</s>NOTUSED", 0.0), (unk, 0.0),
             ("<unk>NOTUSED", -100.0)]
    vocab += [(piece.piece, piece.score) for piece in proto.pieces[1:]]  # the file's <unk> is replaced above
    vocab.append((str(settings["mask_token"]), 0.0))
    backend = Tokenizer(Unigram(vocab, unk_id=3, byte_fallback=False))
    if proto.normalizer_spec.precompiled_charsmap:
        backend.normalizer = normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap)
    _split_words(backend, settings)
    bos, eos = str(settings["bos_token"]), str(settings["eos_token"])
    bos_id, eos_id = (_piece_id(backend, settings, key, "CamemBERT") for key in ("bos_token", "eos_token"))
    backend.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, bos_id), (eos, eos_id)],
    )
    _file_special_tokens(proto, settings)
    return backend


def _split_words(backend: Tokenizer, settings: dict) -> None:
    """Whitespace split, then "▁" before every word (before the first too, unless add_prefix_space is false)."""
    scheme = "always" if settings.get("add_prefix_space", True) else "never"
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme, split=True),
    ])
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=scheme, split=True)


def _piece_id(backend: Tokenizer, settings: dict, key: str, family: str) -> int:
    token = str(settings[key])
    index = backend.token_to_id(token)
    if index is None:
        raise CheckpointError(f"The SentencePiece vocabulary has no {token!r} piece, which {family} inputs use as "
                              f"{key}. Pass {key}= naming a piece it has.")
    return index


def _file_special_tokens(proto, settings: dict) -> None:
    """The file's control and user-defined pieces, as extra special tokens (the reference reads them
    from the file in place of a saved list)."""
    settings["extra_special_tokens"] = [AddedToken(piece.piece, normalized=False, special=piece.type == _CONTROL)
                                        for piece in proto.pieces if piece.type in (_CONTROL, _USER_DEFINED)]
