"""Tokenizers from a byte-level BPE vocabulary in two files, ``vocab.json`` and ``merges.txt``, with
no tokenizer.json beside them (DeBERTa's checkpoints, ``microsoft/deberta-base`` and its kin).

The reference's DebertaTokenizer builds from them::

    model           BPE over the vocabulary and merges (no unknown token: every byte is in the vocabulary)
    pre-tokenizer   GPT-2's byte-level split (a space before the first word only with ``add_prefix_space``)
    special tokens  [CLS] [SEP] [UNK] [PAD] [MASK], appended when the vocabulary lacks them
    post-processor  ``[CLS] A [SEP]`` and ``[CLS] A [SEP] [SEP] B [SEP]`` (token types all 0)
    decoder         byte-level
"""

from __future__ import annotations

from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import BPE

from ..errors import CheckpointError

VOCAB_JSON, MERGES_FILE = "vocab.json", "merges.txt"
# the model types (config.json) whose tokenizer class is known when tokenizer_config.json names none
MODEL_TYPE_CLASSES = {"deberta": "DebertaTokenizer"}
# DebertaTokenizer's special tokens, in the order the reference registers them
_DEBERTA_SPECIAL_TOKENS = {"bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]",
                           "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}


def load_bpe_files_tokenizer(vocab_path: str, merges_path: str, settings: dict, model_type: str | None) -> Tokenizer:
    """The backend for ``vocab.json`` + ``merges.txt``; fills ``settings`` with the special tokens and
    class the reference's tokenizer has (settings already there win)."""
    name = (settings.get("tokenizer_class") or "").removesuffix("Fast") or MODEL_TYPE_CLASSES.get(model_type, "")
    if name != "DebertaTokenizer":
        raise CheckpointError(
            f"{vocab_path} and {MERGES_FILE} hold a BPE vocabulary for {name or 'an unnamed tokenizer class'}; "
            "workbench converts these files for DebertaTokenizer only. Save the tokenizer with transformers "
            "(AutoTokenizer.from_pretrained(...).save_pretrained(folder)) to get a tokenizer.json workbench reads."
        )
    settings["tokenizer_class"] = name
    for key, token in _DEBERTA_SPECIAL_TOKENS.items():
        settings.setdefault(key, token)
    vocab, merges = BPE.read_file(vocab_path, merges_path)
    backend = Tokenizer(BPE(vocab, merges, dropout=None, unk_token=None, continuing_subword_prefix="",
                            end_of_word_suffix="", fuse_unk=False))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=bool(settings.get("add_prefix_space", False)))
    backend.decoder = decoders.ByteLevel()
    specials = dict.fromkeys(str(settings[key]) for key in _DEBERTA_SPECIAL_TOKENS)  # in order, without repeats
    backend.add_special_tokens([AddedToken(token, normalized=False, special=True) for token in specials])
    cls, sep = str(settings["cls_token"]), str(settings["sep_token"])
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} {sep} $B {sep}",
        special_tokens=[(cls, backend.token_to_id(cls)), (sep, backend.token_to_id(sep))],
    )
    return backend
