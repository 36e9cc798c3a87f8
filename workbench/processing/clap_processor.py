"""``ClapProcessor``: CLAP's feature extractor and tokenizer as one object.

    processor(audio=waveform, sampling_rate=48000)   -> input_features, is_longer
    processor(text=["a dog", "rain"], padding=True)   -> input_ids, attention_mask
    processor(text=..., audio=..., ...)               -> both, in one BatchFeature
"""

from __future__ import annotations

from .processor import ProcessorMixin


class ClapProcessor(ProcessorMixin):
    """CLAP's feature extractor and RoBERTa tokenizer as one object: ``text=`` to the tokenizer, ``audio=``
    to the feature extractor, their outputs merged.

    >>> processor = ClapProcessor.from_pretrained("laion/clap-htsat-unfused")  # doctest: +SKIP
    >>> batch = processor(text=["a dog", "rain"], audio=wave, sampling_rate=48000, padding=True,
    ...                   return_tensors="pt")                                     # doctest: +SKIP
    """

    attributes = ("feature_extractor", "tokenizer")
    takes_chat_template = False
