"""``PreTrainedTokenizerFast``: the Hugging Face tokenizer API over a ``tokenizers.Tokenizer``.

The ``tokenizers`` library does all the work (normalizing, splitting, the vocabulary model, special
tokens, truncation with stride, padding, offsets, decoding); this class turns the familiar keyword
arguments into its settings and its ``Encoding`` objects into a ``BatchEncoding``.

    text(s) ──► options.resolve_strategies ──► backend.enable_truncation / enable_padding
            ──► backend.encode_batch ──► features by name ──► BatchEncoding (lists, or 'pt' / 'np')
"""

from __future__ import annotations

import copy
import os
import warnings
from dataclasses import replace

from tokenizers import AddedToken, Tokenizer, processors

from ..hub import HubOptions
from ..hub_push import PushToHubMixin
from . import chat, decoding, loading, saving
from .batch_encoding import BatchEncoding
from .decoding import to_python
from .encoding import Outputs, as_batch, collect_features, encode_error, feature_names
from .options import (
    VERY_LARGE_INTEGER,
    PaddingStrategy,
    Strategies,
    TruncationStrategy,
    check_return_tensors,
    check_side,
    check_text_input,
    resolve_strategies,
    text_input_error,
)
from .padding import pad_features
from .special_tokens import (
    NamedToken,
    as_special,
    check_token,
    split_special_tokens_settings,
    tokens_to_register,
)

# Settings __init__ consumes; every other setting is kept as given and written back by save_pretrained.
_HANDLED = (
    "model_max_length", "max_len", "padding_side", "truncation_side", "model_input_names",
    "clean_up_tokenization_spaces", "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output",
    "split_special_tokens", "chat_template", "add_bos_token", "add_eos_token", "verbose",
)  # fmt: skip


