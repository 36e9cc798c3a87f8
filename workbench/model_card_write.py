"""Writing model cards: a README.md whose YAML front matter the Hub reads (``base_model``, ``license``,
``language``, ``library_name``, ``tags``, ``datasets``, ``metrics``, ``pipeline_tag``, ``model-index``),
and the card a :class:`~workbench.Trainer` drafts from what it knows (``TrainingSummary``).

The YAML is written by huggingface_hub's own ``ModelCardData`` / ``EvalResult`` (so the Hub parses
what it wrote); this module only decides the values and the Markdown body. Reading cards for the model
picker is ``model_card.py``.

>>> card = build_model_card("tiny-bert", base_model="bert-base-uncased", license="mit",
...                         pipeline_tag="text-classification", datasets=["imdb"])
>>> card.data.base_model, card.data.license
('bert-base-uncased', 'mit')
>>> save_model_card(card, "out")                                  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .io import atomic_write_text

README_NAME = "README.md"
GENERATED_TAG = "generated_from_trainer"
# the Hub's task ids and the names its leaderboards show for them
TASK_NAMES = {
    "fill-mask": "Masked Language Modeling", "image-classification": "Image Classification",
    "image-segmentation": "Image Segmentation", "multiple-choice": "Multiple Choice",
    "object-detection": "Object Detection", "question-answering": "Question Answering",
    "table-question-answering": "Table Question Answering", "text-classification": "Text Classification",
    "text-generation": "Causal Language Modeling", "token-classification": "Token Classification",
    "zero-shot-classification": "Zero Shot Classification",
    "automatic-speech-recognition": "Automatic Speech Recognition", "audio-classification": "Audio Classification",
}
# metric ids the Hub knows: an evaluation result named like one of these becomes a ``metrics`` entry
METRIC_TAGS = ("accuracy", "bleu", "f1", "matthews_correlation", "pearsonr", "precision", "recall", "rouge",
               "sacrebleu", "spearmanr", "wer")
# builder names of datasets loaded from local files: not Hub datasets, so not named in the card
LOCAL_BUILDERS = ("csv", "json", "pandas", "parquet", "text")
# log keys that are timings, not results
TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second")
GENERATED_COMMENT = ("<!-- This model card was drafted by workbench's Trainer from what it knew about the run. "
                     "Proofread and complete it, then remove this comment. -->")


def _as_list(value: str | list | tuple | None) -> list:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [v for v in value if v is not None]


def build_model_card(model_name: str | None = None, *, text: str | None = None, base_model: str | None = None,
                     license: str | None = None, language: str | list[str] | None = None,
                     library_name: str | None = "transformers", tags: str | list[str] | None = None,
                     datasets: str | list[str] | None = None, metrics: str | list[str] | None = None,
                     pipeline_tag: str | None = None, eval_results: list | None = None, **extra: Any):
    """A ``huggingface_hub.ModelCard``: the metadata (as its ``ModelCardData`` writes it) and ``text`` as body.

    ``eval_results`` are ``huggingface_hub.EvalResult`` objects; they become the ``model-index`` under
    ``model_name``. ``library_name`` defaults to ``transformers``: workbench writes that library's file
    format, so the Hub's "use this model" snippet and loaders work on the files. Other keyword arguments
    are further metadata keys (``model-index`` style names can be passed with ``**{"key": value}``).
    """
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(base_model=base_model or None, license=license, language=_as_list(language) or None,
                         library_name=library_name, tags=_as_list(tags) or None, datasets=_as_list(datasets) or None,
                         metrics=_as_list(metrics) or None, pipeline_tag=pipeline_tag,
                         eval_results=eval_results or None,
                         model_name=model_name if eval_results else None, **extra)
    body = text if text is not None else f"\n# {model_name or 'Model'}\n\nMore information needed\n"
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def save_model_card(card, folder: str | os.PathLike) -> str:
    """Write ``card`` to ``folder/README.md`` in one rename (a reader never sees half a card); returns the path."""
    path = os.path.join(folder, README_NAME)
    atomic_write_text(path, str(card))
    return path


def _round(value: Any, decimals: int = 4) -> str:
    """Floats with more than ``decimals`` decimals are shown with ``decimals``; everything else as is."""
    text = str(value)
    if isinstance(value, float) and "." in text and len(text.split(".")[1]) > decimals:
        return f"{value:.{decimals}f}"
    return text


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (the first row's keys are the columns), columns padded to one width."""
    if not rows:
        return ""
    widths = {key: len(str(key)) for key in rows[0]}
    for row in rows:
        for key, value in row.items():
            widths[key] = max(widths.get(key, 0), len(_round(value)))

    def line(values: list[str]) -> str:
        return "".join(f"| {v}" + " " * (w - len(v) + 1) for v, w in zip(values, widths.values())) + "|\n"

    table = line([str(key) for key in rows[0]]) + "".join("|:" + "-" * w + ":" for w in widths.values()) + "|\n"
    return table + "".join(line([_round(v) for v in row.values()]) for row in rows)


def _title(key: str) -> str:
    return " ".join(part.capitalize() for part in key.split("_"))


