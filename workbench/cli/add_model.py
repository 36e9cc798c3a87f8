"""``workbench add-model``: scaffold a new model family from a registered one (see
:mod:`workbench.porting.scaffold`).

    workbench add-model --like llama --name olmo [--root DIR] [--prefix Olmo] [--force] [--dry-run]
"""

from __future__ import annotations

import sys

DESCRIPTION = """\
Write a new model family from a registered one: its config class (model_type NAME, the source's
defaults), a model file under workbench/models/ (the source's classes under the new names), its
entry in workbench/models/registry.py with a tiny test config, and a conversion-script template
(workbench/models/convert_NAME_checkpoint.py). Then print the next steps.
"""


def add_arguments(parser) -> None:
    parser.add_argument("--like", required=True, help="the registered family to start from, e.g. llama")
    parser.add_argument("--name", required=True, help="the new model_type, e.g. olmo (config.json's model_type)")
    parser.add_argument("--root", "--output-dir", dest="root",
                        help="the folder holding the workbench package to write into (default: the installed one's)")
    parser.add_argument("--prefix", help="class-name prefix (default from --name: olmo -> Olmo, gpt_neox -> GptNeox)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files (and regenerate a family "
                                                             "that add-model wrote before)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be written, write nothing")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..porting import scaffold

    try:
        plan = scaffold.plan(args.like, args.name, args.root, force=args.force, prefix=args.prefix)
    except scaffold.ScaffoldError as error:
        print(f"workbench add-model: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(scaffold.describe(plan))
        print("Nothing written (--dry-run).")
        return 0
    try:
        written = scaffold.write(plan)
    except OSError as error:
        print(f"workbench add-model: could not write into {plan.root}: {error}. Nothing was changed.", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print()
    print(scaffold.next_steps(plan))
    return 0
