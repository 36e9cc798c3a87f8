"""How the Trainer feeds data: dataloaders prepared by accelerate, a resumable shuffle, and the
removal of columns the model's forward does not take."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, Sampler, SequentialSampler

from .utils import has_length

logger = logging.getLogger("workbench")


class EpochShuffleSampler(Sampler[int]):
    """A random order that depends only on ``(seed, epoch)``: a resumed run sees the same order, and
    every process of a distributed run draws the same permutation (accelerate then shards it)."""

    def __init__(self, length: int, seed: int) -> None:
        self.length, self.seed, self.epoch = length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length


class _RemoveColumnsCollator:
    """Drops the keys the model's forward does not take from each row, then collates."""

    def __init__(self, collator: Callable, keep: list[str], model_name: str, description: str) -> None:
        self.collator, self.keep, self.model_name, self.description = collator, set(keep), model_name, description
        self.reported = False

    def __call__(self, features: list):
        if features and isinstance(features[0], Mapping):
            dropped = set(features[0]) - self.keep
            if dropped and not self.reported:
                logger.info(f"{self.model_name}.forward takes no {sorted(dropped)}: dropped from the {self.description} rows.")
                self.reported = True
            features = [{k: v for k, v in f.items() if k in self.keep} for f in features]
        return self.collator(features)


def forward_parameters(model: nn.Module) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(model.forward).parameters)


def label_names(model: nn.Module) -> list[str]:
    """Forward arguments that carry targets: those with 'label' in their name, or QA's positions."""
    names = list(forward_parameters(model))
    if "QuestionAnswering" in type(model).__name__:
        return [n for n in names if "label" in n or n in ("start_positions", "end_positions")]
    return [n for n in names if "label" in n]


def _transforms_on_the_fly(dataset) -> bool:
    """Whether rows of a ``datasets.Dataset`` come out of a ``set_transform`` / ``with_transform`` function."""
    return (getattr(dataset, "format", None) or {}).get("type") == "custom"


class DataMixin:
    """Dataloaders of :class:`~workbench.Trainer` (override ``get_train_dataloader`` & co. to change them)."""

    def _set_signature_columns_if_needed(self) -> None:
        if self._signature_columns is None:
            columns = list(forward_parameters(self.model))
            self._signature_columns = columns + [c for c in ["label", "label_ids", *self.label_names] if c not in columns]

    def _remove_unused_columns(self, dataset, description: str):
        """A ``datasets.Dataset`` without the columns the model's forward does not take."""
        if not self.args.remove_unused_columns:
            return dataset
        self._set_signature_columns_if_needed()
        ignored = [c for c in dataset.column_names if c not in self._signature_columns]
        if len(ignored) == len(dataset.column_names):
            raise ValueError(f"None of the {description} dataset's columns {dataset.column_names} is an argument of "
                             f"{type(self.model).__name__}.forward ({', '.join(self._signature_columns)}): tokenize the "
                             "data first, or set remove_unused_columns=False.")
        if ignored:
            logger.info(f"{type(self.model).__name__}.forward takes no {ignored}: dropped from the {description} set.")
        return dataset.remove_columns(ignored) if ignored else dataset

    def _dataset_and_collator(self, dataset, description: str):
        # a set_transform / with_transform dataset's columns are its transform's inputs (``image``), not the
        # model's: removing them would break the transform, so unused keys go after it, row by row
        if hasattr(dataset, "column_names") and hasattr(dataset, "remove_columns") and not isinstance(dataset, IterableDataset) \
                and not _transforms_on_the_fly(dataset):
            return self._remove_unused_columns(dataset, description), self.data_collator
        if not self.args.remove_unused_columns:
            return dataset, self.data_collator
        self._set_signature_columns_if_needed()
        collator = _RemoveColumnsCollator(self.data_collator, self._signature_columns, type(self.model).__name__,
                                          description)
        return dataset, collator

    def _dataloader(self, dataset, description: str, batch_size: int, sampler: Sampler | None) -> DataLoader:
        args = self.args
        dataset, collator = self._dataset_and_collator(dataset, description)
        options = dict(batch_size=batch_size, collate_fn=collator, num_workers=args.dataloader_num_workers,
                       pin_memory=args.dataloader_pin_memory and self.accelerator.device.type == "cuda",
                       persistent_workers=args.dataloader_persistent_workers and args.dataloader_num_workers > 0,
                       prefetch_factor=args.dataloader_prefetch_factor)
        if not isinstance(dataset, IterableDataset):
            options.update(sampler=sampler, drop_last=args.dataloader_drop_last)
        return self.accelerator.prepare(DataLoader(dataset, **options))

    def _get_train_sampler(self, train_dataset=None) -> Sampler | None:
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if isinstance(dataset, IterableDataset) or not has_length(dataset):
            return None
        seed = self.args.data_seed if self.args.data_seed is not None else self.args.seed
        return EpochShuffleSampler(len(dataset), seed)

    def get_train_dataloader(self) -> DataLoader:
        """The training DataLoader (shuffled by epoch, sharded across processes)."""
        if self.train_dataset is None:
            raise ValueError("Trainer.train() needs a train_dataset: pass Trainer(train_dataset=...).")
        self._train_sampler = self._get_train_sampler()
        return self._dataloader(self.train_dataset, "training", self.args.train_batch_size, self._train_sampler)

    def get_eval_dataloader(self, eval_dataset=None) -> DataLoader:
        if eval_dataset is None and self.eval_dataset is None:
            raise ValueError("Evaluation needs an eval_dataset: pass Trainer(eval_dataset=...) or evaluate(dataset).")
        if isinstance(eval_dataset, str):
            eval_dataset = self.eval_dataset[eval_dataset]
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        sampler = None if isinstance(dataset, IterableDataset) else SequentialSampler(dataset)
        return self._dataloader(dataset, "evaluation", self.args.eval_batch_size, sampler)

    def get_test_dataloader(self, test_dataset) -> DataLoader:
        sampler = None if isinstance(test_dataset, IterableDataset) else SequentialSampler(test_dataset)
        return self._dataloader(test_dataset, "test", self.args.eval_batch_size, sampler)

    def num_examples(self, dataloader: DataLoader) -> int:
        try:
            return len(dataloader.dataset)
        except (TypeError, AttributeError):
            return len(dataloader) * self.args.per_device_train_batch_size

