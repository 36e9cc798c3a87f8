"""What the audio pipelines (speech recognition, audio classification, zero-shot audio
classification) take as one clip, and how they tell one clip from a batch of them.

One clip: a file path, encoded bytes or a file object (WAV/FLAC/MP3/OGG, decoded by
:func:`workbench.audio.load_audio`), a 1-D array / tensor / list of numbers at the model's rate, a
dict ``{"raw"|"array": samples, "sampling_rate": rate}``, a ``datasets`` audio row or decoder.
A batch: a list (or generator, dataset) of those.
"""

from __future__ import annotations

import numpy as np
import torch

from ..audio import check_audio


class AudioInputs:
    """Mixin for a :class:`~workbench.pipelines.base.Pipeline` whose items are audio clips."""

    def check_input(self, item) -> None:
        check_audio(item)  # every input kind load_audio decodes; errors name the fix

    def _is_batch(self, inputs) -> bool:
        if isinstance(inputs, (np.ndarray, torch.Tensor, dict, bytes, bytearray, memoryview)):
            return False
        if hasattr(inputs, "read") or hasattr(inputs, "get_all_samples"):  # a file object, a torchcodec decoder
            return False
        if isinstance(inputs, list):  # a list of numbers is one waveform; a list of clips is a batch
            return not inputs or not isinstance(inputs[0], (int, float, np.floating, np.integer))
        return super()._is_batch(inputs)
