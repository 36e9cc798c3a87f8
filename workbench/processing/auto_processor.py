"""``AutoProcessor``: the processor a folder or Hub repo names, else its one part.

The class comes from ``processor_class`` (processor_config.json, then preprocessor_config.json, then
tokenizer_config.json), else from config.json's ``model_type``. A folder that names none returns its
tokenizer, else its feature extractor, as the reference does. Where the reference would build a
processor around a missing part (an empty tokenizer), workbench returns the part that is there.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from ..errors import CheckpointNotFoundError, UnsupportedModelError
from ..hub import HubOptions
from ..tokenization import AutoTokenizer
from ..tokenization.loading import CONFIG_FILE, SENTENCEPIECE_FILE, TOKENIZER_FILE, VOCAB_FILE, read_model_type
from .auto import AutoFeatureExtractor
from .auto_image import AutoImageProcessor
from .files import PREPROCESSOR_CONFIG, PROCESSOR_CONFIG, has_part, processor_class_name
from .image_text_processors import BlipProcessor, CLIPProcessor, SiglipProcessor
from .wav2vec2_processor import Wav2Vec2Processor
from .whisper_processor import WhisperProcessor

PROCESSORS = {cls.__name__: cls for cls in (WhisperProcessor, CLIPProcessor, SiglipProcessor, BlipProcessor,
                                            Wav2Vec2Processor)}
BY_MODEL_TYPE = {"whisper": WhisperProcessor, "clip": CLIPProcessor, "siglip": SiglipProcessor, "blip": BlipProcessor,
                 **dict.fromkeys(("wav2vec2", "hubert", "wavlm", "sew", "sew-d", "unispeech", "unispeech-sat",
                                  "wav2vec2-conformer", "moonshine"), Wav2Vec2Processor)}
logger = logging.getLogger("workbench")
# a lone part -> the Auto class that loads it, in the order the reference tries them
SINGLE_PARTS = {"tokenizer": AutoTokenizer, "image_processor": AutoImageProcessor, "feature_extractor": AutoFeatureExtractor}


class AutoProcessor:
    """>>> processor = AutoProcessor.from_pretrained("openai/whisper-tiny")  # doctest: +SKIP
    >>> type(processor).__name__  # doctest: +SKIP
    'WhisperProcessor'
    """

    def __init__(self) -> None:
        raise TypeError("AutoProcessor is not instantiated: use AutoProcessor.from_pretrained(folder_or_repo).")

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """A processor (``WhisperProcessor``, ...), or the tokenizer / feature extractor when the folder
        has only that part. Keyword arguments: hub options, and settings passed on as
        ``ProcessorMixin.from_pretrained`` describes."""
        location = pretrained_model_name_or_path
        options = HubOptions.pop_from(dict(kwargs))
        name = processor_class_name(location, options)
        processor = PROCESSORS.get(name) if name else BY_MODEL_TYPE.get(read_model_type(location, options))
        if name and processor is None:
            raise UnsupportedModelError(
                f"{location} names the processor {name!r}, which workbench does not implement (it has: "
                f"{', '.join(sorted(PROCESSORS))}). Load its parts on their own: AutoTokenizer.from_pretrained(...), "
                "AutoImageProcessor.from_pretrained(...), AutoFeatureExtractor.from_pretrained(...).")
        present = [part for part in SINGLE_PARTS if has_part(location, options, part)]
        if processor is not None and all(part in present for part in processor.attributes):
            return processor.from_pretrained(location, **kwargs)
        if present:
            if processor is not None:  # the reference would fail here, or build an empty tokenizer
                logger.warning("%s asks for a %s but holds only its %s; returning that.", location, processor.__name__,
                               present[0].replace("_", " "))
            return SINGLE_PARTS[present[0]].from_pretrained(location, **kwargs)
        raise CheckpointNotFoundError(_nothing_found(location, options, processor))


def _nothing_found(location, options: HubOptions, processor: type | None) -> str:
    where = os.path.join(str(location), options.subfolder) if options.subfolder else str(location)
    holds = ""
    if os.path.isdir(where):
        holds = f" It holds: {', '.join(sorted(os.listdir(where))[:12]) or 'nothing'}."
    wanted = f" (the model type asks for a {processor.__name__})" if processor is not None else ""
    return (f"No processor, tokenizer or feature extractor in {where!r}{wanted}: looked for {PROCESSOR_CONFIG} "
            f"(transformers 5), {PREPROCESSOR_CONFIG} (4.x) and the tokenizer files {TOKENIZER_FILE}, {VOCAB_FILE} or "
            f"{SENTENCEPIECE_FILE} (with {CONFIG_FILE}).{holds} Point to the folder the processor was saved in "
            "(pass subfolder= if it is nested), or save one there with processor.save_pretrained(folder).")
