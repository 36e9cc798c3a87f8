"""The pipeline machinery every task shares.

    inputs ─► preprocess (one item ─► one or more model-input chunks)
           ─► DataLoader: chunks padded into batches of ``batch_size``
           ─► _forward (the model, no grad) ─► split back per chunk, padding removed
           ─► postprocess (one item's chunk outputs ─► the task's answer)

A single input gives a single answer, a list gives a list, and a generator or a dataset gives a
generator, so large inputs stream. Because each chunk's outputs are cut back to its own length
before postprocessing, a batched call returns exactly what one-at-a-time calls return.

A list with ``batch_size > 1`` is known in full, so its chunks are batched by length (each batch
holds chunks of similar lengths: on review snippets of 3 to 50 words, batches of 32 carry 1.9x
fewer padded tokens than in input order) and the answers come back in input order.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset

from ..atomic_folder import staged_save

logger = logging.getLogger("workbench")


class KeyDataset:
    """One column of a dataset as pipeline inputs: ``pipe(KeyDataset(ds, "text"))``."""

    def __init__(self, dataset, key: str) -> None:
        self.dataset, self.key = dataset, key

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index][self.key]

    def __iter__(self):
        return (row[self.key] for row in self.dataset)


class _Chunks(IterableDataset):
    """(item index, chunk index, is last chunk, model inputs, metadata) for every chunk of every item."""

    def __init__(self, pipeline: "Pipeline", items: Iterable, params: dict, single: bool = False) -> None:
        self.pipeline, self.items, self.params, self.single = pipeline, items, params, single

    def __iter__(self):
        for index, item in enumerate(self.items):
            with _naming_the_input(None if self.single else index):
                self.pipeline.check_input(item)
                chunks = list(self.pipeline.preprocess(item, **self.params))
            if not chunks:
                raise ValueError(f"Input {index} produced nothing to run the model on: {item!r:.80}")
            for position, (inputs, meta) in enumerate(chunks):
                yield index, position == len(chunks) - 1, inputs, meta


class Pipeline:
    """Base class: a task sets ``task`` and implements the four hooks.

    ``_sanitize_parameters(**kwargs) -> (preprocess, forward, postprocess)`` splits call
    parameters by stage (unknown names raise); ``preprocess(item, **p)`` yields
    ``(model_inputs, meta)`` pairs with batch dimension 1; ``_forward(batch, **p)`` returns a
    dict of tensors with the batch first; ``postprocess(chunks, **p)`` gets the item's list of
    ``(outputs, meta)`` and returns the answer. ``check_input(item)`` (optional) rejects a bad
    item cheaply: a list is checked whole before the model runs, so one bad item fails the call
    up front, with its index, instead of halfway through.
    """

    task = ""
    # batches pad on the right, whatever the tokenizer says: encoders with absolute positions (BERT)
    # would see shifted positions after left padding; generation pipelines set "left"; None: the tokenizer's
    padding_side: str | None = "right"
    # outputs whose dim 1 runs over tokens, cut back to each row's own length after a padded batch;
    # None: every output whose dim 1 equals the padded length (a classifier with as many labels as
    # the batch has tokens would be cut too, so tasks with per-sequence outputs name them here)
    sequence_outputs: tuple[str, ...] | None = None

    def __init__(self, model, tokenizer=None, *, task: str = "", device=None, dtype=None, batch_size: int | None = None,
                 num_workers: int = 0, **kwargs: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.task = task or self.task
        if dtype is not None:
            from ..weights import parse_dtype

            self.model.to(parse_dtype(dtype))
        if device is not None:
            self.model.to(_device(device))
        self.model.eval()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self._defaults = self._sanitize_parameters(**kwargs)

    # --- the hooks a task implements ---------------------------------------------------------

    def _sanitize_parameters(self, **kwargs) -> tuple[dict, dict, dict]:
        if kwargs:
            raise TypeError(f"The {self.task} pipeline takes no parameter(s) {sorted(kwargs)}.")
        return {}, {}, {}

    def check_input(self, item) -> None:
        """Raise a clear error for an input this task cannot take (before any model work)."""

    def _check_parameters(self, pre: dict, fwd: dict, post: dict) -> None:
        """Reject combinations of parameters, once a call's own are merged with the pipeline's."""

    def preprocess(self, item, **params) -> Iterator[tuple[dict, Any]]:
        raise NotImplementedError

    def _forward(self, model_inputs: dict, **params) -> dict:
        return dict(self.model(**model_inputs))

    def postprocess(self, chunks: list[tuple[dict, Any]], **params):
        raise NotImplementedError

    # --- running ---------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.model.device

    def __call__(self, inputs, *args, batch_size: int | None = None, num_workers: int | None = None, **kwargs):
        if args:
            raise TypeError(f"Pass the {self.task} pipeline's options as keywords, not positionally: {args!r:.80}")
        stages = [dict(default) for default in self._defaults]
        for stage, extra in zip(stages, self._sanitize_parameters(**kwargs)):
            stage.update(extra)  # this call only; the pipeline's own defaults stay
        self._check_parameters(*stages)
        batch_size = batch_size or self.batch_size or 1
        num_workers = self.num_workers if num_workers is None else num_workers
        single = not self._is_batch(inputs)
        items = [inputs] if single else inputs
        if isinstance(items, (list, tuple)):
            if not items:
                raise ValueError(f"The {self.task} pipeline got an empty list: pass at least one input.")
            for index, item in enumerate(items):
                with _naming_the_input(index if not single else None):
                    self.check_input(item)
        results = self._run(items, batch_size, num_workers, *stages, single=single)
        if single:
            return next(results)
        return list(results) if isinstance(inputs, (list, tuple)) else results

    def _is_batch(self, inputs) -> bool:
        """Whether ``inputs`` is many items (list, generator, dataset) rather than one."""
        return _is_collection(inputs)

    def _run(self, items, batch_size: int, num_workers: int, pre: dict, fwd: dict, post: dict,
             single: bool = False) -> Iterator:
        if batch_size > 1 and num_workers == 0 and isinstance(items, (list, tuple)):
            yield from self._run_by_length(items, batch_size, pre, fwd, post)
            return
        loader = DataLoader(_Chunks(self, items, pre, single), batch_size=batch_size, num_workers=num_workers,
                            collate_fn=self._collate)
        pending: list[tuple[dict, Any]] = []
        for indices, lasts, batch, metas, lengths in loader:
            with torch.inference_mode():
                outputs = self._forward({k: v.to(self.device) for k, v in batch.items()}, **fwd)
            for row, (last, meta, length) in enumerate(zip(lasts, metas, lengths)):
                pending.append((self._unbatch(outputs, row, length, batch), meta))
                if last:
                    yield self.postprocess(pending, **post)
                    pending = []

    def _run_by_length(self, items, batch_size: int, pre: dict, fwd: dict, post: dict) -> Iterator:
        """Every chunk of a list, batched with chunks of similar length; answers in input order."""
        chunks = list(_Chunks(self, items, pre))
        order = sorted(range(len(chunks)), key=lambda position: _length(chunks[position][2]) or 0)
        outputs: list = [None] * len(chunks)
        for start in range(0, len(order), batch_size):
            positions = order[start : start + batch_size]
            _, _, batch, metas, lengths = self._collate([chunks[position] for position in positions])
            with torch.inference_mode():
                out = self._forward({k: v.to(self.device) for k, v in batch.items()}, **fwd)
            for row, position in enumerate(positions):
                outputs[position] = (self._unbatch(out, row, lengths[row], batch), metas[row])
        pending: list[tuple[dict, Any]] = []
        for (_, last, _, _), output in zip(chunks, outputs):
            pending.append(output)
            if last:
                yield self.postprocess(pending, **post)
                pending = []

    def _pad_side(self) -> str:
        return self.padding_side or getattr(self.tokenizer, "padding_side", "right") or "right"

    def _pad_value(self, key: str) -> int:
        if key == "input_ids":
            return getattr(self.tokenizer, "pad_token_id", None) or 0
        return 0

    def _collate(self, chunks: list) -> tuple:
        """Pad each chunk's (1, T) tensors to the batch's longest T."""
        indices, lasts, inputs, metas = zip(*chunks)
        lengths = [_length(x) for x in inputs]
        longest = max(lengths)
        batch = {}
        for key in inputs[0]:
            rows = [_pad(x[key], longest, self._pad_value(key), self._pad_side()) for x in inputs]
            batch[key] = torch.cat(rows, dim=0)
        return indices, lasts, batch, metas, lengths

    def _unbatch(self, outputs: dict, row: int, length: int | None, batch: dict) -> dict:
        """Row ``row`` of every output, with sequence padding cut off (so batching changes nothing)."""
        padded = next(iter(batch.values())).shape[-1] if batch else None
        result = {}
        for key, value in outputs.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                value = value[row : row + 1]
                per_token = self.sequence_outputs is None or key in self.sequence_outputs
                if per_token and length is not None and value.dim() >= 2 and value.shape[1] == padded != length:
                    value = value[:, -length:] if self._pad_side() == "left" else value[:, :length]
            result[key] = value
        return result

    def save_pretrained(self, folder: str) -> None:
        """Save the model and its tokenizer into ``folder``, replaced as a whole (``workbench.atomic_folder``)."""
        with staged_save(folder) as stage:
            self.model.save_pretrained(stage)
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(stage)


def check_tokenizer_kwargs(tokenizer, kwargs: dict, task: str) -> None:
    """Reject names the tokenizer's ``__call__`` does not take, when the pipeline is set up rather than mid-run."""
    try:
        accepted = inspect.signature(tokenizer.__call__).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"The {task} pipeline passes extra options to the tokenizer, which takes no {unknown}. "
            "Tokenizer options are truncation=, max_length=, padding=, add_special_tokens=, ..."
        )


