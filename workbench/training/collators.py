"""Data collators: a list of dataset rows -> one batch of tensors.

All of them take rows that are dicts (``{"input_ids": [...], "label": 1}``) and return a dict of
tensors (``return_tensors="pt"``, the default) or numpy arrays (``"np"``). Padding goes through
``tokenizer.pad``; label sequences are padded with -100, the index PyTorch losses ignore.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

LABEL_PAD = -100


def _rows(features) -> list[Mapping]:
    return [f if isinstance(f, Mapping) else vars(f) for f in features]


def default_data_collator(features: list, return_tensors: str = "pt") -> dict[str, Any]:
    """Stack rows that need no padding. ``label`` (one number per row) and ``label_ids`` (a list per row)
    become ``labels``; string values are dropped.

    >>> default_data_collator([{"input_ids": [1, 2], "label": 0}, {"input_ids": [3, 4], "label": 1}])["labels"]
    tensor([0, 1])
    """
    if return_tensors not in ("pt", "np"):
        raise ValueError(f"return_tensors={return_tensors!r}: use 'pt' or 'np'.")
    rows = _rows(features)
    first = rows[0]
    batch: dict[str, Any] = {}
    for key in ("label", "label_ids"):
        if key in first and first[key] is not None:
            batch["labels"] = _stack([row[key] for row in rows], return_tensors, labels=True)
            break
    for key, value in first.items():
        if key in ("label", "label_ids") or value is None or isinstance(value, str):
            continue
        batch[key] = _stack([row[key] for row in rows], return_tensors, key=key)
    return batch


def _is_integer(value) -> bool:
    if isinstance(value, torch.Tensor):
        return not value.dtype.is_floating_point
    if isinstance(value, np.ndarray):
        return not np.issubdtype(value.dtype, np.floating)
    if isinstance(value, (list, tuple)):
        return _is_integer(value[0]) if value else True
    return isinstance(value, (int, np.integer))


def _stack(values: list, return_tensors: str, labels: bool = False, key: str = ""):
    first = values[0]
    if not isinstance(first, (torch.Tensor, np.ndarray, list, tuple, int, float, bool, np.generic)):
        raise ValueError(f"The rows' {key!r} values are {type(first).__module__}.{type(first).__name__} objects, which "
                         f"cannot be stacked into a batch: turn them into arrays in the data's transform (an image "
                         f"processor's pixel_values) and drop the {key!r} column there, or let the Trainer drop it "
                         "(remove_unused_columns=True).")
    if return_tensors == "pt":
        if isinstance(first, torch.Tensor):
            return torch.stack(values)
        if isinstance(first, np.ndarray):
            return torch.from_numpy(np.stack(values))
        if labels:  # labels keep an explicit dtype: int -> long, float -> float32
            return torch.tensor(values, dtype=torch.long if _is_integer(first) else torch.float)
        return torch.tensor(values)
    if isinstance(first, np.ndarray):
        return np.stack(values)
    if labels:
        return np.array(values, dtype=np.int64 if _is_integer(first) else np.float32)
    return np.array(values)


@dataclass
class DefaultDataCollator:
    """:func:`default_data_collator` as an object (to fix ``return_tensors`` once)."""

    return_tensors: str = "pt"

    def __call__(self, features, return_tensors: str | None = None):
        return default_data_collator(features, return_tensors or self.return_tensors)


def _rename_labels(batch) -> Any:
    for key in ("label", "label_ids"):
        if key in batch:
            batch["labels"] = batch[key]
            del batch[key]
    return batch


@dataclass
class DataCollatorWithPadding:
    """Pad rows to the longest in the batch (or ``max_length``) with ``tokenizer.pad``.

    >>> collator = DataCollatorWithPadding(tokenizer=tokenizer)        # doctest: +SKIP
    """

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"

    def __call__(self, features: list) -> dict[str, Any]:
        batch = self.tokenizer.pad(features, padding=self.padding, max_length=self.max_length,
                                   pad_to_multiple_of=self.pad_to_multiple_of, return_tensors=self.return_tensors)
        return _rename_labels(batch)


def _pad_labels(labels: list, length: int, side: str, pad: int) -> list[list]:
    rows = [label.tolist() if isinstance(label, (torch.Tensor, np.ndarray)) else list(label) for label in labels]
    if side == "right":
        return [row + [pad] * (length - len(row)) for row in rows]
    return [[pad] * (length - len(row)) + row for row in rows]


def _as_int64(rows: list, return_tensors: str):
    return torch.tensor(rows, dtype=torch.int64) if return_tensors == "pt" else np.array(rows, dtype=np.int64)


def _split_labels(rows: list[dict]) -> tuple[str, list | None, list[dict]]:
    """The rows' label key ("label" or "labels"), their labels (None without any), and the rest."""
    label_name = "label" if "label" in rows[0] else "labels"
    labels = [row[label_name] for row in rows] if label_name in rows[0] else None
    return label_name, labels, [{k: v for k, v in row.items() if k != label_name} for row in rows]


