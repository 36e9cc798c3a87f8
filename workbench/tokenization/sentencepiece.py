"""Tokenizers from bare SentencePiece models: a ``spiece.model`` with no tokenizer.json beside it.

Older T5-family checkpoints (T5, FLAN-T5, mT5, UMT5) ship only the SentencePiece model their
tokenizer was trained as. The ``sentencepiece`` package (with its ``protobuf`` model reader) opens
the file; this module rebuilds, as a ``tokenizers.Tokenizer``, the pipeline the reference's T5
tokenizer builds from the same file, so that ids, offsets and decoding match it::

    normalizer      the model's own normalization rules (its precompiled charsmap), if it has any
    pre-tokenizer   split on whitespace, then "▁" for each space, one before every word
    model           Unigram over the pieces and their scores, then ``extra_ids`` sentinels
                    ``<extra_id_{N-1}> .. <extra_id_0>`` (so ``<extra_id_0>`` is the last id)
    post-processor  ``A </s>`` and ``A </s> B </s>``
    decoder         "▁" back to spaces

Control pieces (``<pad>``, ``</s>``) and user-defined pieces become added tokens, and the sentinels
special tokens, as in the reference.

DeBERTa-v2 and -v3 (``spm.model``, ``DebertaV2Tokenizer``) build another pipeline from the pieces and
their scores alone (the model's charsmap is not used)::

    normalizer      (lowercase, with ``do_lower_case``), whitespace runs and tabs/newlines to one space,
                    NFC, strip on the right
    pre-tokenizer   (punctuation isolated, with ``split_by_punct``), "▁" before every word (before the
                    first only without ``add_prefix_space``)
    model           Unigram over the pieces; the special tokens [CLS] [SEP] [UNK] [PAD] [MASK] are
                    added tokens (appended when the file lacks them: [MASK] in DeBERTa-v3's)
    post-processor  ``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]`` (token types 0, then 1 for B)

Install with ``pip install "workbench[sentencepiece]"``.
"""

from __future__ import annotations

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram

from ..errors import CheckpointError
from .sentencepiece_bpe import build_gemma_tokenizer

# the model types (config.json) whose tokenizer class is known when tokenizer_config.json names none
MODEL_TYPE_CLASSES = {"t5": "T5Tokenizer", "mt5": "T5Tokenizer", "umt5": "T5Tokenizer",
                      "deberta-v2": "DebertaV2Tokenizer",
                      **dict.fromkeys(("gemma", "gemma2", "gemma3", "gemma3_text"), "GemmaTokenizer")}

# SentencePiece piece types (sentencepiece_model.proto)
_CONTROL, _USER_DEFINED = 3, 4


def read_model_proto(path: str):
    """The ``ModelProto`` of a SentencePiece model file, with a clear error when it cannot be read."""
    try:
        import sentencepiece  # noqa: F401  (checks the package is there before its protobuf module)
        from sentencepiece import sentencepiece_model_pb2
    except ImportError as error:
        raise ImportError(
            f"{path} is a SentencePiece model, and converting it needs the sentencepiece and protobuf packages "
            f"({error}): pip install \"workbench[sentencepiece]\" (or pip install sentencepiece protobuf). "
            "A tokenizer saved with save_pretrained has a tokenizer.json and needs neither."
        ) from None
    proto = sentencepiece_model_pb2.ModelProto()
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        proto.ParseFromString(data)
    except Exception as error:  # protobuf raises its own DecodeError
        raise CheckpointError(f"{path} is not a SentencePiece model ({error}). Re-download it, or point to the "
                              "folder's tokenizer.json instead.") from None
    if not proto.pieces:
        raise CheckpointError(f"{path} holds no SentencePiece vocabulary (no pieces). Re-download the file.")
    return proto


def load_sentencepiece_tokenizer(path: str, settings: dict, model_type: str | None) -> Tokenizer:
    """The backend for the SentencePiece model at ``path``; fills ``settings`` with the special tokens
    and class the reference's tokenizer has (settings already there win)."""
    name = (settings.get("tokenizer_class") or "").removesuffix("Fast") or MODEL_TYPE_CLASSES.get(model_type, "")
    builders = {"DebertaV2Tokenizer": build_deberta_v2_tokenizer, "GemmaTokenizer": build_gemma_tokenizer,
                "T5Tokenizer": build_t5_tokenizer}
    if name not in builders:
        raise CheckpointError(
            f"{path} is a SentencePiece model for {name or 'an unnamed tokenizer class'}; workbench converts "
            f"the SentencePiece models of {', '.join(builders)} only. Save the tokenizer with transformers "
            "(AutoTokenizer.from_pretrained(...).save_pretrained(folder)) to get a tokenizer.json workbench reads."
        )
    settings["tokenizer_class"] = name
    return builders[name](read_model_proto(path), settings)


