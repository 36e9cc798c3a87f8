"""Tokenizers: the transformers tokenizer API over the Hugging Face ``tokenizers`` library."""

from tokenizers import AddedToken

from .auto import AutoTokenizer
from .batch_encoding import BatchEncoding, CharSpan, TokenSpan
from .options import PaddingStrategy, TruncationStrategy
from .tokenizer import PreTrainedTokenizerFast

__all__ = [
    "AddedToken",
    "AutoTokenizer",
    "BatchEncoding",
    "CharSpan",
    "PaddingStrategy",
    "PreTrainedTokenizerFast",
    "TokenSpan",
    "TruncationStrategy",
]
