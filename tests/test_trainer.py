"""Trainer: the loop equals a hand-written one, callbacks fire the reference's events, evaluation and
prediction, column removal, early stopping, subclassing, Seq2SeqTrainer, errors."""

import os

import numpy as np
import pytest
import torch

from tests.model_registry import TINY_GPT2
from tests.tolerance import assert_close_scaled
from tests.training.tiny import TINY_BERT, tiny_dataset, tiny_model, tiny_rows
from workbench import (EarlyStoppingCallback, PrinterCallback, ProgressCallback, Seq2SeqTrainer,
                       Seq2SeqTrainingArguments, Trainer, TrainerCallback, TrainingArguments)
from workbench.training import EvalPrediction, get_scheduler
from workbench.training.trainer import EpochShuffleSampler

transformers = pytest.importorskip("transformers")


def args(tmp_path, **overrides):
    values = dict(output_dir=str(tmp_path), per_device_train_batch_size=4, learning_rate=1e-3, max_steps=6,
                  save_strategy="no", logging_steps=2, disable_tqdm=True, use_cpu=True, report_to="none")
    values.update(overrides)
    return TrainingArguments(**values)


def accuracy(prediction: EvalPrediction):
    logits, labels = prediction
    return {"accuracy": float((np.argmax(logits, -1) == labels).mean())}


def test_trainer_equals_a_hand_written_loop(tmp_path):
    """AdamW with decay groups, warmup + linear decay, clipping, 2-batch accumulation, epoch shuffles."""
    rows = tiny_rows(24)
    options = dict(per_device_train_batch_size=4, gradient_accumulation_steps=2, num_train_epochs=2, max_steps=-1,
                   weight_decay=0.1, warmup_steps=2, max_grad_norm=0.5, seed=11)
    trainer = Trainer(model=tiny_model(), args=args(tmp_path, **options), train_dataset=rows)
    trainer.train()

    model = tiny_model()
    no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-3, fused=True)
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=2, num_training_steps=6)
    sampler = EpochShuffleSampler(len(rows), seed=11)
    from workbench import default_data_collator

    for epoch in range(2):
        sampler.set_epoch(epoch)
        order = list(sampler)
        batches = [default_data_collator([rows[i] for i in order[k:k + 4]]) for k in range(0, len(order), 4)]
        for start in range(0, len(batches), 2):
            for batch in batches[start:start + 2]:
                (model(**batch).loss / 2).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            optimizer.step()
            scheduler.step()
            model.zero_grad()
    for key, value in model.state_dict().items():
        assert_close_scaled(trainer.model.state_dict()[key], value, tol=1e-6)
    assert trainer.state.global_step == 6 and trainer.state.epoch == 2.0


def test_decay_groups_match_reference(tmp_path):
    model = tiny_model()
    ours = Trainer(model=model, args=args(tmp_path)).get_decay_parameter_names(model)
    reference = transformers.Trainer(model=model, args=transformers.TrainingArguments(output_dir=str(tmp_path),
                                                                                      use_cpu=True, report_to="none"))
    assert ours == reference.get_decay_parameter_names(model)
    assert "bert.embeddings.LayerNorm.weight" not in ours and "classifier.bias" not in ours


class Recorder(TrainerCallback):
    def __init__(self):
        self.events = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            return lambda *args, **kwargs: self.events.append(name)
        return super().__getattribute__(name)


def test_callback_events_match_reference(tmp_path):
    """Same events in the same order as the reference Trainer (accumulation, logs, evaluation, saves)."""
    options = dict(max_steps=4, gradient_accumulation_steps=2, logging_steps=2, eval_strategy="steps", eval_steps=2,
                   save_strategy="steps", save_steps=4, per_device_eval_batch_size=4)
    train, evaluation = tiny_dataset(16), tiny_dataset(8, seed=1)
    ours = Recorder()
    Trainer(model=tiny_model(), args=args(tmp_path / "ours", **options), train_dataset=train, eval_dataset=evaluation,
            callbacks=[ours]).train()
    theirs = Recorder()
    config = transformers.BertConfig(**TINY_BERT)
    reference_args = transformers.TrainingArguments(output_dir=str(tmp_path / "ref"), per_device_train_batch_size=4,
                                                    learning_rate=1e-3, disable_tqdm=True, use_cpu=True,
                                                    report_to="none", **options)
    transformers.Trainer(model=transformers.BertForSequenceClassification(config), args=reference_args,
                         train_dataset=train, eval_dataset=evaluation, callbacks=[theirs]).train()
    assert ours.events == theirs.events
    assert "on_substep_end" in ours.events and "on_save" in ours.events and "on_prediction_step" in ours.events