def parse_log_history(log_history: list[dict]) -> tuple[dict | None, list[dict] | None, dict | None]:
    """``(train summary log, results table rows, last evaluation)`` from a Trainer's ``state.log_history``.

    A row per evaluation during training: the latest training loss before it ("No log" if none yet), epoch,
    step, validation loss and the other ``eval_*`` metrics (titled: ``eval_f1_macro`` -> ``F1 Macro``).
    """
    end = next((i for i, log in enumerate(log_history) if "train_runtime" in log), None)
    if end is None:  # evaluated only: the last evaluation is the result
        last = next((log for log in reversed(log_history) if "eval_loss" in log), None)
        return None, None, last
    rows, training_loss = [], "No log"
    for log in log_history[:end]:
        training_loss = log.get("loss", training_loss)
        if "eval_loss" not in log:
            continue
        row = {"Training Loss": training_loss, "Epoch": log.get("epoch"), "Step": log.get("step")}
        for key, value in log.items():
            if key in ("total_flos", "epoch", "step") or key.removeprefix("eval_") in TIMING_KEYS:
                continue
            row["Validation Loss" if key == "eval_loss" else _title(key.split("_", 1)[1])] = value
        rows.append(row)
    index = next((i for i in range(len(log_history) - 1, -1, -1) if "eval_loss" in log_history[i]), -1)
    # index 0 is an evaluation before any training: not a result of this run (as the reference reads it)
    if index <= 0:
        return log_history[end], rows, None
    results = {_title(key.removeprefix("eval_")): value for key, value in log_history[index].items()
               if key.removeprefix("eval_") not in (*TIMING_KEYS, "epoch", "step")}
    return log_history[end], rows, results


def training_hyperparameters(args) -> dict[str, Any]:
    """The hyperparameters a card lists, from ``TrainingArguments`` (sizes as totals across devices)."""
    found: dict[str, Any] = {name: getattr(args, name) for name in ("learning_rate", "train_batch_size",
                                                                     "eval_batch_size", "seed")}
    if args.world_size > 1:
        found["distributed_type"] = "multi-GPU" if str(args.device).startswith("cuda") else "multi-CPU"
        found["num_devices"] = args.world_size
    if args.gradient_accumulation_steps > 1:
        found["gradient_accumulation_steps"] = args.gradient_accumulation_steps
    total_train = args.train_batch_size * args.world_size * args.gradient_accumulation_steps
    if total_train != found["train_batch_size"]:
        found["total_train_batch_size"] = total_train
    if args.eval_batch_size * args.world_size != found["eval_batch_size"]:
        found["total_eval_batch_size"] = args.eval_batch_size * args.world_size
    optim = getattr(args.optim, "value", args.optim)
    if "adam" in optim:
        found["optimizer"] = (f"Use {optim} with betas=({args.adam_beta1},{args.adam_beta2}) and epsilon="
                              f"{args.adam_epsilon} and optimizer_args=No additional optimizer arguments")
    else:
        found["optimizer"] = f"Use {optim} and the args are:\nNo additional optimizer arguments"
    found["lr_scheduler_type"] = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
    if args.warmup_steps != 0:
        found["lr_scheduler_warmup_steps"] = args.warmup_steps
    if args.warmup_ratio != 0:
        found["lr_scheduler_warmup_ratio"] = args.warmup_ratio
    if args.max_steps != -1:
        found["training_steps"] = args.max_steps
    else:
        found["num_epochs"] = args.num_train_epochs
    if args.fp16 or args.bf16:
        found["mixed_precision_training"] = "Native AMP" + (" (bf16)" if args.bf16 else "")
    if args.label_smoothing_factor != 0.0:
        found["label_smoothing_factor"] = args.label_smoothing_factor
    return found


def framework_versions() -> dict[str, str]:
    """Versions of the libraries a run used (those installed: datasets and tokenizers are optional)."""
    import importlib.metadata

    import torch

    from . import __version__

    versions = {"Workbench": __version__, "Pytorch": torch.__version__}
    for label, package in (("Datasets", "datasets"), ("Tokenizers", "tokenizers")):
        try:
            versions[label] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


