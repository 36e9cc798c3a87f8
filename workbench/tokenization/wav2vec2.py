"""``Wav2Vec2CTCTokenizer``: the character vocabulary of CTC speech models (Wav2Vec2, HuBERT, ...).

Encoding maps each character of the text to its id; a space becomes the word delimiter ``|``:

    "HELLO WORLD" ─► H E L L O | W O R L D ─► vocab.json ids (a character it lacks ─► <unk>)

Decoding reads the model's per-frame argmax ids the CTC way (Graves et al. 2006,
https://www.cs.toronto.edu/~graves/icml_2006.pdf): repeats collapse into one character, then the
blank (the pad token) is dropped, and ``|`` turns back into a space:

    frames   H H <pad> E L L <pad> L O | | W ...
    grouped  H <pad> E L <pad> L O | W ...           (group_tokens=True)
    text     "HELLO W..."                             (offsets: each character's first and end frame)

Encoding runs on a ``tokenizers`` pipeline built from vocab.json (a WordLevel model over single
characters), so padding, truncation and tensors work as for every other tokenizer; decoding is the
CTC code below. A folder holds vocab.json and tokenizer_config.json, as the reference saves it.
"""

from __future__ import annotations

import json
import os
from itertools import groupby
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel

from ..errors import CheckpointError, CheckpointNotFoundError
from ..hub import HubOptions, resolve_file
from ..io import atomic_write_text
from . import loading
from .decoding import to_python
from .special_tokens import tokens_to_register
from .tokenizer import PreTrainedTokenizerFast

VOCAB_JSON = "vocab.json"


class Wav2Vec2CTCTokenizerOutput(dict):
    """What ``decode`` returns with offsets: ``text`` and the ``char_offsets`` / ``word_offsets`` asked
    for (a dict with attribute access; fields left as None are not keys, as in the reference).

    Offsets are in model frames: ``{"char": "H", "start_offset": 3, "end_offset": 5}``. Multiply by
    ``config.inputs_to_logits_ratio / sampling_rate`` for seconds.
    """

    def __init__(self, values: dict | None = None, /, **fields: Any) -> None:
        super().__init__({key: value for key, value in {**(values or {}), **fields}.items() if value is not None})

    def __getattr__(self, name: str) -> Any:
        if name in ("text", "char_offsets", "word_offsets"):
            return self.get(name)
        raise AttributeError(name)