def test_evaluate_predict_and_log_history(tmp_path):
    trainer = Trainer(model=tiny_model(), args=args(tmp_path, eval_strategy="epoch", num_train_epochs=2, max_steps=-1),
                      train_dataset=tiny_dataset(16), eval_dataset=tiny_dataset(10, seed=1), compute_metrics=accuracy)
    output = trainer.train()
    assert output.global_step == 8 and output.metrics["train_loss"] == pytest.approx(output.training_loss)
    evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    assert [h["epoch"] for h in evals] == [1.0, 2.0] and all("eval_accuracy" in h for h in evals)
    assert [h["step"] for h in trainer.state.log_history if "loss" in h] == [2, 4, 6, 8]
    metrics = trainer.evaluate()
    assert {"eval_loss", "eval_accuracy", "eval_runtime", "epoch"} <= set(metrics)
    prediction = trainer.predict(tiny_dataset(10, seed=2))
    assert prediction.predictions.shape == (10, 2) and prediction.label_ids.tolist() == [i % 2 for i in range(10)]
    assert {"test_loss", "test_accuracy"} <= set(prediction.metrics)
    several = trainer.evaluate({"a": tiny_dataset(4, seed=3), "b": tiny_dataset(6, seed=4)})
    assert {"eval_a_loss", "eval_b_accuracy"} <= set(several)


def test_learns_and_predictions_pad_across_batches(tmp_path):
    """Token-level outputs of different lengths are padded with -100 when batches are concatenated."""
    from workbench import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    model = BertForTokenClassification.from_config(BertConfig(**TINY_BERT))
    rows = [{"input_ids": list(range(6, 6 + n)), "labels": [i % 2 for i in range(n)]} for n in (3, 5, 4, 7)]

    def pad(features):
        length = max(len(f["input_ids"]) for f in features)
        return {"input_ids": torch.tensor([f["input_ids"] + [0] * (length - len(f["input_ids"])) for f in features]),
                "labels": torch.tensor([f["labels"] + [-100] * (length - len(f["labels"])) for f in features])}

    trainer = Trainer(model=model, args=args(tmp_path, per_device_eval_batch_size=2), data_collator=pad)
    prediction = trainer.predict(rows)
    assert prediction.predictions.shape == (4, 7, 2)
    assert prediction.label_ids[0].tolist() == [0, 1, 0, -100, -100, -100, -100]


def test_unused_columns_are_removed(tmp_path):
    dataset = tiny_dataset(8)  # has a "text" column the model does not take
    trainer = Trainer(model=tiny_model(), args=args(tmp_path, max_steps=1), train_dataset=dataset)
    trainer.train()
    rows = [dict(row, text="x", idx=i) for i, row in enumerate(tiny_rows(8))]
    Trainer(model=tiny_model(), args=args(tmp_path, max_steps=1), train_dataset=rows).train()
    kept = Trainer(model=tiny_model(), args=args(tmp_path, remove_unused_columns=False), train_dataset=rows)
    assert "idx" in next(iter(kept.get_train_dataloader()))
    dropped = Trainer(model=tiny_model(), args=args(tmp_path), train_dataset=rows)
    assert set(next(iter(dropped.get_train_dataloader()))) == {"input_ids", "attention_mask", "labels"}
    import datasets

    text_only = datasets.Dataset.from_dict({"text": ["a", "b"]})
    with pytest.raises(ValueError, match="remove_unused_columns=False"):
        Trainer(model=tiny_model(), args=args(tmp_path, max_steps=1), train_dataset=text_only).train()


