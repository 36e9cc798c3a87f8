"""The "Train with a script" examples, run as the docs run them, on tiny models and a few rows.

- examples/text-classification/run_classification.py: a tiny BERT saved with MiniLM's real tokenizer,
  csv/jsonl/parquet files with string labels;
- examples/summarization/run_summarization.py: a tiny T5 built by the reference, with a real
  SentencePiece tokenizer trained here, and ``--source_prefix "summarize: "``.

Each runs as one process (arguments from a JSON file or from flags) and under
``accelerate launch --multi_gpu --num_processes 2`` (two CPU processes, gloo); both must write the
model, the results files and the predictions. ``--resume_from_checkpoint`` must end on the same
weights as the uninterrupted run; ``--push_to_hub`` must go through the Trainer's push.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CLASSIFICATION = ROOT / "examples" / "text-classification" / "run_classification.py"
SUMMARIZATION = ROOT / "examples" / "summarization" / "run_summarization.py"
datasets = pytest.importorskip("datasets")
pytest.importorskip("accelerate")

GOOD = ["a delight", "wonderful acting", "a moving story", "sharp and funny", "beautifully shot"]
BAD = ["a mess", "dull and tedious", "badly acted", "a waste of time", "painfully slow"]
WORDS = ("the a cat dog sat ran on under mat park city river council voted to build new bridge school opened "
         "today storm closed roads team won final match prices rose sharply market fell after report").split()


def _env(tmp_path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp_path / "datasets-cache")}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _accelerate(port: int) -> list[str]:
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if accelerate is None:
        pytest.skip("accelerate's launcher must be installed next to this Python")
    # --cpu would start one process whatever --num_processes says; --multi_gpu runs on the CPU without GPUs
    return [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
            "no", "--dynamo_backend", "no", "--main_process_port", str(port)]


def _start(launcher: list[str], script: Path, args: list[str], tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([*launcher, str(script), *args], env=_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen, name: str) -> str:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, f"{name}:\n{output[-4000:]}"
    return output


# --- text classification ----------------------------------------------------------------------------

def _review_rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"sentence": f"the film is {rng.choice(GOOD if i % 2 else BAD)}", "label": ["negative", "positive"][i % 2]}
            for i in range(count)]


@pytest.fixture(scope="module")
def classification_setup(tmp_path_factory, minilm_path):
    """A tiny random BERT over MiniLM's vocabulary, saved with MiniLM's tokenizer; train.csv,
    validation.jsonl and test.parquet."""
    from workbench import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("classification")
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_config(BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=64, num_labels=2))
    model.save_pretrained(folder / "tiny-bert")
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder / "tiny-bert")
    with open(folder / "train.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["sentence", "label"])
        writer.writeheader()
        writer.writerows(_review_rows(24, 0))
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _review_rows(10, 1)))
    datasets.Dataset.from_list(_review_rows(7, 2)).to_parquet(str(folder / "test.parquet"))
    return folder


def _classification_args(folder: Path, output: str, **extra) -> dict:
    args = dict(model_name_or_path=str(folder / "tiny-bert"), train_file=str(folder / "train.csv"),
                validation_file=str(folder / "validation.jsonl"), test_file=str(folder / "test.parquet"),
                text_column="sentence", label_column="label", do_train=True, do_eval=True, do_predict=True,
                output_dir=output, num_train_epochs=2, per_device_train_batch_size=4, per_device_eval_batch_size=4,
                learning_rate=1e-3, save_steps=3, max_seq_length=32, seed=7, disable_tqdm=True, report_to="none")
    return {**args, **extra}


def _flags(args: dict) -> list[str]:
    return [token for key, value in args.items() for token in (f"--{key}", str(value))]


def _check_classification_output(output: Path, predicted_rows: int) -> dict:
    results = json.loads((output / "all_results.json").read_text())
    assert {"train_loss", "train_samples", "eval_accuracy", "eval_loss", "eval_samples", "predict_accuracy",
            "predict_samples"} <= set(results)
    assert results["predict_samples"] == predicted_rows and 0.0 <= results["eval_accuracy"] <= 1.0
    for name in ("train_results.json", "eval_results.json", "predict_results.json", "trainer_state.json",
                 "config.json", "model.safetensors", "tokenizer.json"):
        assert (output / name).is_file(), name
    lines = (output / "predict_results.txt").read_text().splitlines()
    assert lines[0] == "index\tprediction" and len(lines) == predicted_rows + 1
    assert {line.split("\t")[1] for line in lines[1:]} <= {"negative", "positive"}
    config = json.loads((output / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    return results


def test_classification_one_process_and_two(classification_setup, tmp_path):
    """One process reading its arguments from a JSON file, two under accelerate launch reading flags."""
    folder = classification_setup
    json_file = tmp_path / "args.json"
    json_file.write_text(json.dumps(_classification_args(folder, str(tmp_path / "one"))))
    runs = {"one": _start([sys.executable], CLASSIFICATION, [str(json_file)], tmp_path),
            "two": _start(_accelerate(29541), CLASSIFICATION,
                          _flags(_classification_args(folder, str(tmp_path / "two"))), tmp_path)}
    outputs = {name: _finish(process, name) for name, process in runs.items()}
    one = _check_classification_output(tmp_path / "one", 7)
    two = _check_classification_output(tmp_path / "two", 7)
    assert "***** eval metrics *****" in outputs["one"]
    # 24 rows, 2 epochs: 6 steps of 4 rows per epoch in one process, 3 of 2 x 4 rows in two
    state = {name: json.loads((tmp_path / name / "trainer_state.json").read_text()) for name in ("one", "two")}
    assert (state["one"]["global_step"], state["two"]["global_step"]) == (12, 6)
    assert one["eval_samples"] == two["eval_samples"] == 10


def test_classification_resumes_from_a_checkpoint(classification_setup, tmp_path):
    """Stopping after checkpoint-6 and resuming with --resume_from_checkpoint ends on the same weights."""
    from safetensors.torch import load_file

    folder = classification_setup
    whole = _start([sys.executable], CLASSIFICATION, _flags(_classification_args(
        folder, str(tmp_path / "whole"), do_eval=False, do_predict=False)), tmp_path)
    _finish(whole, "uninterrupted")
    output = tmp_path / "resumed"
    output.mkdir()
    shutil.copytree(tmp_path / "whole" / "checkpoint-6", output / "checkpoint-6")
    resumed = _start([sys.executable], CLASSIFICATION, _flags(_classification_args(
        folder, str(output), resume_from_checkpoint=str(output / "checkpoint-6"))), tmp_path)
    _finish(resumed, "resumed")
    expected, got = load_file(tmp_path / "whole" / "model.safetensors"), load_file(output / "model.safetensors")
    assert max((expected[k] - got[k]).abs().max().item() for k in expected) <= 1e-6
    state = json.loads((output / "trainer_state.json").read_text())
    assert state["global_step"] == 12 and json.loads((output / "train_results.json").read_text())["train_samples"] == 24
    _check_classification_output(output, 7)


def _load_script(path: Path):
    """The example as a module (registered first: its dataclasses look their module up while being made)."""
    name = f"example_{path.stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def test_classification_push_to_hub_goes_through_the_trainer(classification_setup, tmp_path, monkeypatch, hub):
    """--push_to_hub against the local Hub server (the ``hub`` fixture): the Trainer's push of its save,
    the script's save_model ("Model save") and its final push_to_hub with the model card and the results."""
    script = _load_script(CLASSIFICATION)
    args = _classification_args(classification_setup, str(tmp_path / "out"), push_to_hub=True, hub_model_id="user/tiny",
                                do_predict=False, max_steps=2, save_steps=100, cache_dir=str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["run_classification.py", *_flags(args)])
    script.main()
    assert [call["summary"] for call in hub.calls_of("commit", "user/tiny")] == [
        "Training in progress, step 2", "Model save", "End of training"]
    files = set(hub.files("user/tiny"))
    assert {"config.json", "model.safetensors", "tokenizer.json", "all_results.json", "eval_results.json",
            "README.md"} <= files and not any(path.startswith("checkpoint-") for path in files)