class PreTrainedTokenizerFast(PushToHubMixin):
    """A tokenizer backed by a ``tokenizers.Tokenizer``, with the transformers calling conventions.

    >>> from workbench import AutoTokenizer
    >>> tokenizer = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> tokenizer(["Hello world", "Hi"], padding=True).input_ids                           # doctest: +SKIP
    [[101, 7592, 2088, 102], [101, 7632, 102, 0]]

    Build one directly with ``PreTrainedTokenizerFast(tokenizer_object=tok)`` or
    ``PreTrainedTokenizerFast(tokenizer_file="tokenizer.json")``, plus any settings
    (``pad_token=``, ``model_max_length=``, ``padding_side=``, ...).
    """

    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    truncation_side = "right"
    is_fast = True
    saves_tokenizer_json = True  # False: save_pretrained writes save_vocabulary()'s files instead (saving.py)

    bos_token, bos_token_id = NamedToken(), NamedToken()
    eos_token, eos_token_id = NamedToken(), NamedToken()
    unk_token, unk_token_id = NamedToken(), NamedToken()
    sep_token, sep_token_id = NamedToken(), NamedToken()
    pad_token, pad_token_id = NamedToken(), NamedToken()
    cls_token, cls_token_id = NamedToken(), NamedToken()
    mask_token, mask_token_id = NamedToken(), NamedToken()

    def __init__(
        self, tokenizer_object: Tokenizer | None = None, *, tokenizer_file=None, name_or_path="", **settings
    ):
        self._tokenizer = _make_backend(tokenizer_object, tokenizer_file)
        # tokenizer.json may carry padding/truncation; calls set their own, save_pretrained restores these
        self._saved_padding = self._tokenizer.padding
        self._saved_truncation = self._tokenizer.truncation
        added_tokens_decoder = settings.pop("added_tokens_decoder", None) or {}
        self.init_kwargs = copy.deepcopy(settings)
        self.name_or_path = str(name_or_path)
        self._warned = set()
        self._read_settings(settings)
        self._special_tokens, self._extra_special_tokens = split_special_tokens_settings(settings)
        if self._special_tokens["pad_token"] is None and self._saved_padding:
            self._special_tokens["pad_token"] = self._saved_padding["pad_token"]
        self._settings = {key: value for key, value in settings.items() if key not in _HANDLED}
        tokens = tokens_to_register(self, added_tokens_decoder)
        if tokens:
            self._tokenizer.add_tokens(tokens)
        if self._add_bos_token is not None or self._add_eos_token is not None or not self._tokenizer.post_processor:
            self.update_post_processor()

    def _read_settings(self, settings: dict) -> None:
        json_padding, json_truncation = self._saved_padding or {}, self._saved_truncation or {}
        max_length = settings.get("model_max_length", settings.get("max_len"))
        self.model_max_length = int(max_length) if max_length is not None else VERY_LARGE_INTEGER
        self.padding_side = (
            settings.get("padding_side") or json_padding.get("direction") or type(self).padding_side
        )
        self.truncation_side = (
            settings.get("truncation_side") or json_truncation.get("direction") or type(self).truncation_side
        )
        check_side("padding_side", self.padding_side)
        check_side("truncation_side", self.truncation_side)
        self.model_input_names = list(settings.get("model_input_names") or type(self).model_input_names)
        self.clean_up_tokenization_spaces = bool(settings.get("clean_up_tokenization_spaces", False))
        self.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output = bool(
            settings.get("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output", False)
        )
        self.split_special_tokens = bool(settings.get("split_special_tokens", False))
        self.chat_template = _read_chat_template(settings.get("chat_template"))
        self._add_bos_token = settings.get("add_bos_token")
        self._add_eos_token = settings.get("add_eos_token")

    # --- loading and saving -------------------------------------------------------------------

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *init_inputs, **kwargs) -> "PreTrainedTokenizerFast":
        """Load from a folder, a Hub repo id, or a ``tokenizer.json`` path.

        Keyword arguments are the hub options (``cache_dir``, ``revision``, ``subfolder``,
        ``local_files_only``, ``token``) and settings that override the saved ones
        (``padding_side="left"``, ``model_max_length=128``, ``pad_token="<pad>"``, ...).
        """
        options = HubOptions.pop_from(kwargs)
        loading.drop_unused_kwargs(kwargs)
        settings, backend = loading.load_settings_and_backend(pretrained_model_name_or_path, options, kwargs)
        return cls(name_or_path=pretrained_model_name_or_path, **backend, **settings)

    def save_pretrained(self, save_directory, legacy_format=None, filename_prefix=None, push_to_hub=False, **kwargs):
        """Write tokenizer.json, tokenizer_config.json, special_tokens_map.json (and chat_template.jinja).

        The folder is replaced as a whole (``workbench.atomic_folder``), so a crash leaves the old save or
        the new one, never a mix; other files in it (a model's) are kept. Returns the paths written.
        ``push_to_hub=True`` then uploads them (``repo_id=``, ``token=``, ... as for :meth:`push_to_hub`).
        """
        pending_push = self._start_push(save_directory, push_to_hub, kwargs)
        written = saving.save_tokenizer(self, save_directory, filename_prefix)
        if pending_push is not None:
            pending_push.finish()
        return written

    # --- vocabulary ---------------------------------------------------------------------------

    @property
    def backend_tokenizer(self) -> Tokenizer:
        """The ``tokenizers.Tokenizer`` doing the work."""
        return self._tokenizer

    @property
    def decoder(self):
        return self._tokenizer.decoder

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary, without added tokens (``len(tokenizer)`` counts them)."""
        return self._tokenizer.get_vocab_size(with_added_tokens=False)

    def __len__(self) -> int:
        return self._tokenizer.get_vocab_size(with_added_tokens=True)

    def __bool__(self) -> bool:
        return True

    def get_vocab(self) -> dict[str, int]:
        return self._tokenizer.get_vocab(with_added_tokens=True)

    @property
    def vocab(self) -> dict[str, int]:
        return self.get_vocab()

    @property
    def added_tokens_decoder(self) -> dict[int, AddedToken]:
        return self._tokenizer.get_added_tokens_decoder()

    @property
    def added_tokens_encoder(self) -> dict[str, int]:
        return {token.content: index for index, token in sorted(self.added_tokens_decoder.items())}

    def get_added_vocab(self) -> dict[str, int]:
        return self.added_tokens_encoder

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        """Token(s) -> id(s); tokens outside the vocabulary map to ``unk_token_id``."""
        if isinstance(tokens, str):
            return self._token_to_id(tokens)
        return [self._token_to_id(token) for token in tokens]

    def _token_to_id(self, token: str) -> int | None:
        index = self._tokenizer.token_to_id(token)
        if index is not None:
            return index
        unk = self._special_tokens.get("unk_token")
        return self._tokenizer.token_to_id(str(unk)) if unk is not None else None

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False) -> str | None | list[str]:
        ids = to_python(ids)
        if isinstance(ids, int):
            return self._tokenizer.id_to_token(ids)
        skip = set(self.all_special_ids) if skip_special_tokens else set()
        return [self._tokenizer.id_to_token(int(index)) for index in ids if int(index) not in skip]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        decoder = self._tokenizer.decoder
        return decoder.decode(tokens) if decoder is not None else " ".join(tokens)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self._tokenizer.num_special_tokens_to_add(pair)

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    # --- special tokens -----------------------------------------------------------------------

    def _special_token_value(self, key: str, as_id: bool):
        value = self._special_tokens.get(key)
        if value is None:
            return None
        return self.convert_tokens_to_ids(str(value)) if as_id else str(value)

    def _set_special_token(self, key: str, value, from_id: bool = False) -> None:
        if value is not None and from_id:
            value = self.convert_ids_to_tokens(value)
        self._special_tokens[key] = check_token(key, value) if value is not None else None

    def __getattr__(self, name: str):
        # model-specific named tokens (image_token, ...) read from a saved config
        tokens = self.__dict__.get("_special_tokens", {})
        key = name.removesuffix("_id")
        if key in tokens:
            return self._special_token_value(key, name != key)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    @property
    def extra_special_tokens(self) -> list[str]:
        """Special tokens beyond the named ones (the ``additional_special_tokens`` of transformers 4)."""
        return [str(token) for token in self._extra_special_tokens]

    @extra_special_tokens.setter
    def extra_special_tokens(self, tokens) -> None:
        self._extra_special_tokens = [check_token("extra_special_tokens", token) for token in tokens or []]

    @property
    def extra_special_tokens_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.extra_special_tokens)

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """The named special tokens that are set, as strings."""
        return {name: str(token) for name, token in self._special_tokens.items() if token is not None}

    @property
    def all_special_tokens(self) -> list[str]:
        tokens = [str(token) for token in self._special_tokens.values() if token is not None]
        tokens += self.extra_special_tokens
        return list(dict.fromkeys(tokens))

    @property
    def all_special_ids(self) -> list[int]:
        return self.convert_tokens_to_ids(self.all_special_tokens)

    @property
    def pad_token_type_id(self) -> int:
        return 0

    def get_special_tokens_mask(self, token_ids_0, token_ids_1=None, already_has_special_tokens=False) -> list[int]:
        """1 where ``token_ids_0`` (ids that already include special tokens) holds a special token."""
        if not already_has_special_tokens or token_ids_1 is not None:
            raise ValueError(
                "get_special_tokens_mask works on ids that already hold special tokens: pass one sequence "
                "and already_has_special_tokens=True (or call the tokenizer with return_special_tokens_mask=True)."
            )
        special = set(self.all_special_ids)
        return [1 if int(index) in special else 0 for index in to_python(token_ids_0)]

    def add_tokens(self, new_tokens, special_tokens: bool = False) -> int:
        """Add tokens (str or ``AddedToken``) the vocabulary lacks; returns how many were new.

        Added tokens are matched before the vocabulary model runs, so they are never split.
        """
        if not new_tokens:
            return 0
        if not isinstance(new_tokens, (list, tuple)):
            new_tokens = [new_tokens]
        for token in new_tokens:
            check_token("new_tokens", token)
        if special_tokens:
            return self._tokenizer.add_special_tokens(list(new_tokens))
        return self._tokenizer.add_tokens(list(new_tokens))

    def add_special_tokens(self, special_tokens_dict: dict, replace_extra_special_tokens: bool = True) -> int:
        """Set and add special tokens: ``{"pad_token": "[PAD]", "extra_special_tokens": [...]}``.

        Returns how many tokens were new to the vocabulary (resize the model's embeddings by that much).
        """
        if not special_tokens_dict:
            return 0
        special_tokens_dict = dict(special_tokens_dict)
        if "additional_special_tokens" in special_tokens_dict and not special_tokens_dict.get("extra_special_tokens"):
            special_tokens_dict["extra_special_tokens"] = special_tokens_dict.pop("additional_special_tokens")
        allowed = [*self._special_tokens, "extra_special_tokens"]
        to_add = []
        for key, value in special_tokens_dict.items():
            if key not in allowed:
                raise ValueError(
                    f"add_special_tokens got {key!r}, which is not a special-token name. Use one of {allowed}; "
                    "put any other token in the 'extra_special_tokens' list."
                )
            if key != "extra_special_tokens":
                token = as_special(check_token(key, value))
                self._special_tokens[key] = token
                to_add.append(token)
                continue
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"extra_special_tokens must be a list of str or AddedToken, got {value!r}.")
            new = [as_special(check_token(key, token)) for token in value]
            if not replace_extra_special_tokens:
                new = [token for token in new if str(token) not in self.extra_special_tokens]
                self._extra_special_tokens.extend(new)
            elif new:
                self._extra_special_tokens = list(new)
            to_add.extend(new)
        return self.add_tokens(to_add, special_tokens=True)

    @property
    def add_bos_token(self) -> bool:
        return bool(self._add_bos_token)

    @add_bos_token.setter
    def add_bos_token(self, value: bool) -> None:
        self._add_bos_token = value
        self.update_post_processor()

    @property
    def add_eos_token(self) -> bool:
        return bool(self._add_eos_token)

    @add_eos_token.setter
    def add_eos_token(self, value: bool) -> None:
        self._add_eos_token = value
        self.update_post_processor()

    def update_post_processor(self) -> None:
        """Rebuild the post-processor from ``add_bos_token`` / ``add_eos_token``: [bos] A [eos] ([bos] B [eos])."""
        bos = self.bos_token if self.add_bos_token else None
        eos = self.eos_token if self.add_eos_token else None
        single = " ".join([f"{bos}:0"] * bool(bos) + ["$A:0"] + [f"{eos}:0"] * bool(eos))
        pair = " ".join([single] + [f"{bos}:1"] * bool(bos) + ["$B:1"] + [f"{eos}:1"] * bool(eos))
        special = [(token, self.convert_tokens_to_ids(token)) for token in (bos, eos) if token]
        self._tokenizer.post_processor = processors.TemplateProcessing(
            single=single, pair=pair, special_tokens=list(dict.fromkeys(special))
        )

    # --- encoding -----------------------------------------------------------------------------

    def __call__(self, text=None, text_pair=None, *, text_target=None, text_pair_target=None,
                 add_special_tokens: bool = True, padding=False, truncation=None, max_length: int | None = None,
                 stride: int = 0, is_split_into_words: bool = False, pad_to_multiple_of: int | None = None,
                 padding_side: str | None = None, return_tensors: str | None = None,
                 return_token_type_ids: bool | None = None, return_attention_mask: bool | None = None,
                 return_overflowing_tokens: bool = False, return_special_tokens_mask: bool = False,
                 return_offsets_mapping: bool = False, return_length: bool = False, verbose: bool = True,
                 split_special_tokens: bool | None = None, max_target_length: int | None = None) -> BatchEncoding:
        """Tokenize one text, a batch, pairs, or pre-split words into model inputs.

        ``text_target`` (and ``text_pair_target``) are encoded the same way and returned as ``labels``.
        """
        if text is None and text_target is None:
            raise ValueError("Pass the text to tokenize: tokenizer(text) or tokenizer(text_target=...).")
        strategies = resolve_strategies(self, padding, truncation, max_length, pad_to_multiple_of, verbose)
        check_side("padding_side", padding_side)
        names = self.model_input_names
        options = dict(
            add_special_tokens=add_special_tokens,
            stride=stride,
            is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of,
            padding_side=padding_side,
            return_tensors=check_return_tensors(return_tensors),
            outputs=Outputs(
                token_type_ids=("token_type_ids" in names) if return_token_type_ids is None else return_token_type_ids,
                attention_mask=("attention_mask" in names) if return_attention_mask is None else return_attention_mask,
                overflowing_tokens=return_overflowing_tokens,
                special_tokens_mask=return_special_tokens_mask,
                offsets_mapping=return_offsets_mapping,
                length=return_length,
            ),
            split_special_tokens=self.split_special_tokens if split_special_tokens is None else split_special_tokens,
            verbose=verbose,
        )
        encoded = self._encode(text, text_pair, strategies, **options) if text is not None else None
        if text_target is None:
            return encoded
        if max_target_length is not None:
            strategies = replace(strategies, max_length=max_target_length)
        targets = self._encode(text_target, text_pair_target, strategies, **options)
        if encoded is None:
            return targets
        encoded["labels"] = targets["input_ids"]
        return encoded

    def _encode(
        self, text, text_pair, strategies: Strategies, *, add_special_tokens, stride, is_split_into_words,
        pad_to_multiple_of, padding_side, return_tensors, outputs: Outputs, split_special_tokens, verbose,
    ) -> BatchEncoding:  # fmt: skip
        check_text_input("text", text)
        if text_pair is not None:
            check_text_input("text_pair", text_pair)
        batched, inputs = as_batch(text, text_pair, is_split_into_words)
        if not inputs:
            return BatchEncoding({name: [] for name in feature_names(outputs)}, [], tensor_type=return_tensors)
        self._configure_backend(strategies, stride, pad_to_multiple_of, padding_side)
        self._tokenizer.encode_special_tokens = split_special_tokens
        try:
            encodings = self._tokenizer.encode_batch(
                inputs, add_special_tokens=add_special_tokens, is_pretokenized=is_split_into_words
            )
        except TypeError as error:  # a nested item that is not a str
            raise text_input_error("text", text, detail=str(error)) from None
        except Exception as error:  # tokenizers raises bare Exceptions for truncation problems
            raise encode_error(error, strategies, stride) from None
        except BaseException as error:  # a Rust panic (e.g. a stride too large for the room left)
            if type(error).__name__ != "PanicException":
                raise
            raise encode_error(error, strategies, stride) from None
        features, rows = collect_features(encodings, outputs)
        if strategies.max_length is None and verbose:
            self._warn_if_too_long(features["input_ids"])
        batch = BatchEncoding(features, rows, tensor_type=return_tensors)
        if batched or return_tensors is not None or outputs.overflowing_tokens:
            return batch
        # one text in, one row out: drop the batch level of list values (a quirk kept: "length" stays [n])
        single = {key: value[0] if value and isinstance(value[0], list) else value for key, value in batch.items()}
        return BatchEncoding(single, batch.encodings)

    def _configure_backend(self, strategies: Strategies, stride, pad_to_multiple_of, padding_side) -> None:
        check_side("truncation_side", self.truncation_side)
        backend = self._tokenizer
        if strategies.truncation is TruncationStrategy.DO_NOT_TRUNCATE:
            backend.no_truncation()
        else:
            try:
                backend.enable_truncation(
                    strategies.max_length,
                    stride=stride,
                    strategy=strategies.truncation.value,
                    direction=self.truncation_side,
                )
            except Exception as error:
                raise encode_error(error, strategies, stride) from None
        if strategies.padding is PaddingStrategy.DO_NOT_PAD:
            backend.no_padding()
        else:
            backend.enable_padding(
                direction=padding_side or self.padding_side,
                pad_id=self.pad_token_id,
                pad_type_id=self.pad_token_type_id,
                pad_token=self.pad_token,
                length=strategies.max_length if strategies.padding is PaddingStrategy.MAX_LENGTH else None,
                pad_to_multiple_of=pad_to_multiple_of,
            )

    def _warn_if_too_long(self, rows: list[list[int]]) -> None:
        longest = max((len(row) for row in rows), default=0)
        if longest > self.model_max_length and "too_long" not in self._warned:
            self._warned.add("too_long")
            warnings.warn(
                f"A sequence is {longest} tokens long, more than this model's model_max_length "
                f"({self.model_max_length}); running it through the model may fail. Pass truncation=True.",
                stacklevel=4,
            )

    def encode(self, text, text_pair=None, add_special_tokens: bool = True, **kwargs) -> list[int]:
        """The ``input_ids`` of one text (or pair); takes the keyword arguments of ``__call__``."""
        return self(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)["input_ids"]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """The token strings of ``text`` (without special tokens unless asked)."""
        return self(text, pair, add_special_tokens=add_special_tokens, **kwargs).tokens()

    def pad(self, encoded_inputs, padding=True, max_length=None, pad_to_multiple_of=None, padding_side=None,
            return_attention_mask=None, return_tensors=None, verbose=True) -> BatchEncoding:  # fmt: skip
        """Pad already-encoded features (a dict of lists, or a list of dicts) to one length.

        This is what data collators call: ``tokenizer.pad([{"input_ids": [...]}, ...], return_tensors="pt")``.
        """
        return pad_features(
            self, encoded_inputs, padding, max_length, pad_to_multiple_of, padding_side,
            return_attention_mask, return_tensors, verbose,
        )  # fmt: skip

    # --- chat templates (workbench/tokenization/chat.py) ---------------------------------------

    apply_chat_template = chat.apply_chat_template
    get_chat_template = chat.get_chat_template

    # --- decoding (workbench/tokenization/decoding.py) ----------------------------------------

    decode = decoding.decode
    batch_decode = decoding.batch_decode
    clean_up_tokenization = staticmethod(decoding.clean_up_tokenization)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name_or_path={self.name_or_path!r}, vocab_size={self.vocab_size}, "
            f"model_max_length={self.model_max_length}, padding_side={self.padding_side!r}, "
            f"truncation_side={self.truncation_side!r}, special_tokens={self.special_tokens_map}, "
            f"added_tokens={len(self.added_tokens_decoder)})"
        )


def _make_backend(tokenizer_object: Tokenizer | None, tokenizer_file) -> Tokenizer:
    if tokenizer_object is not None:
        if not isinstance(tokenizer_object, Tokenizer):
            raise ValueError(
                f"tokenizer_object must be a tokenizers.Tokenizer, got {type(tokenizer_object).__name__}."
            )
        return copy.deepcopy(tokenizer_object)
    if tokenizer_file is not None:
        if not os.path.isfile(tokenizer_file):
            raise loading.CheckpointNotFoundError(f"tokenizer_file={str(tokenizer_file)!r} does not exist.")
        return loading.read_tokenizer_json(str(tokenizer_file))
    raise ValueError(
        "PreTrainedTokenizerFast needs a backend: pass tokenizer_object=tokenizers.Tokenizer(...) or "
        "tokenizer_file='tokenizer.json', or load one with PreTrainedTokenizerFast.from_pretrained(folder)."
    )


def _read_chat_template(value):
    if isinstance(value, (list, tuple)):  # older saves: [{"name": ..., "template": ...}, ...]
        return {item["name"]: item["template"] for item in value}
    return value