@contextmanager
def _naming_the_input(index: int | None):
    """Prefix a ValueError/TypeError about one input of many with that input's index."""
    try:
        yield
    except (ValueError, TypeError) as error:
        if index is None or type(error) not in (ValueError, TypeError):
            raise
        raise type(error)(f"Input {index}: {error}") from error


def _is_collection(inputs) -> bool:
    if isinstance(inputs, (str, bytes, dict)):
        return False
    if isinstance(inputs, (list, tuple)):
        # a chat (list of message dicts) or a (text, text_pair) dict is one input, not a batch
        return not (inputs and isinstance(inputs[0], dict) and "role" in inputs[0])
    return isinstance(inputs, (KeyDataset, Iterator)) or inspect.isgenerator(inputs) or _is_dataset(inputs)


def _is_dataset(inputs) -> bool:
    return type(inputs).__module__.startswith("datasets.") or isinstance(inputs, torch.utils.data.Dataset)


def _length(inputs: dict) -> int | None:
    for value in inputs.values():
        if isinstance(value, torch.Tensor) and value.dim() == 2:
            return value.shape[1]
    return None


def _pad(tensor: torch.Tensor, length: int, value: int, side: str) -> torch.Tensor:
    if tensor.dim() < 2 or tensor.shape[1] == length:
        return tensor
    padding = tensor.new_full((tensor.shape[0], length - tensor.shape[1], *tensor.shape[2:]), value)
    return torch.cat([padding, tensor] if side == "left" else [tensor, padding], dim=1)


