"""workbench: the transformer model stack on PyTorch, built for notebooks.

``import workbench`` is light: public names are looked up lazily, so torch-heavy, training,
pipeline and widget code loads only when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .models.registry import FAMILIES as _FAMILIES  # no torch: names and module paths only

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY = {
    # configuration and auto classes
    "PretrainedConfig": "config",
    "BitsAndBytesConfig": "quantization",
    "AutoConfig": "auto",
    "AutoModel": "auto",
    "AutoModelForCausalLM": "auto",
    "AutoModelForMaskedLM": "auto",
    "AutoModelForSequenceClassification": "auto",
    "AutoModelForTokenClassification": "auto",
    "AutoModelForQuestionAnswering": "auto",
    "AutoModelForMultipleChoice": "auto",
    "AutoModelForNextSentencePrediction": "auto",
    "AutoModelForSeq2SeqLM": "auto",
    "AutoModelForSpeechSeq2Seq": "auto",
    "AutoModelForTextEncoding": "auto",
    "AutoModelForPreTraining": "auto",
    **{name: "auto" for name in ("AutoBackbone", "AutoModelForImageClassification", "AutoModelForImageSegmentation",
                                 "AutoModelForObjectDetection", "AutoModelForUniversalSegmentation")},
    "AutoBackbone": "auto",
    "AutoModelForImageClassification": "auto",
    "AutoModelForSemanticSegmentation": "auto",
    **{name: "auto" for name in ("AutoBackbone", "AutoModelForImageClassification", "AutoModelForMaskedImageModeling",
                                 "AutoModelForSemanticSegmentation")},
    # vision
    "AutoModelForImageTextToText": "auto",
    "AutoModelForMaskedImageModeling": "auto",
    "AutoModelForVisualQuestionAnswering": "auto",
    "AutoModelForZeroShotImageClassification": "auto",
    # audio
    **{name: "auto" for name in ("AutoModelForAudioClassification", "AutoModelForAudioFrameClassification",
                                 "AutoModelForAudioXVector", "AutoModelForCTC")},
    **{name: "processing" for name in ("AutoFeatureExtractor", "AutoProcessor", "BatchFeature", "FeatureExtractionMixin",
                                       "ProcessorMixin", "WhisperFeatureExtractor", "WhisperProcessor",
                                       "Wav2Vec2FeatureExtractor", "Wav2Vec2Processor", "ClapFeatureExtractor",
                                       "ClapProcessor")},
    "ASTFeatureExtractor": "processing",
    # image processors and image-text processors (processing/__init__.py lists them; torchvision loads on first use)
    **{name: "processing" for name in (
        "AutoImageProcessor", "BaseImageProcessor", "BaseImageProcessorFast", "ImageProcessingMixin", "BlipProcessor",
        "CLIPProcessor", "SiglipProcessor",
        *(f"{family}ImageProcessor{suffix}" for family in ("Bit", "Blip", "CLIP", "ConvNext", "DeiT", "Detr",
                                                          "MobileNetV2", "Segformer", "Siglip", "ViT") for suffix in ("", "Fast")))},
    "PreTrainedModel": "modeling",
    # model families: configs and models, from the registry (one entry per model_type)
    **{name: f"models.{family.module}" for family in _FAMILIES.values() for name in family.exports},
    # generation
    **{name: "generation" for name in (
        "GenerationConfig", "CompileConfig", "BaseStreamer", "TextStreamer", "TextIteratorStreamer", "LogitsProcessor",
        "LogitsProcessorList",
        "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper", "TypicalLogitsWarper",
        "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor", "NoBadWordsLogitsProcessor",
        "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor", "SuppressTokensLogitsProcessor",
        "SuppressTokensAtBeginLogitsProcessor", "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor",
        "InfNanRemoveLogitsProcessor", "LogitNormalization", "WhisperTimeStampLogitsProcessor", "StoppingCriteria",
        "StoppingCriteriaList",
        "MaxLengthCriteria", "MaxTimeCriteria", "EosTokenCriteria", "StopStringCriteria",
        "GenerateDecoderOnlyOutput", "GenerateBeamDecoderOnlyOutput", "GenerateEncoderDecoderOutput",
        "GenerateBeamEncoderDecoderOutput",
    )},
    # key/value caches
    "Cache": "nn.cache",
    "DynamicCache": "nn.cache",
    "SlidingWindowCache": "nn.cache",
    "StaticCache": "nn.cache",
    # tokenizers
    "AutoTokenizer": "tokenization",
    "PreTrainedTokenizerFast": "tokenization",
    "Wav2Vec2CTCTokenizer": "tokenization",
    "WhisperTokenizer": "tokenization",
    "WhisperTokenizerFast": "tokenization",
    "BatchEncoding": "tokenization",
    "get_json_schema": "tokenization",
    # audio input (files, bytes, arrays, datasets rows -> mono float32 at a model's rate)
    "load_audio": "audio",
    # pipelines
    "pipeline": "pipelines",
    "Pipeline": "pipelines",
    "KeyDataset": "pipelines",
    "FeatureExtractionPipeline": "pipelines.feature_extraction",
    "TextClassificationPipeline": "pipelines.text_classification",
    "TokenClassificationPipeline": "pipelines.token_classification",
    "NerPipeline": "pipelines.token_classification",
    "QuestionAnsweringPipeline": "pipelines.question_answering",
    "FillMaskPipeline": "pipelines.fill_mask",
    "ZeroShotClassificationPipeline": "pipelines.zero_shot_classification",
    "AudioClassificationPipeline": "pipelines.audio_classification",
    # training (accelerate is imported only when a Trainer is built)
    **{name: "training" for name in (
        "TrainingArguments", "Seq2SeqTrainingArguments", "Trainer", "Seq2SeqTrainer", "TrainerCallback", "TrainerState",
        "TrainerControl", "EarlyStoppingCallback", "PrinterCallback", "ProgressCallback", "DefaultFlowCallback",
        "TensorBoardCallback", "DataCollatorWithPadding", "DataCollatorForLanguageModeling",
        "DataCollatorForTokenClassification", "DataCollatorForSeq2Seq", "DefaultDataCollator", "default_data_collator",
        "HfArgumentParser", "set_seed", "EvalPrediction", "IntervalStrategy", "get_scheduler",
        "get_linear_schedule_with_warmup", "get_cosine_schedule_with_warmup", "get_constant_schedule",
        "get_constant_schedule_with_warmup", "get_last_checkpoint", "AdamW",
    )},
    # widgets (ipywidgets loads only when one is used)
    "ImageProcessorInspector": "widgets.image_inspector",
    # errors
    "WorkbenchError": "errors",
    "CheckpointNotFoundError": "errors",
    "CheckpointError": "errors",
    "ConfigError": "errors",
    "UnsupportedModelError": "errors",
    "ChatTemplateError": "errors",
    "ChatTemplateSecurityError": "errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:  # pragma: no cover - for editors and type checkers only
    from .auto import *  # noqa: F401,F403
    from .config import PretrainedConfig  # noqa: F401
    from .errors import *  # noqa: F401,F403
    from .generation import *  # noqa: F401,F403
    from .modeling import PreTrainedModel  # noqa: F401
    from .training import *  # noqa: F401,F403
    from .tokenization import AutoTokenizer, BatchEncoding, PreTrainedTokenizerFast, get_json_schema  # noqa: F401
