"""workbench: the transformer model stack on PyTorch, built for notebooks.

``import workbench`` is light: public names are looked up lazily, so torch-heavy, training,
pipeline and widget code loads only when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY = {
    # configuration and auto classes
    "PretrainedConfig": "config",
    "AutoConfig": "auto",
    "AutoModel": "auto",
    "AutoModelForCausalLM": "auto",
    "AutoModelForMaskedLM": "auto",
    "AutoModelForSequenceClassification": "auto",
    "AutoModelForTokenClassification": "auto",
    "AutoModelForQuestionAnswering": "auto",
    "AutoModelForMultipleChoice": "auto",
    "AutoModelForSeq2SeqLM": "auto",
    "AutoModelForSpeechSeq2Seq": "auto",
    "AutoModelForTextEncoding": "auto",
    **{name: "processing" for name in ("AutoFeatureExtractor", "AutoProcessor", "BatchFeature", "FeatureExtractionMixin",
                                       "ProcessorMixin", "WhisperFeatureExtractor", "WhisperProcessor")},
    "PreTrainedModel": "modeling",
    # model families
    **{f"Bert{suffix}": "models.bert" for suffix in ("Config", "Model", "ForMaskedLM", "ForSequenceClassification",
                                                      "ForTokenClassification", "ForQuestionAnswering", "ForMultipleChoice")},
    **{f"{family}{suffix}": "models.roberta" for family in ("Roberta", "XLMRoberta")
       for suffix in ("Config", "Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                      "ForQuestionAnswering", "ForMultipleChoice")},
    **{f"DistilBert{suffix}": "models.distilbert" for suffix in ("Config", "Model", "ForMaskedLM", "ForSequenceClassification",
                                                                  "ForTokenClassification", "ForQuestionAnswering", "ForMultipleChoice")},
    **{f"GPT2{suffix}": "models.gpt2" for suffix in ("Config", "Model", "LMHeadModel", "ForSequenceClassification",
                                                      "ForTokenClassification", "ForQuestionAnswering")},
    **{f"Whisper{suffix}": "models.whisper" for suffix in ("Config", "Model", "ForConditionalGeneration")},
    **{f"OPT{suffix}": "models.opt" for suffix in ("Config", "Model", "ForCausalLM", "ForSequenceClassification",
                                                    "ForQuestionAnswering")},
    # one config-driven decoder, workbench/models/llama.py
    **{f"{family}{suffix}": "models.llama" for family in ("Llama", "Mistral", "Qwen2")
       for suffix in ("Config", "Model", "ForCausalLM", "ForSequenceClassification")},
    # one encoder-decoder, workbench/models/t5.py
    **{f"{family}{suffix}": "models.t5" for family in ("T5", "MT5", "UMT5")
       for suffix in ("Config", "Model", "ForConditionalGeneration", "EncoderModel")},
    # encoder-decoders, one config-driven file: workbench/models/bart.py
    **{f"{family}{suffix}": "models.bart" for family in ("Bart", "MBart", "Marian", "Pegasus")
       for suffix in ("Config", "Model")},
    **{name: "models.bart" for name in (
        "BartForConditionalGeneration", "BartForSequenceClassification", "MBartForConditionalGeneration",
        "MBartForSequenceClassification", "MarianMTModel", "PegasusForConditionalGeneration",
    )},
    # generation
    **{name: "generation" for name in (
        "GenerationConfig", "CompileConfig", "BaseStreamer", "TextStreamer", "TextIteratorStreamer", "LogitsProcessor",
        "LogitsProcessorList",
        "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper", "TypicalLogitsWarper",
        "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor", "NoBadWordsLogitsProcessor",
        "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor", "SuppressTokensLogitsProcessor",
        "SuppressTokensAtBeginLogitsProcessor", "ForcedBOSTokenLogitsProcessor", "ForcedEOSTokenLogitsProcessor",
        "InfNanRemoveLogitsProcessor", "LogitNormalization", "StoppingCriteria", "StoppingCriteriaList",
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
    "BatchEncoding": "tokenization",
    "get_json_schema": "tokenization",
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
