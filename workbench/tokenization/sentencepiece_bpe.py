"""Gemma's tokenizer from its bare SentencePiece BPE model (``tokenizer.model``, no tokenizer.json).

Gemma's SentencePiece model is BPE with byte fallback, no dummy prefix and no normalization rules.
This module rebuilds, as a ``tokenizers.Tokenizer``, the pipeline the reference's GemmaTokenizer
builds from the same file, so that ids, offsets and decoding match it::

    normalizer      every " " becomes "▁" (a text's first word gets none: there is no dummy prefix)
    pre-tokenizer   split on " " (merged with the piece before)
    model           BPE over the pieces in id order, with byte fallback (``<0x41>`` pieces) for
                    characters no piece covers; the merges are every split of a piece into two
                    pieces, ranked by the piece's id, then by the length of the left part
    post-processor  none: ``add_bos_token`` / ``add_eos_token`` (tokenizer_config.json) add them
    decoder         "▁" back to spaces, byte pieces back to bytes, joined

The file's control and user-defined pieces (``<pad>``, ``<start_of_turn>``, ...) become added
tokens, special for control pieces, as in the reference.
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE

_GEMMA_SPECIAL_TOKENS = {"unk_token": "<unk>", "bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>",
                         "mask_token": "<mask>"}


def piece_merges(vocab: dict[str, int]) -> list[tuple[str, str]]:
    """The BPE merges a SentencePiece BPE vocabulary implies: for each piece in id order, each way
    to cut it into two pieces of the vocabulary, shorter left part first."""
    merges = []
    for piece in sorted(vocab, key=vocab.__getitem__):
        merges += [(piece[:cut], piece[cut:]) for cut in range(1, len(piece))
                   if piece[:cut] in vocab and piece[cut:] in vocab]
    return merges


def build_gemma_tokenizer(proto, settings: dict) -> Tokenizer:
    """Gemma's pipeline (see the module docstring) from a ``ModelProto``; updates ``settings``."""
    for key, token in _GEMMA_SPECIAL_TOKENS.items():
        settings.setdefault(key, token)
    vocab = {piece.piece: index for index, piece in enumerate(proto.pieces)}
    backend = Tokenizer(BPE(vocab=vocab, merges=piece_merges(vocab), unk_token=str(settings["unk_token"]),
                            fuse_unk=True, byte_fallback=True))
    backend.normalizer = normalizers.Replace(" ", "▁")
    backend.pre_tokenizer = pre_tokenizers.Split(" ", behavior="merged_with_previous")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    if not settings.get("extra_special_tokens"):
        settings["extra_special_tokens"] = [AddedToken(piece.piece, normalized=False, special=piece.type == piece.CONTROL)
                                            for piece in proto.pieces if piece.type in (piece.CONTROL, piece.USER_DEFINED)]
    return backend