@dataclass
class DataCollatorForTokenClassification:
    """Pad the inputs with ``tokenizer.pad`` and the per-token labels with ``label_pad_token_id`` (-100)."""

    tokenizer: Any
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = LABEL_PAD
    return_tensors: str = "pt"

    def __call__(self, features: list, return_tensors: str | None = None) -> dict[str, Any]:
        return_tensors = return_tensors or self.return_tensors
        rows = _rows(features)
        label_name, labels, inputs = _split_labels(rows)
        batch = self.tokenizer.pad(inputs, padding=self.padding, max_length=self.max_length,
                                   pad_to_multiple_of=self.pad_to_multiple_of, return_tensors=return_tensors)
        if labels is None:
            return batch
        length = np.asarray(batch["input_ids"]).shape[1]
        padded = _pad_labels(labels, length, self.tokenizer.padding_side, self.label_pad_token_id)
        batch[label_name] = _as_int64(padded, return_tensors)
        return batch


@dataclass
class DataCollatorForSeq2Seq:
    """Pad inputs with ``tokenizer.pad`` and ``labels`` with -100; when ``model`` has
    ``prepare_decoder_input_ids_from_labels`` the batch also gets ``decoder_input_ids``."""

    tokenizer: Any
    model: Any | None = None
    padding: bool | str = True
    max_length: int | None = None
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = LABEL_PAD
    return_tensors: str = "pt"

    def __call__(self, features: list, return_tensors: str | None = None) -> dict[str, Any]:
        return_tensors = return_tensors or self.return_tensors
        rows = _rows(features)
        label_name, labels, inputs = _split_labels(rows)
        if labels is not None and all(label is None for label in labels):
            labels = None
        batch = self.tokenizer.pad(inputs, padding=self.padding, max_length=self.max_length,
                                   pad_to_multiple_of=self.pad_to_multiple_of, return_tensors=return_tensors)
        if labels is None:
            batch["labels"] = None
            return batch
        if self.padding is False or self.padding == "do_not_pad":
            batch["labels"] = [list(label) if isinstance(label, list) else np.asarray(label) for label in labels]
            return batch
        length = self.max_length if self.padding == "max_length" and self.max_length else max(len(l) for l in labels)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        padded = _pad_labels(labels, length, self.tokenizer.padding_side, self.label_pad_token_id)
        batch["labels"] = _as_int64(padded, return_tensors)
        if self.model is not None and hasattr(self.model, "prepare_decoder_input_ids_from_labels"):
            batch["decoder_input_ids"] = self.model.prepare_decoder_input_ids_from_labels(labels=batch["labels"])
        return batch


