"""``AutoFeatureExtractor``: the feature extractor a folder or Hub repo names (``feature_extractor_type``
in processor_config.json's ``feature_extractor`` entry or in preprocessor_config.json), else the one
of its model type."""

from __future__ import annotations

import os
from typing import Any

from ..errors import UnsupportedModelError
from ..hub import HubOptions
from ..tokenization.loading import read_model_type
from .files import load_part_dict
from .wav2vec2 import Wav2Vec2FeatureExtractor
from .whisper import WhisperFeatureExtractor

FEATURE_EXTRACTORS = {cls.__name__: cls for cls in (WhisperFeatureExtractor, Wav2Vec2FeatureExtractor)}
BY_MODEL_TYPE = {
    "whisper": WhisperFeatureExtractor,
    # the model types the reference gives Wav2Vec2FeatureExtractor (raw 16 kHz waveforms in)
    **dict.fromkeys(("wav2vec2", "hubert", "wavlm", "data2vec-audio", "sew", "sew-d", "unispeech", "unispeech-sat",
                     "wav2vec2-bert", "wav2vec2-conformer", "moonshine"), Wav2Vec2FeatureExtractor),
}


class AutoFeatureExtractor:
    def __init__(self) -> None:
        raise TypeError("AutoFeatureExtractor is not instantiated: use AutoFeatureExtractor.from_pretrained(folder_or_repo).")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        options = HubOptions.pop_from(dict(kwargs))
        values = load_part_dict(pretrained_model_name_or_path, options, "feature_extractor")
        name = values.get("feature_extractor_type")
        if name is None:  # older files: go by the model's config
            model_type = read_model_type(pretrained_model_name_or_path, options)
            if model_type not in BY_MODEL_TYPE:
                raise UnsupportedModelError(
                    f"{pretrained_model_name_or_path}: the feature extractor settings name no feature_extractor_type and "
                    f"the model type {model_type!r} has no feature extractor in workbench (it has: "
                    f"{', '.join(sorted(FEATURE_EXTRACTORS))}).")
            return BY_MODEL_TYPE[model_type].from_pretrained(pretrained_model_name_or_path, **kwargs)
        if name not in FEATURE_EXTRACTORS:
            raise UnsupportedModelError(f"{pretrained_model_name_or_path}: feature extractor {name!r} is not implemented "
                                        f"in workbench; it has: {', '.join(sorted(FEATURE_EXTRACTORS))}.")
        return FEATURE_EXTRACTORS[name].from_pretrained(pretrained_model_name_or_path, **kwargs)