def _device(device) -> torch.device:
    """``device=`` as the reference takes it: -1 (CPU), a CUDA index, a name or a torch.device;
    a device this machine lacks is an error that says so, before the model is moved."""
    if isinstance(device, bool) or not isinstance(device, (int, str, torch.device)):
        raise TypeError(f"device={device!r}: pass -1 or 'cpu', a CUDA index such as 0, 'cuda:0', or a torch.device.")
    if isinstance(device, int):
        device = torch.device("cpu") if device < 0 else torch.device("cuda", device)
    try:
        device = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"device={device!r} is not a device name ({error}); pass 'cpu', 'cuda', 'cuda:0' or -1.") from None
    available = {"cuda": lambda: torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count(),
                 "mps": lambda: torch.backends.mps.is_available(),
                 "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available()}
    if device.type in available and not available[device.type]():
        raise ValueError(f"device={str(device)!r}: this torch has no such device (CUDA available: "
                         f"{torch.cuda.is_available()}). Pass device='cpu' or device=-1.")
    return device


def zero_shot_options(candidate_labels, hypothesis_template, examples: tuple[str, str], template: str) -> dict:
    """The preprocess options of a zero-shot pipeline (image or audio), checked: labels a non-empty
    list of strings, the template with a ``{}`` for each label. ``examples``/``template`` go in the
    errors' suggestions."""
    options = {}
    if candidate_labels is not None:
        if isinstance(candidate_labels, str) or not all(isinstance(label, str) for label in candidate_labels):
            raise TypeError(f"candidate_labels must be a list of strings, got {candidate_labels!r:.80}: e.g. "
                            f"candidate_labels={list(examples)!r}.")
        if not candidate_labels:
            raise ValueError("candidate_labels is empty: pass at least one label.")
        options["candidate_labels"] = list(candidate_labels)
    if hypothesis_template is not None:
        if "{}" not in hypothesis_template:
            raise ValueError(f"hypothesis_template={hypothesis_template!r} has no '{{}}' for the label: e.g. "
                             f"{template!r}")
        options["hypothesis_template"] = hypothesis_template
    return options


def with_generation_defaults(kwargs: dict, chosen: dict, defaults: dict, tokenizer) -> dict:
    """``kwargs`` plus the pipeline's ``defaults`` for what ``chosen`` (the model's generation settings
    and the call's) leaves unset (a ``max_length`` counts as a ``max_new_tokens``), and the
    tokenizer's pad id."""
    for key, value in defaults.items():
        if key not in chosen and not (key == "max_new_tokens" and "max_length" in chosen):
            kwargs[key] = value
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is not None and "pad_token_id" not in chosen:
        kwargs["pad_token_id"] = pad
    return kwargs