def _collate_ids(examples: list, tokenizer, pad_to_multiple_of: int | None) -> torch.Tensor:
    """Rows of token ids (lists or tensors) -> one (B, T) tensor, padded with the tokenizer's pad id."""
    tensors = [e if isinstance(e, torch.Tensor) else torch.tensor(e, dtype=torch.long) for e in examples]
    length = max(t.shape[0] for t in tensors)
    same = all(t.shape[0] == length for t in tensors)
    if same and (pad_to_multiple_of is None or length % pad_to_multiple_of == 0):
        return torch.stack(tensors)
    if tokenizer.pad_token is None:
        raise ValueError(f"These rows have different lengths and need padding, but the tokenizer "
                         f"({type(tokenizer).__name__}) has no pad token: set tokenizer.pad_token "
                         "(to tokenizer.eos_token, say).")
    if pad_to_multiple_of:
        length = -(-length // pad_to_multiple_of) * pad_to_multiple_of
    batch = tensors[0].new_full((len(tensors), length), tokenizer.pad_token_id)
    for row, tensor in zip(batch, tensors):
        if tokenizer.padding_side == "right":
            row[: tensor.shape[0]] = tensor
        else:
            row[length - tensor.shape[0]:] = tensor
    return batch


@dataclass
class DataCollatorForLanguageModeling:
    """Batches for language modelling.

    ``mlm=True`` (BERT-style): ``mlm_probability`` of the non-special tokens are picked; of those,
    ``mask_replace_prob`` (80%) become the mask token, ``random_replace_prob`` (10%) a random token and
    the rest stay; ``labels`` hold the original ids at picked positions and -100 elsewhere.
    ``mlm=False`` (causal): ``labels`` are the input ids with padding set to -100 (the model shifts them).
    ``seed`` gives the collator its own random generator (else the global torch one is used).
    """

    tokenizer: Any
    mlm: bool = True
    whole_word_mask: bool = False
    mlm_probability: float | None = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: int | None = None
    return_tensors: str = "pt"
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.whole_word_mask:
            raise NotImplementedError("whole_word_mask=True is not supported by workbench yet; mask single tokens "
                                      "(whole_word_mask=False).")
        if self.return_tensors != "pt":
            raise NotImplementedError("DataCollatorForLanguageModeling returns PyTorch tensors only (return_tensors='pt').")
        if self.mlm:
            if self.tokenizer.mask_token is None:
                raise ValueError("This tokenizer has no mask token, which masked language modelling needs; "
                                 "pass mlm=False to train a causal language model instead.")
            if self.mlm_probability is None or not 0 <= self.mlm_probability <= 1:
                raise ValueError(f"mlm_probability must be in [0, 1], got {self.mlm_probability}.")
        for name in ("mask_replace_prob", "random_replace_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}.")
        if self.mask_replace_prob + self.random_replace_prob > 1:
            raise ValueError("mask_replace_prob + random_replace_prob must not exceed 1 "
                             f"(got {self.mask_replace_prob} + {self.random_replace_prob}).")
        self.generator = None

    def _make_generator(self) -> None:
        seed = self.seed
        if multiprocessing.current_process().name != "MainProcess":
            worker = torch.utils.data.get_worker_info()
            if worker is None:
                raise ValueError("A seeded DataCollatorForLanguageModeling in a subprocess must run inside a "
                                 "torch DataLoader worker (which gives each worker its own seed).")
            seed += worker.id  # each data-loading worker masks differently
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, examples: list, return_tensors: str | None = None) -> dict[str, Any]:
        if self.seed is not None and self.generator is None:
            self._make_generator()
        if isinstance(examples[0], Mapping):
            batch = self.tokenizer.pad(examples, return_tensors="pt", pad_to_multiple_of=self.pad_to_multiple_of)
        else:
            batch = {"input_ids": _collate_ids(examples, self.tokenizer, self.pad_to_multiple_of)}
        special_tokens_mask = batch.pop("special_tokens_mask", None)
        batch.pop("offset_mapping", None)
        if self.mlm:
            batch["input_ids"], batch["labels"] = self.torch_mask_tokens(batch["input_ids"], special_tokens_mask)
        else:
            labels = batch["input_ids"].clone()
            if self.tokenizer.pad_token_id is not None:
                labels[labels == self.tokenizer.pad_token_id] = LABEL_PAD
            batch["labels"] = labels
        return batch

    def torch_mask_tokens(self, inputs: torch.Tensor, special_tokens_mask=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Pick and corrupt tokens for masked LM; returns (inputs, labels). The random draws come in the
        reference's order (picks, mask, random), so a seeded collator reproduces its batches."""
        labels = inputs.clone()
        if special_tokens_mask is None:
            special_tokens_mask = [self.tokenizer.get_special_tokens_mask(row, already_has_special_tokens=True)
                                   for row in labels.tolist()]
        protected = torch.as_tensor(special_tokens_mask, dtype=torch.bool)
        probabilities = torch.full(labels.shape, float(self.mlm_probability)).masked_fill_(protected, 0.0)
        picked = torch.bernoulli(probabilities, generator=self.generator).bool()
        labels[~picked] = LABEL_PAD
        masked = torch.bernoulli(torch.full(labels.shape, float(self.mask_replace_prob)), generator=self.generator).bool()
        masked &= picked
        inputs[masked] = self.tokenizer.convert_tokens_to_ids(self.tokenizer.mask_token)
        if self.mask_replace_prob == 1 or self.random_replace_prob == 0:
            return inputs, labels
        # of the picked tokens not masked, this share becomes random tokens (0.1 / 0.2 = half by default)
        share = self.random_replace_prob / (1 - self.mask_replace_prob)
        randomised = torch.bernoulli(torch.full(labels.shape, share), generator=self.generator).bool()
        randomised &= picked & ~masked
        random_ids = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long, generator=self.generator)
        inputs[randomised] = random_ids[randomised]
        return inputs, labels
