"""Model inputs other than text: audio feature extractors (images later), and processors that pair
them with a tokenizer. Folders saved by transformers 4.x (preprocessor_config.json) and 5
(processor_config.json) both load; see files.py."""

from .auto import AutoFeatureExtractor
from .auto_processor import AutoProcessor
from .base import BatchFeature, FeatureExtractionMixin
from .processor import ProcessorMixin
from .whisper import WhisperFeatureExtractor
from .whisper_processor import WhisperProcessor

__all__ = ["AutoFeatureExtractor", "AutoProcessor", "BatchFeature", "FeatureExtractionMixin", "ProcessorMixin",
           "WhisperFeatureExtractor", "WhisperProcessor"]
