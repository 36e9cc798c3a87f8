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
    # one config-driven decoder, workbench/models/llama.py
    **{f"{family}{suffix}": "models.llama" for family in ("Llama", "Mistral", "Qwen2")
       for suffix in ("Config", "Model", "ForCausalLM", "ForSequenceClassification")},
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
        "GenerateDecoderOnlyOutput", "GenerateBeamDecoderOnlyOutput",
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
    from .tokenization import AutoTokenizer, BatchEncoding, PreTrainedTokenizerFast, get_json_schema  # noqa: F401
