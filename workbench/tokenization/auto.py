"""``AutoTokenizer``: load any saved tokenizer as the right flavour of ``PreTrainedTokenizerFast``.

Every tokenizer here is the same class over a ``tokenizers.Tokenizer``; what the reference's
per-model classes change on top of that, for the loading path, is a few class defaults (which
inputs the model takes, which side to pad). The flavours below carry those, picked by the
``tokenizer_class`` a checkpoint names, or by its config.json ``model_type`` when it names none.
"""

from __future__ import annotations

import dataclasses
import os

from ..errors import ConfigError
from ..hub import HubOptions, resolve_file
from . import loading
from .tokenizer import PreTrainedTokenizerFast
from .wav2vec2 import Wav2Vec2CTCTokenizer
from .whisper import WhisperTokenizer

_BERT_INPUTS = ["input_ids", "token_type_ids", "attention_mask"]
_DEBERTA_INPUTS = ["input_ids", "attention_mask", "token_type_ids"]


def _flavour(name: str, **class_defaults) -> type[PreTrainedTokenizerFast]:
    doc = f"PreTrainedTokenizerFast with the class defaults of the reference {name}: {class_defaults}."
    return type(name, (PreTrainedTokenizerFast,), {"__doc__": doc, "__module__": __name__, **class_defaults})


# The reference classes whose defaults differ from the generic tokenizer. Module-level names, so that
# tokenizers pickle (datasets.map with num_proc sends the tokenizer to worker processes).
BertTokenizer = _flavour("BertTokenizer", model_input_names=_BERT_INPUTS)
ConvBertTokenizer = _flavour("ConvBertTokenizer", model_input_names=_BERT_INPUTS)
DPRContextEncoderTokenizer = _flavour("DPRContextEncoderTokenizer", model_input_names=_BERT_INPUTS)
DPRQuestionEncoderTokenizer = _flavour("DPRQuestionEncoderTokenizer", model_input_names=_BERT_INPUTS)
MarkupLMTokenizer = _flavour("MarkupLMTokenizer", model_input_names=_BERT_INPUTS)
DebertaTokenizer = _flavour("DebertaTokenizer", model_input_names=_DEBERTA_INPUTS)
DebertaV2Tokenizer = _flavour("DebertaV2Tokenizer", model_input_names=_DEBERTA_INPUTS)
LayoutLMv2Tokenizer = _flavour("LayoutLMv2Tokenizer", model_input_names=_DEBERTA_INPUTS)
FNetTokenizer = _flavour("FNetTokenizer", model_input_names=["input_ids", "token_type_ids"])
LlamaTokenizer = _flavour("LlamaTokenizer", padding_side="left")
CodeLlamaTokenizer = _flavour("CodeLlamaTokenizer", padding_side="left")
GemmaTokenizer = _flavour("GemmaTokenizer", padding_side="left")
CohereTokenizer = _flavour("CohereTokenizer", padding_side="left")
XLNetTokenizer = _flavour("XLNetTokenizer", padding_side="left")
Siglip2Tokenizer = _flavour("Siglip2Tokenizer", padding_side="left")
T5Tokenizer = _flavour("T5Tokenizer")  # the generic defaults, under the name the reference reports
AlbertTokenizer = _flavour("AlbertTokenizer")
CamembertTokenizer = _flavour("CamembertTokenizer")
MPNetTokenizer = _flavour("MPNetTokenizer")


class GPTNeoXTokenizer(PreTrainedTokenizerFast):
    """PreTrainedTokenizerFast with the reference GPTNeoXTokenizer's pad token, ``<|padding|>``, when the
    saved settings name none (Pythia's tokenizer_config.json does not; the token is in its vocabulary)."""

    def __init__(self, tokenizer_object=None, **settings) -> None:
        settings.setdefault("pad_token", "<|padding|>")
        super().__init__(tokenizer_object, **settings)


FLAVOURS = {
    cls.__name__: cls
    for cls in (
        BertTokenizer, ConvBertTokenizer, DPRContextEncoderTokenizer, DPRQuestionEncoderTokenizer,
        MarkupLMTokenizer, DebertaTokenizer, DebertaV2Tokenizer, LayoutLMv2Tokenizer, FNetTokenizer,
        LlamaTokenizer, CodeLlamaTokenizer, GemmaTokenizer, CohereTokenizer, XLNetTokenizer, Siglip2Tokenizer,
        T5Tokenizer, GPTNeoXTokenizer, AlbertTokenizer, CamembertTokenizer, MPNetTokenizer, WhisperTokenizer,
    )
}  # fmt: skip
FLAVOURS["MobileBertTokenizer"] = BertTokenizer  # the reference's MobileBertTokenizer is BertTokenizer itself
# class names the reference loads as another class (transformers 5 has no ElectraTokenizer of its own)
ALIASES = {"ElectraTokenizer": "BertTokenizer"}
# classes the reference has and workbench cannot reproduce: the name -> why, and what to do instead
UNSUPPORTED = {
    "RoFormerTokenizer": (
        "RoFormerTokenizer splits Chinese text into words with the rjieba package (a jieba word segmenter) "
        "before WordPiece; workbench has no jieba segmentation, so its ids would differ from the reference's "
        "on Chinese text. To tokenize as BERT does instead (the reference differs where jieba finds Chinese "
        "words the vocabulary holds whole), pass tokenizer_class=\"BertTokenizer\" to AutoTokenizer.from_pretrained."
    ),
}

