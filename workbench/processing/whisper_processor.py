"""``WhisperProcessor``: Whisper's feature extractor and tokenizer as one object.

    processor(waveform, sampling_rate=16000)          -> input_features
    processor(text="Hello")                           -> input_ids, attention_mask (the tokenizer's output)
    processor(waveform, text="Hello", ...)            -> input_features and labels (the text's input_ids)
"""

from __future__ import annotations

from typing import Any

from .processor import ProcessorMixin


class WhisperProcessor(ProcessorMixin):
    """>>> processor = WhisperProcessor.from_pretrained("openai/whisper-tiny")  # doctest: +SKIP
    >>> batch = processor(audio, sampling_rate=16000, text=transcript, return_tensors="pt")  # doctest: +SKIP
    >>> model(batch.input_features, labels=batch.labels).loss  # doctest: +SKIP
    """

    attributes = ("feature_extractor", "tokenizer")
    takes_chat_template = False  # a chat template in the folder is the tokenizer's

    def __call__(self, *args: Any, audio=None, text=None, sampling_rate: int | None = None, **kwargs: Any):
        """Audio (first positional argument, or ``audio=``) to the feature extractor, ``text=`` to the
        tokenizer. Given both, the text's ``input_ids`` become the ``labels`` of the audio features, as
        in the reference; given one, that part's output is returned as it is."""
        if len(args) > 1:
            raise TypeError(f"WhisperProcessor takes the audio as its one positional argument, got {len(args)}; "
                            "pass the text as text=.")
        if args:
            audio = args[0]
        return self.audio_and_text(audio, text, kwargs, sampling_rate=sampling_rate)