def test_classification_rejects_a_full_output_dir_and_bad_files(tmp_path):
    from workbench import TrainingArguments

    script = _load_script(CLASSIFICATION)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="already exists and is not empty. Use --overwrite_output_dir"):
        script.last_checkpoint(TrainingArguments(output_dir=str(tmp_path / "full"), do_train=True))
    assert script.last_checkpoint(TrainingArguments(output_dir=str(tmp_path / "full"), do_train=True,
                                                    overwrite_output_dir=True)) is None
    with pytest.raises(ValueError, match=r"train.txt: data files must be .csv, .json, .jsonl, .parquet"):
        script.DataTrainingArguments(train_file="train.txt")
    with pytest.raises(ValueError, match="Give --dataset_name or data files"):
        script.DataTrainingArguments()


# --- summarization ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def summarization_setup(tmp_path_factory):
    """A tiny random T5 built and saved by the reference, with a SentencePiece tokenizer trained here
    (converted and saved as tokenizer.json by the reference); a dataset folder of jsonl/csv/json files."""
    transformers = pytest.importorskip("transformers")
    spm = pytest.importorskip("sentencepiece")
    pytest.importorskip("google.protobuf")
    pytest.importorskip("rouge_score")
    folder = tmp_path_factory.mktemp("summarization")
    rng = random.Random(0)
    sentences = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) + "." for _ in range(300)]
    spiece = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences + ["summarize: " + s for s in sentences[:50]]), model_writer=spiece,
        vocab_size=200, hard_vocab_limit=False, model_type="unigram", character_coverage=1.0, minloglevel=2,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>")
    model_dir = folder / "tiny-t5"
    model_dir.mkdir()
    (model_dir / "spiece.model").write_bytes(spiece.getvalue())
    (model_dir / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer", "extra_ids": 0}))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.save_pretrained(str(model_dir))
    (model_dir / "spiece.model").unlink()  # workbench reads tokenizer.json, as with any saved T5
    from reference import build_reference_model, save_reference_model

    config = dict(vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2,
                  num_heads=4, relative_attention_num_buckets=8, relative_attention_max_distance=20, dropout_rate=0.0,
                  pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    save_reference_model(build_reference_model("t5", "T5ForConditionalGeneration", config), str(model_dir))
    data = folder / "data"
    data.mkdir()
    rows = [{"document": f"{sentences[i]} {sentences[i + 100]}", "summary": sentences[i]} for i in range(27)]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:16]))
    (data / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[16:22]))
    (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[22:]))
    with open(folder / "validation.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["document", "summary"])
        writer.writeheader()
        writer.writerows(rows[16:22])
    return folder


def _summarization_args(folder: Path, output: str, **extra) -> dict:
    args = dict(model_name_or_path=str(folder / "tiny-t5"), text_column="document", summary_column="summary",
                source_prefix="summarize: ", do_train=True, do_eval=True, do_predict=True, predict_with_generate=True,
                output_dir=output, num_train_epochs=2, per_device_train_batch_size=4, per_device_eval_batch_size=4,
                learning_rate=1e-3, save_steps=2, max_source_length=64, max_target_length=16,
                generation_max_length=12, seed=7, disable_tqdm=True, report_to="none")
    return {**args, **extra}


def _check_summarization_output(output: Path, predicted_rows: int) -> dict:
    results = json.loads((output / "all_results.json").read_text())
    expected = {"train_loss", "train_samples", "eval_loss", "eval_samples", "predict_loss", "predict_samples"}
    expected |= {f"{split}_{name}" for split in ("eval", "predict")
                 for name in ("rouge1", "rouge2", "rougeL", "rougeLsum", "gen_len")}
    assert expected <= set(results), sorted(expected - set(results))
    assert all(0.0 <= results[f"eval_{name}"] <= 100.0 for name in ("rouge1", "rouge2", "rougeL", "rougeLsum"))
    assert results["predict_samples"] == predicted_rows and 0 < results["eval_gen_len"] <= 12
    for name in ("train_results.json", "eval_results.json", "predict_results.json", "trainer_state.json",
                 "config.json", "model.safetensors", "tokenizer.json"):
        assert (output / name).is_file(), name
    assert len((output / "generated_predictions.txt").read_text().splitlines()) == predicted_rows
    return results


def test_summarization_one_process_and_two(summarization_setup, tmp_path):
    """Files of two formats in one process; a dataset folder (--dataset_name) and max_*_samples in two."""
    folder = summarization_setup
    one = _summarization_args(folder, str(tmp_path / "one"), train_file=str(folder / "data" / "train.jsonl"),
                              validation_file=str(folder / "validation.csv"),
                              test_file=str(folder / "data" / "test.jsonl"))
    two = _summarization_args(folder, str(tmp_path / "two"), dataset_name=str(folder / "data"), max_train_samples=12,
                              max_predict_samples=3)
    runs = {"one": _start([sys.executable], SUMMARIZATION, _flags(one), tmp_path),
            "two": _start(_accelerate(29543), SUMMARIZATION, _flags(two), tmp_path)}
    outputs = {name: _finish(process, name) for name, process in runs.items()}
    first = _check_summarization_output(tmp_path / "one", 5)
    second = _check_summarization_output(tmp_path / "two", 3)
    assert first["eval_samples"] == second["eval_samples"] == 6
    assert (first["train_samples"], second["train_samples"]) == (16, 12)
    assert "***** predict metrics *****" in outputs["one"]
    state = {name: json.loads((tmp_path / name / "trainer_state.json").read_text()) for name in ("one", "two")}
    assert (state["one"]["global_step"], state["two"]["global_step"]) == (8, 4)


# --- the quick tour (README's first command) -----------------------------------------------------------

def test_quick_tour_builds_the_zoo_model_then_answers(tmp_path):
    from tutorials import find_or_fetch_sdist, make_zoo

    sdist = find_or_fetch_sdist(tmp_path / "sdist")
    if sdist is None:
        pytest.skip("the vaderSentiment 3.3.2 sdist (the Rotten Tomatoes snippets) could not be fetched with pip")
    env = {**_env(tmp_path), "WORKBENCH_ZOO": str(make_zoo(tmp_path / "zoo", sdist)), "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quick_tour.py"), "--max-samples", "200"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    assert "has no sentiment model yet: building it" in out
    stages = re.findall(r"^\[zoo sentiment\] (\d)/5 (\w+)", done.stderr, re.M)  # the build says where it is
    assert stages == [("1", "fetching"), ("2", "tokenizing"), ("3", "training"), ("4", "evaluating"), ("5", "saving")]
    assert (tmp_path / "zoo" / "text-classification" / "zoo.json").is_file()
    answers = re.findall(r"^\s*(POSITIVE|NEGATIVE) (0\.\d{3})  (.+)$", out, re.M)
    assert len(answers) == 4  # the pipeline's two, then the Auto classes' two: the same labels and scores
    assert answers[:2] == answers[2:]
    similarity = re.search(r"cosine\(paraphrase\) = (\S+)\s+cosine\(unrelated\) = (\S+)", out)
    assert float(similarity[1]) > 0.7 and abs(float(similarity[2])) < 0.2
    assert "identical outputs = True" in out
    assert re.search(r"^assistant: .*Paris", out, re.M), out[-1500:]
