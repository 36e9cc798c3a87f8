"""Text generation: ``model.generate()`` and the pieces it is built from.

* :mod:`.configuration` - ``GenerationConfig`` (generation_config.json)
* :mod:`.api` - ``generate()``: settings, prompt, lengths, processors and criteria, then a strategy
* :mod:`.decoding` - greedy search and sampling; :mod:`.beam_search` - beam search;
  :mod:`.assisted` - assisted generation (an assistant model drafts, the model checks)
* :mod:`.inputs` - what each forward pass gets, and the bookkeeping between steps
* :mod:`.logits_process`, :mod:`.stopping_criteria`, :mod:`.streamers` - the composable parts
* :mod:`.whisper` - Whisper's generate(): its prompt (:mod:`.whisper_prompt`), timestamp rules
  (:mod:`.whisper_logits`), windows and segments, word times (:mod:`.whisper_timing`, :mod:`.alignment`)
"""

from .api import generate
from .configuration import CompileConfig, GenerationConfig
from .logits_process import (
    ForcedBOSTokenLogitsProcessor,
    ForcedEOSTokenLogitsProcessor,
    InfNanRemoveLogitsProcessor,
    LogitNormalization,
    LogitsProcessor,
    LogitsProcessorList,
    MinLengthLogitsProcessor,
    MinNewTokensLengthLogitsProcessor,
    MinPLogitsWarper,
    NoBadWordsLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    SuppressTokensAtBeginLogitsProcessor,
    SuppressTokensLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
    TypicalLogitsWarper,
)
from .outputs import (
    GenerateBeamDecoderOnlyOutput,
    GenerateBeamEncoderDecoderOutput,
    GenerateDecoderOnlyOutput,
    GenerateEncoderDecoderOutput,
)
from .stopping_criteria import (
    EosTokenCriteria,
    MaxLengthCriteria,
    MaxTimeCriteria,
    StoppingCriteria,
    StoppingCriteriaList,
    StopStringCriteria,
)
from .streamers import BaseStreamer, TextIteratorStreamer, TextStreamer
from .whisper_logits import WhisperTimeStampLogitsProcessor

__all__ = [name for name in dir() if not name.startswith("_") and name[0].isupper()] + ["generate"]