def test_setup_errors(tmp_path):
    with pytest.raises(ValueError, match="no eval_dataset"):
        Trainer(model=tiny_model(), args=args(tmp_path, eval_strategy="epoch"), train_dataset=tiny_rows(4))
    with pytest.raises(ValueError, match="model or a model_init"):
        Trainer(args=args(tmp_path))
    with pytest.raises(ValueError, match="needs a train_dataset"):
        Trainer(model=tiny_model(), args=args(tmp_path)).train()
    rows = [{k: v for k, v in row.items() if k != "label"} for row in tiny_rows(4)]
    with pytest.raises(ValueError, match="returned no loss"):
        Trainer(model=tiny_model(), args=args(tmp_path, max_steps=1), train_dataset=rows).train()
    with pytest.raises(TypeError, match="unexpected keyword"):
        Trainer(model=tiny_model(), args=args(tmp_path), train_dataset=rows).train(resume=True)


def test_early_stopping(tmp_path):
    scores = iter([0.9, 0.5, 0.4, 0.3, 0.2, 0.1])
    trainer = Trainer(model=tiny_model(), args=args(tmp_path, max_steps=12, eval_strategy="steps", eval_steps=2,
                                                    save_steps=2, save_strategy="steps", load_best_model_at_end=True,
                                                    metric_for_best_model="accuracy"),
                      train_dataset=tiny_dataset(32), eval_dataset=tiny_dataset(4, seed=1),
                      compute_metrics=lambda p: {"accuracy": next(scores)},
                      callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])
    trainer.train()
    assert trainer.state.global_step == 6  # best at step 2, no better at 4 and 6
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-2")


def test_subclassing_and_optimizers(tmp_path):
    class Weighted(Trainer):
        calls = 0

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            Weighted.calls += 1
            outputs = model(**inputs)
            loss = 2.0 * outputs.loss
            return (loss, outputs) if return_outputs else loss

    model = tiny_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    trainer = Weighted(model=model, args=args(tmp_path, max_steps=2), train_dataset=tiny_rows(8),
                       optimizers=(optimizer, scheduler))
    trainer.train()
    assert Weighted.calls == 2 and trainer.optimizer.optimizer is optimizer
    assert trainer.state.log_history[0]["learning_rate"] == 0.1


def test_progress_bar_choice_and_tokenizer_alias(tmp_path, minilm_path):
    from workbench import AutoTokenizer, DataCollatorWithPadding

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    quiet = Trainer(model=tiny_model(), args=args(tmp_path, disable_tqdm=True), tokenizer=tokenizer)
    assert quiet.processing_class is tokenizer and isinstance(quiet.data_collator, DataCollatorWithPadding)
    assert any(isinstance(c, PrinterCallback) for c in quiet.callback_handler.callbacks)
    bars = Trainer(model=tiny_model(), args=args(tmp_path, disable_tqdm=False), train_dataset=tiny_rows(8))
    assert any(isinstance(c, ProgressCallback) for c in bars.callback_handler.callbacks)
    bars.train()


def test_bf16_on_cpu_and_label_smoothing(tmp_path):
    trainer = Trainer(model=tiny_model(), args=args(tmp_path, bf16=True, max_steps=2, label_smoothing_factor=0.1),
                      train_dataset=tiny_rows(8), eval_dataset=tiny_rows(4))
    trainer.train()
    assert np.isfinite(trainer.evaluate()["eval_loss"])