class Wav2Vec2CTCTokenizer(PreTrainedTokenizerFast):
    """Characters in, CTC frames out (see the module docstring).

    >>> tokenizer = Wav2Vec2CTCTokenizer("vocab.json")                     # doctest: +SKIP
    >>> tokenizer("HELLO WORLD").input_ids                                  # doctest: +SKIP
    [12, 9, 16, 16, 19, 4, 27, 19, 22, 16, 8]
    >>> tokenizer.decode(logits.argmax(-1)[0], output_word_offsets=True)   # doctest: +SKIP
    {'text': 'HELLO WORLD', 'word_offsets': [{'word': 'HELLO', 'start_offset': 7, 'end_offset': 21}, ...]}

    ``do_lower_case=True`` upper-cases text before looking it up (the vocabulary is upper case) and
    lower-cases decoded text. ``target_lang`` picks one language of a nested (multilingual) vocab.json.
    """

    saves_tokenizer_json = False  # vocab.json holds the vocabulary (save_vocabulary writes it)

    def __init__(self, vocab_file=None, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                 word_delimiter_token="|", replace_word_delimiter_char=" ", do_lower_case=False, target_lang=None,
                 **settings: Any) -> None:
        if vocab_file is None:
            raise ValueError("Wav2Vec2CTCTokenizer needs its vocabulary: Wav2Vec2CTCTokenizer('vocab.json'), or "
                             "Wav2Vec2CTCTokenizer.from_pretrained(folder).")
        for key in ("tokenizer_object", "tokenizer_file", "backend", "special_tokens_pattern"):
            settings.pop(key, None)  # the backend is built from vocab.json below
        self.vocab_file = str(vocab_file)
        self.full_vocab = _read_vocab(self.vocab_file)
        self.encoder = _language_vocab(self.full_vocab, target_lang, self.vocab_file)
        self.id_to_char = {index: token for token, index in self.encoder.items()}
        self.do_lower_case = bool(do_lower_case)
        self.replace_word_delimiter_char = replace_word_delimiter_char
        self.target_lang = target_lang
        backend = _character_backend(self.encoder, str(unk_token), word_delimiter_token, self.do_lower_case)
        super().__init__(backend, bos_token=bos_token, eos_token=eos_token, unk_token=unk_token, pad_token=pad_token,
                         word_delimiter_token=word_delimiter_token, **settings)
        # written back by save_pretrained, as the reference's tokenizer_config.json holds them
        self._settings.update(do_lower_case=self.do_lower_case, target_lang=target_lang,
                              replace_word_delimiter_char=replace_word_delimiter_char)

    # --- loading and saving -------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *init_inputs, **kwargs) -> "Wav2Vec2CTCTokenizer":
        """Load vocab.json and tokenizer_config.json (plus special_tokens_map.json of older saves) from a
        folder or Hub repo; keyword arguments are hub options and settings overriding the saved ones."""
        options = HubOptions.pop_from(kwargs)
        loading.drop_unused_kwargs(kwargs)
        location = str(pretrained_model_name_or_path)
        vocab_file = resolve_file(location, VOCAB_JSON, options, required=False)
        if vocab_file is None:
            raise CheckpointNotFoundError(
                f"No {VOCAB_JSON} in {location!r}: Wav2Vec2CTCTokenizer reads its character vocabulary from it. "
                "Point to the folder the tokenizer was saved in (pass subfolder= if it is nested).")
        settings = {}
        for name in (loading.CONFIG_FILE, loading.SPECIAL_TOKENS_MAP_FILE):
            path = resolve_file(location, name, options, required=False)
            if path is not None:  # special_tokens_map.json (older saves) wins over the config
                settings.update(loading.read_json(path))
        for key in (*loading._NOT_SETTINGS, "tokenizer_class"):
            settings.pop(key, None)
        settings = loading.to_added_tokens({**settings, **kwargs})
        if "additional_special_tokens" in settings and not settings.get("extra_special_tokens"):
            settings["extra_special_tokens"] = settings.pop("additional_special_tokens")
        if "added_tokens_decoder" in settings:
            settings["added_tokens_decoder"] = {
                int(index): AddedToken(**token) if isinstance(token, dict) else token
                for index, token in settings["added_tokens_decoder"].items()}
        return cls(vocab_file, name_or_path=pretrained_model_name_or_path, **settings)

    def save_vocabulary(self, save_directory, filename_prefix: str | None = None) -> tuple[str]:
        """Write vocab.json (the whole file read, every language of a nested one); returns its path."""
        name = (f"{filename_prefix}-" if filename_prefix else "") + VOCAB_JSON
        text = json.dumps(self.full_vocab, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        path = os.path.join(str(save_directory), name)
        atomic_write_text(path, text)
        return (path,)

    # --- vocabulary ---------------------------------------------------------------------------

    def set_target_lang(self, target_lang: str) -> None:
        """Switch a multilingual (nested) vocab.json to another language's characters."""
        if not all(isinstance(value, dict) for value in self.full_vocab.values()):
            raise ValueError(f"{self.vocab_file} is not a multilingual vocabulary (one table per language), so it has "
                             "no target language to set.")
        self.encoder = _language_vocab(self.full_vocab, target_lang, self.vocab_file)
        self.id_to_char = {index: token for token, index in self.encoder.items()}
        self.target_lang = self._settings["target_lang"] = target_lang
        self._tokenizer = _character_backend(self.encoder, str(self.unk_token), self.word_delimiter_token,
                                             self.do_lower_case)
        tokens = tokens_to_register(self, {})  # special tokens the new language's table lacks
        if tokens:
            self._tokenizer.add_tokens(tokens)
        self.update_post_processor()

    @property
    def word_delimiter_token(self) -> str | None:
        """The token standing for a space between words (``"|"``)."""
        return self._special_token_value("word_delimiter_token", as_id=False)

    @word_delimiter_token.setter
    def word_delimiter_token(self, value) -> None:
        self._set_special_token("word_delimiter_token", value)

    @property
    def word_delimiter_token_id(self) -> int | None:
        return self._special_token_value("word_delimiter_token", as_id=True)

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_char)

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False) -> str | list[str]:
        """Id(s) -> character token(s); the vocabulary wins over added tokens, and an unknown id gives
        ``unk_token``, as in the reference."""
        ids = to_python(ids)
        if isinstance(ids, int):
            return self._id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._id_to_token(int(index)) for index in ids if int(index) not in skip]

    def _id_to_token(self, index: int) -> str:
        if index in self.id_to_char:
            return self.id_to_char[index]
        token = self._tokenizer.id_to_token(index) if index >= 0 else None
        return token if token is not None else self.unk_token

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """The character tokens of ``text`` before the vocabulary lookup (a character the vocabulary
        lacks stays itself, as in the reference; its id is ``unk_token_id``)."""
        encoding = self(text, pair, add_special_tokens=add_special_tokens, **kwargs).encodings[0]
        tokens = []
        for token, (start, end) in zip(encoding.tokens, encoding.offsets):
            piece = text[start:end]
            if piece.strip() and piece.strip() == token.strip():  # an added token, matched as written
                tokens.append(piece.strip())
                continue
            piece = piece.upper() if self.do_lower_case else piece  # one character, normalized
            tokens.append(self.word_delimiter_token if piece == " " else piece)
        return tokens

    # --- decoding -----------------------------------------------------------------------------

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               output_char_offsets: bool = False, output_word_offsets: bool = False, group_tokens: bool = True,
               spaces_between_special_tokens: bool = False) -> str | Wav2Vec2CTCTokenizerOutput | list:
        """Per-frame ids (a list, array or tensor) -> text, decoded the CTC way (module docstring).

        ``skip_special_tokens`` drops <s>, </s>, <unk> and <pad> *before* repeats are grouped (the word
        delimiter stays). With ``output_char_offsets`` / ``output_word_offsets`` the result is a
        ``Wav2Vec2CTCTokenizerOutput`` holding the text and frame offsets. A batch (2-D) decodes row by row."""
        ids = to_python(token_ids)
        if isinstance(ids, int):
            ids = [ids]
        if ids and isinstance(ids[0], (list, tuple)):
            return self.batch_decode(ids, skip_special_tokens, clean_up_tokenization_spaces, output_char_offsets,
                                     output_word_offsets, group_tokens=group_tokens,
                                     spaces_between_special_tokens=spaces_between_special_tokens)
        tokens = self.convert_ids_to_tokens(ids)
        if skip_special_tokens:
            special = set(self.all_special_tokens) - {self.word_delimiter_token}
            tokens = [token for token in tokens if token not in special]
        decoded = self.convert_tokens_to_string(tokens, group_tokens, spaces_between_special_tokens,
                                                output_char_offsets, output_word_offsets)
        text = decoded["text"]
        if self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None else clean_up_tokenization_spaces:
            text = self.clean_up_tokenization(text)
        if not (output_char_offsets or output_word_offsets):
            return text
        return Wav2Vec2CTCTokenizerOutput(text=text, char_offsets=decoded["char_offsets"],
                                          word_offsets=decoded["word_offsets"])

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, output_char_offsets: bool = False,
                     output_word_offsets: bool = False, **kwargs: Any):
        """``decode`` of each row: a list of texts, or with offsets one ``Wav2Vec2CTCTokenizerOutput``
        of lists (``out.text[i]``, ``out.word_offsets[i]``)."""
        rows = [self.decode(row, skip_special_tokens, clean_up_tokenization_spaces, output_char_offsets,
                            output_word_offsets, **kwargs) for row in to_python(sequences)]
        if not (output_char_offsets or output_word_offsets):
            return rows
        return Wav2Vec2CTCTokenizerOutput({key: [row[key] for row in rows] for key in (rows[0] if rows else {})})

    def convert_tokens_to_string(self, tokens: list[str], group_tokens: bool = True,
                                 spaces_between_special_tokens: bool = False, output_char_offsets: bool = False,
                                 output_word_offsets: bool = False) -> dict[str, Any]:
        """CTC tokens -> ``{"text", "char_offsets", "word_offsets"}`` (offsets None unless asked)."""
        if not tokens:
            return {"text": "", "char_offsets": [], "word_offsets": []}
        blank, delimiter = self.pad_token, self.word_delimiter_token
        runs = [(token, len(list(group))) for token, group in groupby(tokens)] if group_tokens else \
            [(token, 1) for token in tokens]
        chars = [self.replace_word_delimiter_char if token == delimiter else token for token, _ in runs
                 if token != blank]
        char_offsets = word_offsets = None
        if output_char_offsets or output_word_offsets:
            char_offsets = [{**offset, "char": char} for offset, char in zip(ctc_char_offsets(runs, blank), chars)]
            if output_word_offsets:
                word_offsets = word_offsets_from_chars(char_offsets, self.replace_word_delimiter_char)
            if not output_char_offsets:
                char_offsets = None
        text = (" " if spaces_between_special_tokens else "").join(chars).strip()
        return {"text": text.lower() if self.do_lower_case else text, "char_offsets": char_offsets,
                "word_offsets": word_offsets}


