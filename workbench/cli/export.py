"""``workbench export onnx``: write a model as ONNX (see :mod:`workbench.onnx`).

    workbench export onnx MODEL OUT [--task TASK] [--opset N] [--gguf-file FILE]
"""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Export a model to another format. `workbench export onnx MODEL OUT` writes OUT/model.onnx with
dynamic batch and sequence axes, beside MODEL's config.json and tokenizer files:

  feature-extraction    BERT-family encoders  -> last_hidden_state
  text-classification   BERT-family encoders  -> logits
  text-generation       Llama-shaped decoders -> logits and present.{i}.key/value, taking
                        past_key_values.{i}.key/value (length 0 on the first step)

The task is read off config.json's architectures unless --task names it.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    onnx = formats.add_parser("onnx", help="ONNX, through torch.onnx.export (onnxscript and onnx needed)",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    onnx.add_argument("model", metavar="MODEL", help="a model folder or Hub id")
    onnx.add_argument("out", metavar="OUT", help="the folder to write (created if missing)")
    onnx.add_argument("--task", help="feature-extraction, text-classification or text-generation "
                                     "(default: from config.json's architectures)")
    onnx.add_argument("--opset", type=int, help="the ONNX opset (default: the exporter's)")
    onnx.add_argument("--gguf-file", help="load MODEL from this GGUF file in its folder (dequantized to float32)")
    onnx.set_defaults(run=run_onnx)


def run_onnx(args: argparse.Namespace) -> int:
    from ..onnx import UnsupportedExport, export

    try:
        written = export(args.model, args.out, task=args.task, opset=args.opset, gguf_file=args.gguf_file)
    except UnsupportedExport as error:
        print(f"workbench export onnx: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # no such folder or repo, no config.json
        print(f"workbench export onnx: {error}", file=sys.stderr)
        return 2
    print(f"exported {written.model_type} as {written.task} to {written.model_file}")
    print(f"inputs:  {', '.join(written.input_names)}")
    print(f"outputs: {', '.join(written.output_names)}")
    for path in written.files:
        print(f"wrote {path}")
    return 0
