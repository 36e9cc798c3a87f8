"""Run an exported decoder in onnxruntime: the greedy text-generation loop over its key/value cache.

    >>> from workbench.onnx.runtime import OnnxCausalLM
    >>> lm = OnnxCausalLM("smollm2-onnx")                       # doctest: +SKIP
    >>> lm.generate(input_ids, max_new_tokens=20)                # doctest: +SKIP

Each step feeds the previous step's ``present.{i}.key/value`` back as ``past_key_values.{i}.key/value``
(length 0 on the prompt's step), the attention mask grown by one column and positions that count real
tokens only (left padding gets none), as workbench's ``generate()`` does; finished rows are filled
with the pad token. The loop is numpy's; onnxruntime is needed (``pip install onnxruntime``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .graphs import kv_shape


class OnnxCausalLM:
    """A session on ``folder``'s ``model.onnx`` (a ``text-generation`` export) and its config.json."""

    def __init__(self, folder, threads: int = 1, providers=("CPUExecutionProvider",)) -> None:
        import onnxruntime as ort

        folder = Path(folder)
        self.config = json.loads((folder / "config.json").read_text())
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = threads
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=list(providers))
        self.past_names = [i.name for i in self.session.get_inputs() if i.name.startswith("past_key_values.")]
        if not self.past_names:
            raise ValueError(f"{folder / 'model.onnx'} has no past_key_values inputs: it is not a text-generation "
                             "export (workbench export onnx MODEL OUT --task text-generation).")
        self.present_names = [name.replace("past_key_values.", "present.") for name in self.past_names]

    def empty_past(self, batch: int) -> dict[str, np.ndarray]:
        """Past keys and values of length 0 (the prompt's step)."""
        kv_heads, head_dim = kv_shape(_Config(self.config))
        return {name: np.zeros((batch, kv_heads, 0, head_dim), np.float32) for name in self.past_names}

    def step(self, input_ids, attention_mask, position_ids, past):
        """One forward: (logits (B, T, vocab), the present keys and values keyed as the next step's past)."""
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids, **past}
        logits, *present = self.session.run(["logits", *self.present_names], feed)
        return logits, dict(zip(self.past_names, present))

    def generate(self, input_ids, attention_mask=None, max_new_tokens: int = 20, eos_token_id=None,
                 pad_token_id=None) -> np.ndarray:
        """Greedy decoding: (B, T) prompt ids (a numpy array or a torch tensor) -> (B, T + new) ids.
        Stops after ``max_new_tokens`` or when every row has produced ``eos_token_id`` (default: the
        config's)."""
        ids = np.asarray(input_ids, dtype=np.int64)
        mask = np.ones_like(ids) if attention_mask is None else np.asarray(attention_mask, dtype=np.int64)
        eos = self._ids(self.config.get("eos_token_id") if eos_token_id is None else eos_token_id)
        pad = self.config.get("pad_token_id") if pad_token_id is None else pad_token_id
        pad = pad if pad is not None else (eos[0] if eos else 0)
        positions = np.where(mask == 1, mask.cumsum(-1) - 1, 0)  # real tokens counted, padding at 0
        step_ids, past = ids, self.empty_past(ids.shape[0])
        unfinished = np.ones(ids.shape[0], dtype=bool)
        for _ in range(max_new_tokens):
            logits, past = self.step(step_ids, mask, positions, past)
            token = np.where(unfinished, logits[:, -1].argmax(-1), pad)
            ids = np.concatenate([ids, token[:, None]], axis=1)
            unfinished &= ~np.isin(token, eos)
            if not unfinished.any():
                break
            positions = positions[:, -1:] + 1
            mask = np.concatenate([mask, np.ones((mask.shape[0], 1), np.int64)], axis=1)
            step_ids = token[:, None]
        return ids

    @staticmethod
    def _ids(value) -> list[int]:
        return [] if value is None else [value] if isinstance(value, int) else list(value)


class _Config:
    """Attribute access to config.json's dict, for :func:`kv_shape`."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)

    def __getattr__(self, name):  # keys config.json leaves out read as None
        return None