def ctc_char_offsets(runs: list[tuple[str, int]], blank: str) -> list[dict[str, Any]]:
    """Grouped ``(token, frames)`` runs -> ``{"char", "start_offset", "end_offset"}`` (frames, end
    exclusive) for every run that is not the blank."""
    offsets, start = [], 0
    for token, frames in runs:
        if token != blank:
            offsets.append({"char": token, "start_offset": start, "end_offset": start + frames})
        start += frames
    return offsets


def word_offsets_from_chars(char_offsets: list[dict[str, Any]], delimiter: str = " ") -> list[dict[str, Any]]:
    """Character offsets -> ``{"word", "start_offset", "end_offset"}``: a word is a run of characters
    other than ``delimiter``, from its first character's start to its last one's end."""
    words = []
    for is_word, group in groupby(char_offsets, key=lambda offset: offset["char"] != delimiter):
        if is_word:
            group = list(group)
            words.append({"word": "".join(offset["char"] for offset in group),
                          "start_offset": group[0]["start_offset"], "end_offset": group[-1]["end_offset"]})
    return words


def _read_vocab(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as handle:
            vocab = json.load(handle)
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}): re-save the tokenizer or fix the file.") from None
    if not isinstance(vocab, dict) or not vocab:
        raise CheckpointError(f"{path} must hold a JSON object mapping characters to ids (or languages to such "
                              "objects).")
    return vocab


