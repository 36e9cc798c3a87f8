"""Model inputs other than text: audio feature extractors, image processors, and processors that
pair them with a tokenizer. Folders saved by transformers 4.x (preprocessor_config.json) and 5
(processor_config.json) both load; see files.py. Image processing needs torchvision and Pillow
(``pip install workbench[vision]``), imported when an image is processed."""

from .auto import AutoFeatureExtractor
from .auto_image import AutoImageProcessor
from .auto_processor import AutoProcessor
from .base import BatchFeature, FeatureExtractionMixin
from .image_processing import BaseImageProcessor, BaseImageProcessorFast, ImageProcessingMixin
from .image_processors import (
    BitImageProcessor,
    BitImageProcessorFast,
    BlipImageProcessor,
    BlipImageProcessorFast,
    CLIPImageProcessor,
    CLIPImageProcessorFast,
    ConvNextImageProcessor,
    ConvNextImageProcessorFast,
    DeiTImageProcessor,
    DeiTImageProcessorFast,
    SiglipImageProcessor,
    SiglipImageProcessorFast,
    ViTImageProcessor,
    ViTImageProcessorFast,
)
from .detr import DetrImageProcessor, DetrImageProcessorFast
from .image_text_processors import BlipProcessor, CLIPProcessor, SiglipProcessor
from .processor import ProcessorMixin
from .segmentation import (
    MobileNetV2ImageProcessor,
    MobileNetV2ImageProcessorFast,
    SegformerImageProcessor,
    SegformerImageProcessorFast,
)
from .wav2vec2 import Wav2Vec2FeatureExtractor
from .wav2vec2_processor import Wav2Vec2Processor
from .whisper import WhisperFeatureExtractor
from .whisper_processor import WhisperProcessor

IMAGE_NAMES = [
    "AutoImageProcessor", "BaseImageProcessor", "BaseImageProcessorFast", "ImageProcessingMixin",
    "BitImageProcessor", "BitImageProcessorFast", "BlipImageProcessor", "BlipImageProcessorFast", "CLIPImageProcessor",
    "CLIPImageProcessorFast", "ConvNextImageProcessor", "ConvNextImageProcessorFast", "DeiTImageProcessor",
    "DeiTImageProcessorFast", "MobileNetV2ImageProcessor", "MobileNetV2ImageProcessorFast", "SiglipImageProcessor",
    "SiglipImageProcessorFast", "ViTImageProcessor", "ViTImageProcessorFast", "DetrImageProcessor",
    "DetrImageProcessorFast", "SegformerImageProcessor", "SegformerImageProcessorFast", "BlipProcessor",
    "CLIPProcessor", "SiglipProcessor",
]
__all__ = ["AutoFeatureExtractor", "AutoProcessor", "BatchFeature", "FeatureExtractionMixin", "ProcessorMixin",
           "WhisperFeatureExtractor", "WhisperProcessor", "Wav2Vec2FeatureExtractor", "Wav2Vec2Processor", *IMAGE_NAMES]
