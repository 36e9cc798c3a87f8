"""Feature extractors: raw audio (and, later, images) to model inputs, saved as preprocessor_config.json."""

from .auto import AutoFeatureExtractor
from .base import BatchFeature, FeatureExtractionMixin
from .whisper import WhisperFeatureExtractor

__all__ = ["AutoFeatureExtractor", "BatchFeature", "FeatureExtractionMixin", "WhisperFeatureExtractor"]