# classes that read their own vocabulary files (no tokenizer.json): AutoTokenizer hands the folder to them
OWN_FILES = {cls.__name__: cls for cls in (Wav2Vec2CTCTokenizer,)}

# config.json model_type -> the tokenizer class the reference picks when tokenizer_config.json names none
MODEL_TYPE_TOKENIZERS = {
    "bert": "BertTokenizer",
    "distilbert": "BertTokenizer",
    "mobilebert": "BertTokenizer",
    "electra": "BertTokenizer",
    "albert": "AlbertTokenizer",
    "camembert": "CamembertTokenizer",
    "mpnet": "MPNetTokenizer",
    "roformer": "RoFormerTokenizer",
    "convbert": "ConvBertTokenizer",
    "deberta": "DebertaTokenizer",
    "deberta-v2": "DebertaV2Tokenizer",
    "llama": "LlamaTokenizer",
    "gpt_neox": "GPTNeoXTokenizer",
    "gemma": "GemmaTokenizer",
    "gemma2": "GemmaTokenizer",
    "gemma3": "GemmaTokenizer",
    "gemma3_text": "GemmaTokenizer",
    "cohere": "CohereTokenizer",
    "xlnet": "XLNetTokenizer",
    "t5": "T5Tokenizer",
    "mt5": "T5Tokenizer",
    "umt5": "T5Tokenizer",
    "whisper": "WhisperTokenizer",
    **dict.fromkeys(("wav2vec2", "hubert", "data2vec-audio", "unispeech", "unispeech-sat", "wav2vec2-bert",
                     "wav2vec2-conformer"), "Wav2Vec2CTCTokenizer"),
}


def tokenizer_class(name: str | None) -> type[PreTrainedTokenizerFast]:
    """The flavour named ``name`` (with or without "Fast"), else ``PreTrainedTokenizerFast``."""
    name = (name or "").removesuffix("Fast")
    if name in UNSUPPORTED:
        raise ConfigError(f"{name}: {UNSUPPORTED[name]}")
    return FLAVOURS.get(ALIASES.get(name, name), PreTrainedTokenizerFast)


class AutoTokenizer:
    """Load a tokenizer from a folder or Hub repo: ``AutoTokenizer.from_pretrained(path_or_repo_id)``.

    >>> tokenizer = AutoTokenizer.from_pretrained("sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> tokenizer("Hello world")                                                           # doctest: +SKIP
    {'input_ids': [101, 7592, 2088, 102], 'token_type_ids': [0, 0, 0, 0], 'attention_mask': [1, 1, 1, 1]}
    """

    def __init__(self):
        raise TypeError("AutoTokenizer is not instantiated; call AutoTokenizer.from_pretrained(path_or_repo_id).")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *inputs, **kwargs) -> PreTrainedTokenizerFast:
        """Read tokenizer.json (or a BERT vocab.txt) and the settings files; see ``PreTrainedTokenizerFast``.

        Keyword arguments: hub options (``cache_dir``, ``revision``, ``subfolder``, ``local_files_only``,
        ``token``) and settings overriding the saved ones (``padding_side``, ``model_max_length``,
        ``pad_token``, ...).
        """
        options = HubOptions.pop_from(kwargs)
        loading.drop_unused_kwargs(kwargs)
        own = OWN_FILES.get(_named_class(pretrained_model_name_or_path, options, kwargs))
        if own is not None:
            return own.from_pretrained(pretrained_model_name_or_path, **dataclasses.asdict(options), **kwargs)
        settings, backend = loading.load_settings_and_backend(pretrained_model_name_or_path, options, kwargs)
        name = settings.get("tokenizer_class")
        if not name:
            name = MODEL_TYPE_TOKENIZERS.get(loading.read_model_type(pretrained_model_name_or_path, options))
        elif name.removesuffix("Fast") == "LlamaTokenizer" and _is_byte_level(backend):
            name = None  # Llama-3 style byte-level files that still name LlamaTokenizer: the reference goes generic
        return tokenizer_class(name)(name_or_path=pretrained_model_name_or_path, **backend, **settings)


def _named_class(location, options: HubOptions, kwargs: dict) -> str | None:
    """The class tokenizer_config.json names (or ``tokenizer_class=``), else the model type's, without "Fast"."""
    name = kwargs.get("tokenizer_class")
    if name is None and not os.path.isfile(str(location)):
        path = resolve_file(location, loading.CONFIG_FILE, options, required=False)
        name = loading.read_json(path).get("tokenizer_class") if path is not None else None
    if name is None:
        name = MODEL_TYPE_TOKENIZERS.get(loading.read_model_type(location, options))
    return name.removesuffix("Fast") if name else None


def _is_byte_level(backend: dict) -> bool:
    if "tokenizer_file" not in backend:
        return False
    with open(backend["tokenizer_file"], encoding="utf-8") as handle:
        return '"ByteLevel"' in handle.read()