def _language_vocab(vocab: dict, target_lang: str | None, path: str) -> dict[str, int]:
    """The character -> id table: the file itself, or its ``target_lang`` entry for a nested one."""
    nested = all(isinstance(value, dict) for value in vocab.values())
    if target_lang is None:
        if nested:
            raise CheckpointError(f"{path} holds one vocabulary per language ({', '.join(sorted(vocab)[:8])}, ...): "
                                  "pass target_lang='<language>' to pick one.")
        return vocab
    if not nested or target_lang not in vocab:
        choices = ", ".join(sorted(vocab)[:8]) if nested else "none: it is not a multilingual vocabulary"
        raise ValueError(f"target_lang={target_lang!r} is not a language of {path} (languages: {choices}).")
    return vocab[target_lang]


def _character_backend(encoder: dict[str, int], unk_token: str, delimiter: str | None, upper: bool) -> Tokenizer:
    """The encoding pipeline: tokens of several characters (<pad>, <s>, ...) matched whole (taking the
    whitespace around them, as the reference's do), the rest upper-cased if asked, spaces -> the
    delimiter, then one token per character."""
    backend = Tokenizer(WordLevel(encoder, unk_token=unk_token))
    # tokenizers has no upper-case normalizer: replace each lower-case letter the vocabulary can tell apart
    lower = {char for token in encoder for char in (token, token.lower()) if len(char) == 1 and char.upper() != char}
    steps = [normalizers.Replace(char, char.upper()) for char in sorted(lower)] if upper else []
    if delimiter is not None:
        steps.append(normalizers.Replace(" ", str(delimiter)))
    backend.normalizer = normalizers.Sequence(steps)
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # every character alone
    whole = [AddedToken(token, lstrip=True, rstrip=True, normalized=False, special=True)
             for token in encoder if len(token) > 1]
    if delimiter is not None:
        whole.append(AddedToken(str(delimiter), normalized=False, special=True))
    backend.add_special_tokens(whole)
    return backend
