#!/usr/bin/env python
"""Fine-tune a text classifier (or regressor) with the Trainer: workbench's version of the
reference's ``examples/pytorch/text-classification/run_classification.py`` / ``run_glue.py``.

    python examples/text-classification/run_classification.py \\
        --model_name_or_path MODEL_FOLDER_OR_HUB_ID \\
        --train_file train.csv --validation_file dev.csv --test_file test.csv \\
        --text_column sentence --label_column label \\
        --do_train --do_eval --do_predict --max_seq_length 128 \\
        --per_device_train_batch_size 32 --learning_rate 2e-5 --num_train_epochs 3 \\
        --output_dir /tmp/tst-classification

Data comes from ``--train_file/--validation_file/--test_file`` (csv, json, jsonl or parquet) or from
``--dataset_name`` (a datasets name, read from the local cache when offline, or a local folder of
data files). ``--text_column a,b`` classifies sentence pairs; float labels mean regression (or
``--do_regression``). All arguments may come from one JSON file instead: ``run_classification.py
args.json``. The script runs unchanged under ``torchrun --nproc_per_node 2`` and ``accelerate launch``.

``output_dir`` ends up with the model and tokenizer, ``train_results.json``, ``eval_results.json``,
``predict_results.json``, ``all_results.json``, ``trainer_state.json`` and ``predict_results.txt``
(``index<TAB>prediction`` per test row). ``--resume_from_checkpoint PATH`` continues a run; an
existing ``output_dir`` with checkpoints is resumed unless ``--overwrite_output_dir``.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

import datasets
import numpy as np

from workbench import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, metrics
from workbench.training import (DataCollatorWithPadding, HfArgumentParser, Trainer, TrainingArguments,
                                default_data_collator, get_last_checkpoint, set_seed)

logger = logging.getLogger(__name__)
FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


@dataclass
class ModelArguments:
    model_name_or_path: str = field(metadata={"help": "Model folder or Hub id to fine-tune."})
    config_name: str | None = field(default=None, metadata={"help": "Config to use instead of the model's."})
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer to use instead of the model's."})
    cache_dir: str | None = field(default=None, metadata={"help": "Where Hub downloads and datasets are cached."})
    model_revision: str = field(default="main", metadata={"help": "Branch, tag or commit of the model."})
    token: str | None = field(default=None, metadata={"help": "Hub token (default: the stored one)."})
    ignore_mismatched_sizes: bool = field(default=False,
                                          metadata={"help": "Start a new head when the checkpoint's has another size."})


@dataclass
class DataTrainingArguments:
    dataset_name: str | None = field(default=None, metadata={"help": "A datasets name (or local folder) to load."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "The dataset's configuration."})
    train_file: str | None = field(default=None, metadata={"help": "Training data: csv, json, jsonl or parquet."})
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation data (same format)."})
    test_file: str | None = field(default=None, metadata={"help": "Data to predict (same format; labels optional)."})
    text_column: str | None = field(default=None, metadata={
        "aliases": ["--text_column_names"],
        "help": "Column with the text; 'a,b' for sentence pairs (default: 'sentence' or 'text', else the first "
                "string columns that are not the label)."})
    label_column: str = field(default="label", metadata={"aliases": ["--label_column_name"],
                                                         "help": "Column with the label."})
    do_regression: bool | None = field(default=None,
                                       metadata={"help": "Regression (one float output); default: float labels."})
    max_seq_length: int = field(default=128, metadata={"help": "Longer inputs are truncated."})
    pad_to_max_length: bool = field(default=False,
                                    metadata={"help": "Pad every input to max_seq_length (else per batch)."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Recompute the tokenized datasets."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N evaluation rows."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep the first N test rows."})
    metric_name: str = field(default="accuracy",
                             metadata={"help": "workbench.metrics name(s) for classification, comma-separated."})

    def __post_init__(self) -> None:
        files = [f for f in (self.train_file, self.validation_file, self.test_file) if f]
        if self.dataset_name is None and not files:
            raise ValueError("Give --dataset_name or data files (--train_file, --validation_file, --test_file).")
        for path in files:
            if os.path.splitext(path)[1] not in FORMATS:
                raise ValueError(f"{path}: data files must be {', '.join(FORMATS)}.")


def parse_arguments():
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, TrainingArguments))
    if len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        return parser.parse_json_file(os.path.abspath(sys.argv[1]))
    return parser.parse_args_into_dataclasses()


def last_checkpoint(training_args: TrainingArguments) -> str | None:
    """The checkpoint to resume from in an existing output_dir (the reference scripts' rule)."""
    folder = training_args.output_dir
    if not os.path.isdir(folder) or not training_args.do_train or training_args.overwrite_output_dir:
        return None
    found = get_last_checkpoint(folder)
    if found is None and os.listdir(folder):
        raise ValueError(f"Output directory ({folder}) already exists and is not empty. "
                         "Use --overwrite_output_dir to overcome.")
    if found is not None and training_args.resume_from_checkpoint is None:
        logger.info(f"Checkpoint detected, resuming training at {found}. To avoid this behavior, change "
                    "the `--output_dir` or add `--overwrite_output_dir` to train from scratch.")
    return found


def load_raw_datasets(data_args: DataTrainingArguments, model_args: ModelArguments) -> datasets.DatasetDict:
    if data_args.dataset_name is not None:
        return datasets.load_dataset(data_args.dataset_name, data_args.dataset_config_name,
                                     cache_dir=model_args.cache_dir, token=model_args.token)
    files = {split: path for split, path in (("train", data_args.train_file), ("validation", data_args.validation_file),
                                             ("test", data_args.test_file)) if path}
    # one split per file, each read by its own format's loader (so a csv and a jsonl file can be mixed)
    return datasets.DatasetDict({
        split: datasets.load_dataset(FORMATS[os.path.splitext(path)[1]], data_files={split: path}, split=split,
                                     cache_dir=model_args.cache_dir)
        for split, path in files.items()})


def text_columns(data_args: DataTrainingArguments, split: datasets.Dataset) -> list[str]:
    if data_args.text_column:
        names = [name.strip() for name in data_args.text_column.split(",")]
    else:
        names = next(([n] for n in ("sentence", "text") if n in split.column_names), None) or [
            n for n, f in split.features.items()
            if n != data_args.label_column and getattr(f, "dtype", None) in ("string", "large_string")][:2]
    missing = [name for name in names if name not in split.column_names]
    if not names or missing:
        raise ValueError(f"Text column(s) {missing or names} not in the data (columns: {split.column_names}): "
                         "set --text_column.")
    return names


def label_setup(data_args: DataTrainingArguments, raw: datasets.DatasetDict) -> tuple[bool, list]:
    """(is_regression, label_list) from the splits that have labels."""
    labelled = [raw[s] for s in raw if data_args.label_column in raw[s].column_names]
    if not labelled:
        raise ValueError(f"No split has the label column {data_args.label_column!r}: set --label_column.")
    feature = labelled[0].features[data_args.label_column]
    regression = data_args.do_regression
    if regression is None:
        regression = getattr(feature, "dtype", "") in ("float16", "float32", "float64")
    if regression:
        return True, []
    if isinstance(feature, datasets.ClassLabel):
        return False, list(feature.names)
    return False, sorted({label for split in labelled for label in split.unique(data_args.label_column)})


def main() -> None:
    model_args, data_args, training_args = parse_arguments()
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%m/%d/%Y %H:%M:%S",
                        handlers=[logging.StreamHandler(sys.stdout)],
                        level=logging.INFO if training_args.should_log else logging.WARNING)
    logger.info(f"Training/evaluation parameters {training_args}")
    checkpoint = last_checkpoint(training_args)
    set_seed(training_args.seed)

    raw = load_raw_datasets(data_args, model_args)
    is_regression, label_list = label_setup(data_args, raw)
    num_labels = 1 if is_regression else len(label_list)
    config = AutoConfig.from_pretrained(model_args.config_name or model_args.model_name_or_path, num_labels=num_labels,
                                        finetuning_task="text-classification", cache_dir=model_args.cache_dir,
                                        revision=model_args.model_revision, token=model_args.token)
    config.problem_type = "regression" if is_regression else "single_label_classification"
    tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer_name or model_args.model_name_or_path,
                                              cache_dir=model_args.cache_dir, revision=model_args.model_revision,
                                              token=model_args.token)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_args.model_name_or_path, config=config, cache_dir=model_args.cache_dir,
        revision=model_args.model_revision, token=model_args.token,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes)
    label_to_id = None
    if not is_regression:
        label_to_id = {label: i for i, label in enumerate(label_list)}
        model.config.id2label = {i: str(label) for label, i in label_to_id.items()}

    columns = text_columns(data_args, next(iter(raw.values())))
    max_length = min(data_args.max_seq_length, tokenizer.model_max_length)
    padding = "max_length" if data_args.pad_to_max_length else False

    def preprocess(rows):
        texts = [rows[name] for name in columns]
        result = tokenizer(*texts, padding=padding, max_length=max_length, truncation=True)
        if data_args.label_column in rows:
            labels = rows[data_args.label_column]
            result["labels"] = [float(v) for v in labels] if is_regression else [label_to_id[v] for v in labels]
        return result

    with training_args.main_process_first(desc="dataset map pre-processing"):
        # the raw columns go, and the ids are a new "labels" column (datasets keeps a replaced column's type)
        raw = datasets.DatasetDict({
            name: split.map(preprocess, batched=True, remove_columns=split.column_names,
                            load_from_cache_file=not data_args.overwrite_cache, desc=f"Running tokenizer on {name}")
            for name, split in raw.items()})

    def subset(split: str, wanted: bool, limit: int | None, flag: str):
        if not wanted:
            return None
        if split not in raw:
            raise ValueError(f"{flag} needs a {split} split: give --{split}_file (or a dataset that has one).")
        return raw[split].select(range(min(limit, len(raw[split])))) if limit is not None else raw[split]

    train_dataset = subset("train", training_args.do_train, data_args.max_train_samples, "--do_train")
    eval_dataset = subset("validation", training_args.do_eval, data_args.max_eval_samples, "--do_eval")
    predict_dataset = subset("test", training_args.do_predict, data_args.max_predict_samples, "--do_predict")

    metric = metrics.combine(data_args.metric_name.split(",")) if not is_regression else None

    def compute_metrics(prediction):
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        if is_regression:
            return {"mse": float(((np.squeeze(logits) - prediction.label_ids) ** 2).mean())}
        return metric.compute(predictions=np.argmax(logits, axis=1), references=prediction.label_ids)

    collator = default_data_collator if data_args.pad_to_max_length else DataCollatorWithPadding(tokenizer)
    trainer = Trainer(model=model, args=training_args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                      compute_metrics=compute_metrics, processing_class=tokenizer, data_collator=collator)

    if training_args.do_train:
        resume = training_args.resume_from_checkpoint or checkpoint
        result = trainer.train(resume_from_checkpoint=resume)
        trainer.save_model()
        train_metrics = {**result.metrics, "train_samples": len(train_dataset)}
        trainer.log_metrics("train", train_metrics)
        trainer.save_metrics("train", train_metrics)
        trainer.save_state()

    if training_args.do_eval:
        eval_metrics = {**trainer.evaluate(eval_dataset=eval_dataset), "eval_samples": len(eval_dataset)}
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)

    if training_args.do_predict:
        write_predictions(trainer, predict_dataset, is_regression, label_list)

    if training_args.push_to_hub:
        trainer.push_to_hub(finetuned_from=model_args.model_name_or_path, tasks="text-classification")


def write_predictions(trainer: Trainer, dataset: datasets.Dataset, is_regression: bool, label_list: list) -> None:
    """predict_results.json (metrics, when the test rows have labels) and predict_results.txt."""
    output = trainer.predict(dataset, metric_key_prefix="predict")
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    predictions = np.squeeze(logits) if is_regression else np.argmax(logits, axis=1)
    predict_metrics = {**output.metrics, "predict_samples": len(dataset)}
    trainer.log_metrics("predict", predict_metrics)
    trainer.save_metrics("predict", predict_metrics)
    if trainer.is_world_process_zero():
        with open(os.path.join(trainer.args.output_dir, "predict_results.txt"), "w", encoding="utf-8") as handle:
            handle.write("index\tprediction\n")
            for index, value in enumerate(np.atleast_1d(predictions)):
                handle.write(f"{index}\t{value:.3f}\n" if is_regression else f"{index}\t{label_list[int(value)]}\n")


if __name__ == "__main__":
    main()