@dataclass
class TrainingSummary:
    """What a Trainer run tells about its model, turned into a card by :meth:`to_model_card`."""

    model_name: str
    language: str | list[str] | None = None
    license: str | None = None
    tags: list[str] = field(default_factory=list)
    finetuned_from: str | None = None
    tasks: str | list[str] | None = None
    dataset: str | list[str] | None = None
    dataset_tags: str | list[str] | None = None
    dataset_args: str | list[str] | None = None
    dataset_metadata: list[dict] | None = None
    eval_results: dict[str, Any] | None = None
    eval_lines: list[dict] | None = None
    hyperparameters: dict[str, Any] | None = None

    def metric_tags(self) -> dict[str, str]:
        """Hub metric id -> the result's name, for the results named like a known metric."""
        found = {}
        for name in self.eval_results or {}:
            tag = name.lower().replace(" ", "_")
            if tag in METRIC_TAGS:
                found[tag] = name
            elif tag == "rouge1":
                found["rouge"] = name
        return found

    def eval_result_objects(self) -> list:
        """One ``huggingface_hub.EvalResult`` per (task, dataset, metric): a result the Hub accepts needs all three."""
        from huggingface_hub import EvalResult

        tasks = [task for task in _as_list(self.tasks) if task in TASK_NAMES]
        tags = _as_list(self.dataset_tags)
        names = dict(zip(tags, _as_list(self.dataset)))
        args = dict(zip(tags, _as_list(self.dataset_args)))
        extra = dict(zip(tags, self.dataset_metadata or []))
        results = []
        for task in tasks:
            for tag in tags:
                for metric, name in self.metric_tags().items():
                    results.append(EvalResult(
                        task_type=task, task_name=TASK_NAMES[task], dataset_type=tag, dataset_name=names.get(tag, tag),
                        dataset_config=extra.get(tag, {}).get("config"), dataset_split=extra.get(tag, {}).get("split"),
                        dataset_args=args.get(tag), metric_type=metric, metric_name=name,
                        metric_value=self.eval_results[name]))
        return results

    def body(self) -> str:
        """The Markdown under the metadata: what it was trained from and on, results, hyperparameters, versions."""
        datasets = _as_list(self.dataset)
        origin = (f"a fine-tuned version of [{self.finetuned_from}](https://huggingface.co/{self.finetuned_from})"
                  if self.finetuned_from else "trained from scratch")
        on = ("an unknown dataset" if not datasets else f"the {datasets[0]} dataset" if len(datasets) == 1
              else ", ".join(f"the {d}" for d in datasets[:-1]) + f" and the {datasets[-1]} datasets")
        parts = [GENERATED_COMMENT, f"\n# {self.model_name}\n", f"This model is {origin} on {on}."]
        if self.eval_results:
            parts.append("It achieves the following results on the evaluation set:\n"
                         + "\n".join(f"- {name}: {_round(value)}" for name, value in self.eval_results.items()))
        for heading in ("Model description", "Intended uses & limitations", "Training and evaluation data"):
            parts.append(f"\n## {heading}\n\nMore information needed")
        parts.append("\n## Training procedure\n\n### Training hyperparameters\n")
        if self.hyperparameters:
            parts.append("The following hyperparameters were used during training:\n"
                         + "\n".join(f"- {name}: {value}" for name, value in self.hyperparameters.items()))
        else:
            parts.append("More information needed")
        if self.eval_lines:
            parts.append("\n### Training results\n\n" + markdown_table(self.eval_lines))
        parts.append("\n### Framework versions\n\n"
                     + "\n".join(f"- {name} {version}" for name, version in framework_versions().items()))
        return "\n".join(parts) + "\n"

    def to_model_card(self):
        """A ``huggingface_hub.ModelCard`` with the metadata and :meth:`body`."""
        tasks = _as_list(self.tasks)
        return build_model_card(self.model_name, text=self.body(), base_model=self.finetuned_from,
                                license=self.license, language=self.language, tags=self.tags,
                                datasets=self.dataset_tags, metrics=list(self.metric_tags()),
                                pipeline_tag=tasks[0] if tasks else None, eval_results=self.eval_result_objects())

    @classmethod
    def from_trainer(cls, trainer, language=None, license=None, tags=None, model_name=None, finetuned_from=None,
                     tasks=None, dataset_tags=None, dataset_metadata=None, dataset=None, dataset_args=None):
        """Fill what was not given from the trainer: dataset (a ``datasets.Dataset`` names its builder), base
        model (the config's ``name_or_path`` when it is a Hub id), task (from the model class), results."""
        from .tasks import task_for_class

        one = trainer.eval_dataset if trainer.eval_dataset is not None else trainer.train_dataset
        builder = getattr(one, "builder_name", None) if hasattr(one, "config_name") else None
        if builder and builder not in LOCAL_BUILDERS:
            dataset_metadata = dataset_metadata or [{"config": one.config_name, "split": str(one.split)}]
            dataset_tags = dataset_tags if dataset_tags is not None else [builder]
            dataset_args = dataset_args if dataset_args is not None else [one.config_name]
        dataset = dataset if dataset is not None else dataset_tags
        model = trainer.accelerator.unwrap_model(trainer.model)
        source = getattr(getattr(model, "config", None), "name_or_path", None)
        if finetuned_from is None and source:
            finetuned_from = source
        if finetuned_from and os.path.isdir(finetuned_from):  # a local folder is no base_model the Hub can link
            finetuned_from = None
        tasks = tasks if tasks is not None else task_for_class(type(model).__name__)
        tags = _as_list(tags)
        if GENERATED_TAG not in tags:
            tags.append(GENERATED_TAG)
        _, lines, results = parse_log_history(trainer.state.log_history)
        return cls(model_name=model_name or Path(trainer.args.output_dir).name or finetuned_from or "model",
                   language=language, license=license, tags=tags, finetuned_from=finetuned_from, tasks=tasks,
                   dataset=dataset, dataset_tags=dataset_tags, dataset_args=dataset_args,
                   dataset_metadata=dataset_metadata, eval_results=results, eval_lines=lines,
                   hyperparameters=training_hyperparameters(trainer.args))