def build_t5_tokenizer(proto, settings: dict) -> Tokenizer:
    """T5's pipeline (see the module docstring) from a ``ModelProto``; updates ``settings``."""
    extra_ids = int(settings.setdefault("extra_ids", 100))
    for key, token in (("eos_token", "</s>"), ("unk_token", "<unk>"), ("pad_token", "<pad>")):
        settings.setdefault(key, token)
    vocab = [(piece.piece, piece.score) for piece in proto.pieces]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in reversed(range(extra_ids))]
    # the reference fixes unk_id at 2, T5's layout (<pad> 0, </s> 1, <unk> 2), whatever the file says
    backend = Tokenizer(Unigram(vocab, unk_id=2, byte_fallback=False))
    charsmap = proto.normalizer_spec.precompiled_charsmap
    if charsmap:
        backend.normalizer = normalizers.Precompiled(charsmap)
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
    ])
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    settings["extra_special_tokens"] = _t5_extra_special_tokens(proto, settings.get("extra_special_tokens"), extra_ids)
    eos = str(settings["eos_token"])
    eos_id = backend.token_to_id(eos)
    if eos_id is None:
        raise CheckpointError(f"The SentencePiece vocabulary has no {eos!r} piece, which T5 ends every sequence with. "
                              "Pass eos_token= naming a piece it has.")
    backend.post_processor = processors.TemplateProcessing(
        single=["$A", eos], pair=["$A", eos, "$B", eos], special_tokens=[(eos, eos_id)]
    )
    return backend


def _t5_extra_special_tokens(proto, given, extra_ids: int) -> list:
    """What the reference ends up with: the file's control and user-defined pieces (as it reads them
    from the file, in place of a saved list), then the sentinels unless the saved list names them."""
    from_file = [AddedToken(piece.piece, normalized=False, special=piece.type == _CONTROL)
                 for piece in proto.pieces if piece.type in (_CONTROL, _USER_DEFINED)]
    given = list(given or [])
    if any("<extra_id_" in str(token) for token in given):
        return given
    return from_file + [f"<extra_id_{i}>" for i in range(extra_ids)]


# DebertaV2Tokenizer's special tokens, in the order the reference registers them
_DEBERTA_SPECIAL_TOKENS = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
                           "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}


def build_deberta_v2_tokenizer(proto, settings: dict) -> Tokenizer:
    """DeBERTa-v2's pipeline (see the module docstring) from a ``ModelProto``; updates ``settings``."""
    for key, token in _DEBERTA_SPECIAL_TOKENS.items():
        settings.setdefault(key, token)
    vocab = [(piece.piece, piece.score) for piece in proto.pieces]
    unk = str(settings["unk_token"])
    # the unknown piece, as the reference finds it (a control piece scores 0); else its default id 1
    unk_id = vocab.index((unk, 0.0)) if (unk, 0.0) in vocab else int(settings.get("unk_id", 1))
    backend = Tokenizer(Unigram(vocab, unk_id=unk_id, byte_fallback=False))
    lower = [normalizers.Lowercase()] if settings.get("do_lower_case", False) else []
    backend.normalizer = normalizers.Sequence(lower + [
        normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "), normalizers.NFC(), normalizers.Strip(left=False, right=True),
    ])
    scheme = "always" if settings.get("add_prefix_space", True) else "first"
    punctuation = [pre_tokenizers.Punctuation(behavior="isolated")] if settings.get("split_by_punct", False) else []
    backend.pre_tokenizer = pre_tokenizers.Sequence(punctuation + [pre_tokenizers.Metaspace(replacement="▁",
                                                                                           prepend_scheme=scheme)])
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=scheme)
    specials = dict.fromkeys(str(settings[key]) for key in _DEBERTA_SPECIAL_TOKENS)  # in order, without repeats
    backend.add_special_tokens([AddedToken(token, normalized=False, special=True) for token in specials])
    cls, sep = str(settings["cls_token"]), str(settings["sep_token"])
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0", pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, backend.token_to_id(cls)), (sep, backend.token_to_id(sep))],
    )
    return backend
