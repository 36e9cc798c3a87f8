"""The ``workbench`` terminal command (also ``python -m workbench``).

    workbench chat MODEL [--gguf-file FILE] [--system TEXT] [--max-new-tokens N] [--dtype DTYPE]
                         [--do-sample | --no-do-sample] [--temperature T] [--top-p P] [--device DEVICE]
    workbench zoo list
    workbench zoo build sentiment [--max-samples N] [--epochs E] [--output DIR] [--seed S] [--quiet]
    workbench add-model --like FAMILY --name MODEL_TYPE [--root DIR] [--prefix P] [--force] [--dry-run]
    workbench families [--names]
    workbench export onnx MODEL OUT [--task TASK] [--opset N] [--gguf-file FILE]

Only argparse is loaded until the arguments are parsed: torch and the models load afterwards,
so ``workbench --help`` and a mistyped option answer at once.

Exit codes: 0 done, 1 a failure while running, 2 bad arguments (argparse's code), including a
MODEL that cannot be loaded, 130 interrupted while loading.
"""

from __future__ import annotations

import argparse
import sys

from . import add_model, chat, export, families, zoo


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="The workbench command line.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    chat.add_arguments(commands.add_parser(
        "chat", help="chat with a model in the terminal", description=chat.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ))  # fmt: skip
    zoo.add_arguments(commands.add_parser(
        "zoo", help="build and list the models workbench fine-tunes locally", description=zoo.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ))  # fmt: skip
    add_model.add_arguments(commands.add_parser(
        "add-model", help="scaffold a new model family from a registered one", description=add_model.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ))  # fmt: skip
    families.add_arguments(commands.add_parser(
        "families", help="list the model types workbench loads (the README's table)", description=families.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ))  # fmt: skip
    export.add_arguments(commands.add_parser(
        "export", help="export a model to ONNX", description=export.DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    ))  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return args.run(args)


__all__ = ["build_parser", "main"]
