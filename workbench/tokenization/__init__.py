"""Tokenizers: the transformers tokenizer API over the Hugging Face ``tokenizers`` library."""

from tokenizers import AddedToken

from .auto import AutoTokenizer
from .batch_encoding import BatchEncoding, CharSpan, TokenSpan
from .options import PaddingStrategy, TruncationStrategy
from .tokenizer import PreTrainedTokenizerFast
from .tool_schema import DocstringParsingException, TypeHintParsingException, get_json_schema
from .wav2vec2 import Wav2Vec2CTCTokenizer, Wav2Vec2CTCTokenizerOutput
from .whisper import WhisperTokenizer

WhisperTokenizerFast = WhisperTokenizer  # one class under both names, as in the reference

__all__ = [
    "AddedToken",
    "AutoTokenizer",
    "BatchEncoding",
    "CharSpan",
    "DocstringParsingException",
    "PaddingStrategy",
    "PreTrainedTokenizerFast",
    "TokenSpan",
    "TruncationStrategy",
    "TypeHintParsingException",
    "Wav2Vec2CTCTokenizer",
    "Wav2Vec2CTCTokenizerOutput",
    "WhisperTokenizer",
    "WhisperTokenizerFast",
    "get_json_schema",
]
