"""``Wav2Vec2Processor``: the CTC speech models' feature extractor and character tokenizer as one
object (Wav2Vec2, HuBERT, WavLM, ...).

    processor(audio=waveform, sampling_rate=16000)         -> input_values [, attention_mask]
    processor(text="HELLO")                                -> input_ids, attention_mask
    processor(audio=waveform, text="HELLO", ...)           -> input_values and labels (the text's ids)
    processor.batch_decode(logits.argmax(-1))              -> texts, decoded the CTC way
"""

from __future__ import annotations

from typing import Any

from .processor import ProcessorMixin


class Wav2Vec2Processor(ProcessorMixin):
    """>>> processor = Wav2Vec2Processor.from_pretrained("facebook/wav2vec2-base-960h")  # doctest: +SKIP
    >>> batch = processor(audio=waveform, sampling_rate=16000, text="HELLO", return_tensors="pt")  # doctest: +SKIP
    >>> model(batch.input_values, labels=batch.labels).loss  # doctest: +SKIP
    """

    attributes = ("feature_extractor", "tokenizer")
    takes_chat_template = False

    def __call__(self, audio=None, text=None, **kwargs: Any):
        """Audio (first positional argument or ``audio=``) to the feature extractor, ``text=`` to the
        tokenizer; a keyword goes to each part that takes it (``padding``, ``return_tensors``). Given
        both, the text's ``input_ids`` become the ``labels`` of the audio features, as in the reference."""
        return self.audio_and_text(audio, text, kwargs)

    def pad(self, input_features=None, *args: Any, labels=None, **kwargs: Any):
        """Pad a batch for training: ``input_features`` (the feature extractor's rows) with the feature
        extractor's ``pad``, ``labels`` (``{"input_ids": rows}`` or a list of such dicts) with the
        tokenizer's; given both, the padded label ids come back as ``labels``."""
        if input_features is None and labels is None:
            raise ValueError("Wav2Vec2Processor.pad needs input_features (audio rows) or labels= (token rows).")
        if input_features is not None:
            input_features = self.feature_extractor.pad(input_features, *args, **kwargs)
        if labels is not None:
            labels = self.tokenizer.pad(labels, **kwargs)
        if labels is None:
            return input_features
        if input_features is None:
            return labels
        input_features["labels"] = labels["input_ids"]
        return input_features

    @property
    def model_input_names(self) -> list[str]:
        return [*self.feature_extractor.model_input_names, "labels"]
