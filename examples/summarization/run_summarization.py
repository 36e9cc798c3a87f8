#!/usr/bin/env python
"""Fine-tune a sequence-to-sequence model (T5, BART, ...) for summarization with the Seq2SeqTrainer:
workbench's version of the reference's ``examples/pytorch/summarization/run_summarization.py``.

    python examples/summarization/run_summarization.py \\
        --model_name_or_path google-t5/t5-small \\
        --do_train --do_eval \\
        --train_file train.jsonl --validation_file dev.jsonl \\
        --text_column text --summary_column summary \\
        --source_prefix "summarize: " \\
        --output_dir /tmp/tst-summarization \\
        --per_device_train_batch_size=4 --per_device_eval_batch_size=4 \\
        --overwrite_output_dir --predict_with_generate

Data comes from ``--train_file/--validation_file/--test_file`` (csv, json, jsonl or parquet) or from
``--dataset_name`` (with ``--dataset_config_name``; read from the local datasets cache when
offline, or a local folder of data files). T5 checkpoints need ``--source_prefix "summarize: "``.
With ``--predict_with_generate`` evaluation generates summaries and scores them with ROUGE
(workbench.metrics, rouge_score underneath); without it only the loss is reported. All arguments
may come from one JSON file: ``run_summarization.py args.json``. Runs unchanged under
``torchrun --nproc_per_node 2`` and ``accelerate launch``.

``output_dir`` ends up with the model and tokenizer, ``{train,eval,predict}_results.json``,
``all_results.json``, ``trainer_state.json`` and, with ``--do_predict --predict_with_generate``,
``generated_predictions.txt`` (one summary per line).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass, field

import datasets
import numpy as np

from workbench import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, metrics
from workbench.training import (DataCollatorForSeq2Seq, HfArgumentParser, Seq2SeqTrainer, Seq2SeqTrainingArguments,
                                get_last_checkpoint, set_seed)

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


@dataclass
class DataTrainingArguments:
    dataset_name: str | None = field(default=None, metadata={"help": "A datasets name (or local folder) to load."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "The dataset's configuration."})
    text_column: str | None = field(default=None, metadata={"help": "Column with the text (default: the first)."})
    summary_column: str | None = field(default=None,
                                       metadata={"help": "Column with the summary (default: the second)."})
    train_file: str | None = field(default=None, metadata={"help": "Training data: csv, json, jsonl or parquet."})
    validation_file: str | None = field(default=None, metadata={"help": "Evaluation data (same formats)."})
    test_file: str | None = field(default=None, metadata={"help": "Data to predict (same formats)."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Recompute the tokenized datasets."})
    max_source_length: int = field(default=1024, metadata={"help": "Longer inputs are truncated (tokens)."})
    max_target_length: int = field(default=128, metadata={"help": "Longer training summaries are truncated."})
    val_max_target_length: int | None = field(default=None, metadata={
        "help": "Summary length for evaluation (labels and generate()'s max_length; default max_target_length)."})
    pad_to_max_length: bool = field(default=False, metadata={"help": "Pad to the maximum lengths (else per batch)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep the first N evaluation rows."})
    max_predict_samples: int | None = field(default=None, metadata={"help": "Keep the first N test rows."})
    num_beams: int | None = field(default=None, metadata={"help": "Beams for generate() in evaluation."})
    ignore_pad_token_for_loss: bool = field(default=True,
                                            metadata={"help": "Padded label positions do not count in the loss."})
    source_prefix: str | None = field(default="", metadata={"help": "Put before every input (T5: 'summarize: ')."})

    def __post_init__(self) -> None:
        files = [f for f in (self.train_file, self.validation_file, self.test_file) if f]
        if self.dataset_name is None and not files:
            raise ValueError("Give --dataset_name or data files (--train_file, --validation_file, --test_file).")
        for path in files:
            if os.path.splitext(path)[1] not in FORMATS:
                raise ValueError(f"{path}: data files must be {', '.join(FORMATS)}.")
        if self.val_max_target_length is None:
            self.val_max_target_length = self.max_target_length


def parse_arguments():
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, Seq2SeqTrainingArguments))
    if len(sys.argv) == 2 and sys.argv[1].endswith(".json"):
        return parser.parse_json_file(os.path.abspath(sys.argv[1]))
    return parser.parse_args_into_dataclasses()


def last_checkpoint(training_args) -> str | None:
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
    return datasets.DatasetDict({
        split: datasets.load_dataset(FORMATS[os.path.splitext(path)[1]], data_files={split: path}, split=split,
                                     cache_dir=model_args.cache_dir)
        for split, path in files.items()})


def pick_columns(data_args: DataTrainingArguments, column_names: list[str]) -> tuple[str, str]:
    text = data_args.text_column or column_names[0]
    summary = data_args.summary_column or (column_names[1] if len(column_names) > 1 else None)
    for flag, name in (("--text_column", text), ("--summary_column", summary)):
        if name not in column_names:
            raise ValueError(f"{flag} {name!r} is not a column of the data: {', '.join(column_names)}.")
    return text, summary


def sentences_per_line(text: str) -> str:
    """rougeLsum scores sentence by sentence and splits on newlines (the reference uses nltk here)."""
    return "\n".join(s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s)


def main() -> None:
    model_args, data_args, training_args = parse_arguments()
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", datefmt="%m/%d/%Y %H:%M:%S",
                        handlers=[logging.StreamHandler(sys.stdout)],
                        level=logging.INFO if training_args.should_log else logging.WARNING)
    if data_args.source_prefix in (None, "") and "t5" in model_args.model_name_or_path.lower():
        logger.warning("You're running a t5 model but didn't provide a source prefix, which is expected, e.g. with "
                       "`--source_prefix 'summarize: '`")
    checkpoint = last_checkpoint(training_args)
    set_seed(training_args.seed)

    raw = load_raw_datasets(data_args, model_args)
    config = AutoConfig.from_pretrained(model_args.config_name or model_args.model_name_or_path,
                                        cache_dir=model_args.cache_dir, revision=model_args.model_revision,
                                        token=model_args.token)
    tokenizer = AutoTokenizer.from_pretrained(model_args.tokenizer_name or model_args.model_name_or_path,
                                              cache_dir=model_args.cache_dir, revision=model_args.model_revision,
                                              token=model_args.token)
    model = AutoModelForSeq2SeqLM.from_pretrained(model_args.model_name_or_path, config=config,
                                                  cache_dir=model_args.cache_dir, revision=model_args.model_revision,
                                                  token=model_args.token)
    if model.config.decoder_start_token_id is None:
        raise ValueError("Make sure that `config.decoder_start_token_id` is correctly defined")

    prefix = data_args.source_prefix or ""
    text_column, summary_column = pick_columns(data_args, next(iter(raw.values())).column_names)
    padding = "max_length" if data_args.pad_to_max_length else False

    def preprocess(rows, max_target_length: int):
        pairs = [(t, s) for t, s in zip(rows[text_column], rows[summary_column]) if t and s]
        inputs = tokenizer([prefix + text for text, _ in pairs], max_length=data_args.max_source_length,
                           padding=padding, truncation=True)
        labels = tokenizer(text_target=[summary for _, summary in pairs], max_length=max_target_length,
                           padding=padding, truncation=True)["input_ids"]
        if padding == "max_length" and data_args.ignore_pad_token_for_loss:
            labels = [[t if t != tokenizer.pad_token_id else -100 for t in row] for row in labels]
        inputs["labels"] = labels
        return inputs

    def prepared(split: str, wanted: bool, limit: int | None, target_length: int, flag: str):
        if not wanted:
            return None
        if split not in raw:
            raise ValueError(f"{flag} needs a {split} split: give --{split}_file (or a dataset that has one).")
        dataset = raw[split].select(range(min(limit, len(raw[split])))) if limit is not None else raw[split]
        with training_args.main_process_first(desc=f"{split} dataset map pre-processing"):
            return dataset.map(preprocess, batched=True, remove_columns=dataset.column_names,
                               fn_kwargs={"max_target_length": target_length},
                               load_from_cache_file=not data_args.overwrite_cache,
                               desc=f"Running tokenizer on {split} dataset")

    train_dataset = prepared("train", training_args.do_train, data_args.max_train_samples,
                             data_args.max_target_length, "--do_train")
    eval_dataset = prepared("validation", training_args.do_eval, data_args.max_eval_samples,
                            data_args.val_max_target_length, "--do_eval")
    predict_dataset = prepared("test", training_args.do_predict, data_args.max_predict_samples,
                               data_args.val_max_target_length, "--do_predict")

    label_pad = -100 if data_args.ignore_pad_token_for_loss else tokenizer.pad_token_id
    collator = DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=label_pad)
    rouge = metrics.load("rouge")

    def decode(ids) -> list[str]:
        ids = np.where(ids != -100, ids, tokenizer.pad_token_id)
        return [text.strip() for text in tokenizer.batch_decode(ids.tolist(), skip_special_tokens=True)]

    def compute_metrics(prediction):
        preds = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        decoded_preds, decoded_labels = decode(preds), decode(prediction.label_ids)
        result = rouge.compute(predictions=[sentences_per_line(p) for p in decoded_preds],
                               references=[sentences_per_line(r) for r in decoded_labels], use_stemmer=True)
        result = {key: round(value * 100, 4) for key, value in result.items()}
        result["gen_len"] = float(np.mean([np.count_nonzero(row != tokenizer.pad_token_id) for row in preds]))
        return result

    training_args.generation_max_length = training_args.generation_max_length or data_args.val_max_target_length
    training_args.generation_num_beams = data_args.num_beams or training_args.generation_num_beams
    trainer = Seq2SeqTrainer(model=model, args=training_args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                             processing_class=tokenizer, data_collator=collator,
                             compute_metrics=compute_metrics if training_args.predict_with_generate else None)

    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint or checkpoint)
        trainer.save_model()
        train_metrics = {**result.metrics, "train_samples": len(train_dataset)}
        trainer.log_metrics("train", train_metrics)
        trainer.save_metrics("train", train_metrics)
        trainer.save_state()

    if training_args.do_eval:
        eval_metrics = {**trainer.evaluate(metric_key_prefix="eval"), "eval_samples": len(eval_dataset)}
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)

    if training_args.do_predict:
        output = trainer.predict(predict_dataset, metric_key_prefix="predict")
        predict_metrics = {**output.metrics, "predict_samples": len(predict_dataset)}
        trainer.log_metrics("predict", predict_metrics)
        trainer.save_metrics("predict", predict_metrics)
        if trainer.is_world_process_zero() and training_args.predict_with_generate:
            preds = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
            path = os.path.join(training_args.output_dir, "generated_predictions.txt")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("\n".join(line.replace("\n", " ") for line in decode(preds)) + "\n")

    if training_args.push_to_hub:
        trainer.push_to_hub(finetuned_from=model_args.model_name_or_path, tasks="summarization")


if __name__ == "__main__":
    main()
