"""Tokenizers: the transformers tokenizer API over the Hugging Face ``tokenizers`` library."""

from tokenizers import AddedToken

from .auto import AutoTokenizer
from .batch_encoding import BatchEncoding, CharSpan, TokenSpan
from .options import PaddingStrategy, TruncationStrategy
from .tokenizer import PreTrainedTokenizerFast
from .tool_schema import DocstringParsingException, TypeHintParsingException, get_json_schema

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
    "get_json_schema",
]
