"""Activation capture, module alignment and diff between two models (no UI).

The engine behind the activation-diff widget and behind the parity tests. It works on any pair of
``torch.nn.Module`` objects (a transformers model and its workbench port, two checkpoints, one
model in two dtypes, before and after quantization) and imports nothing but torch.

>>> from workbench.porting import compare
>>> report = compare(reference, candidate, {"input_ids": ids})     # align="name" | "order" | mapping
>>> report.coverage.describe()                                      # "33 of 33 modules aligned (100%)"
>>> report.preset, report.atol, report.rtol                         # from the models' dtypes: "bfloat16", ...
>>> report.first_divergence()                                       # where the error enters, or None
>>> report.save_html("diff.html"); report.save_json("diff.json")

Porting a checkpoint from another library (torchvision, timm, ONNX): :class:`PortingRecipe` and
:func:`port` (:mod:`~workbench.porting.recipe`: rename, strict key check, this activation check, an
atomic folder write).

Pieces, for finer control: :func:`capture` / :class:`ActivationCapture` (forward hooks),
:func:`align` (name, mapping or execution order), :func:`compare_captures` (rows and report).
"""

from .align import Alignment, align, module_kind
from .capture import ActivationCapture, Leaf, ModuleCall, TensorStats, capture, tensor_leaves
from .diff import AlignmentError, compare, compare_captures, error_metrics
from .recipe import (PortingError, PortingRecipe, PortResult, build_target, check_activations, check_keys, port,
                     read_onnx_state_dict, read_state_dict, save_folder)
from .report import LOW_COVERAGE, MIME_TYPE, Coverage, DiffReport, DiffRow, LowCoverageWarning
from .tolerance import PRESETS, Tolerance, choose_tolerance, module_precision

__all__ = [
    "ActivationCapture", "Alignment", "AlignmentError", "Coverage", "DiffReport", "DiffRow", "LOW_COVERAGE", "Leaf",
    "LowCoverageWarning", "MIME_TYPE", "ModuleCall", "PRESETS", "PortResult", "PortingError", "PortingRecipe",
    "TensorStats", "Tolerance", "align", "build_target", "capture", "check_activations", "check_keys",
    "choose_tolerance", "compare", "compare_captures", "error_metrics", "module_kind", "module_precision", "port",
    "read_onnx_state_dict", "read_state_dict", "save_folder", "tensor_leaves",
]