def test_seq2seq_trainer_predicts_with_generate(tmp_path):
    from workbench import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel.from_config(GPT2Config(**TINY_GPT2))
    rows = [{"input_ids": [5, 6, 7, 8], "attention_mask": [1, 1, 1, 1], "labels": [5, 6, 7, 8]} for _ in range(4)]
    seen = []

    def metrics(prediction):
        seen.append(prediction.predictions)
        return {"length": prediction.predictions.shape[1]}

    options = dict(output_dir=str(tmp_path), predict_with_generate=True, per_device_eval_batch_size=2, use_cpu=True,
                   disable_tqdm=True, report_to="none")
    trainer = Seq2SeqTrainer(model=model, args=Seq2SeqTrainingArguments(**options), compute_metrics=metrics)
    result = trainer.evaluate(rows, max_new_tokens=3)
    assert result["eval_length"] == 7 and "eval_loss" in result
    assert seen[0][:, :4].tolist() == [[5, 6, 7, 8]] * 4  # the prompt, then 3 generated tokens
    expected = model.generate(torch.tensor([[5, 6, 7, 8]]), max_new_tokens=3)
    assert seen[0][0].tolist() == expected[0].tolist()
    plain = Seq2SeqTrainer(model=model, args=Seq2SeqTrainingArguments(**{**options, "predict_with_generate": False}))
    assert plain.predict(rows).predictions.shape == (4, 4, TINY_GPT2["vocab_size"])  # logits


def test_quick_tour_sample(tmp_path, minilm_path):
    """The docs' Trainer sample: tokenize a datasets.Dataset with map, pad with DataCollatorWithPadding,
    pass tokenizer=...; the raw "text" column is dropped because the model's forward does not take it."""
    import datasets

    from workbench import AdamW, AutoTokenizer, BertConfig, BertForSequenceClassification, DataCollatorWithPadding
    from workbench import get_scheduler as workbench_get_scheduler

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    dataset = datasets.Dataset.from_dict({"text": ["great film", "awful, just awful", "fine", "loved every minute"] * 2,
                                          "label": [1, 0, 1, 1] * 2})
    dataset = dataset.map(lambda batch: tokenizer(batch["text"]), batched=True)
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_config(BertConfig(**{**TINY_BERT, "vocab_size": tokenizer.vocab_size}))
    training_args = TrainingArguments(output_dir=str(tmp_path), learning_rate=2e-5, per_device_train_batch_size=4,
                                      per_device_eval_batch_size=4, num_train_epochs=1, eval_strategy="epoch",
                                      disable_tqdm=True)
    trainer = Trainer(model=model, args=training_args, train_dataset=dataset, eval_dataset=dataset, tokenizer=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer=tokenizer), compute_metrics=accuracy)
    trainer.train()
    assert "eval_accuracy" in trainer.state.log_history[-2]
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= set(os.listdir(tmp_path / "checkpoint-2"))
    optimizer = AdamW(model.parameters(), lr=5e-5)  # the native-PyTorch tutorial's names
    assert workbench_get_scheduler("linear", optimizer, num_warmup_steps=0, num_training_steps=4) is not None


def test_evaluation_between_steps_leaves_every_parameter_training(tmp_path):
    """A Llama evaluated after every step (its inference forward fuses q/k/v and gate/up) keeps
    training all its parameters: each is the optimizer's own and each moves at every step."""
    from tests.model_registry import TINY_DECODER
    from workbench import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM.from_config(LlamaConfig(**TINY_DECODER))
    generator = torch.Generator().manual_seed(0)
    rows = [{"input_ids": ids, "labels": ids} for ids in torch.randint(3, 99, (24, 8), generator=generator).tolist()]
    snapshots = []

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})

    snapshots.append({n: p.detach().clone() for n, p in model.named_parameters()})
    trainer = Trainer(model=model, args=args(tmp_path, eval_strategy="steps", eval_steps=1, max_steps=4,
                                             learning_rate=1e-2), train_dataset=rows[:16], eval_dataset=rows[16:],
                      callbacks=[Snapshot()])
    trainer.train()
    assert len([h for h in trainer.state.log_history if "eval_loss" in h]) == 4
    held = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert [n for n, p in model.named_parameters() if id(p) not in held] == []
    for step, (before, after) in enumerate(zip(snapshots, snapshots[1:]), start=1):
        still = [n for n in before if torch.equal(before[n], after[n])]
        assert still == [], f"step {step} did not move {still}"
