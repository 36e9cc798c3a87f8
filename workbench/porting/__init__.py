"""Activation capture, module alignment and diff between two models (no UI).

The engine behind the activation-diff widget and behind the parity tests. It works on any pair of
``torch.nn.Module`` objects (a transformers model and its workbench port, two checkpoints, one
model in two dtypes, before and after quantization) and imports nothing but torch.

>>> from workbench.porting import compare
>>> report = compare(reference, candidate, {"input_ids": ids})     # align="name" | "order" | mapping
>>> report.first_divergence()                                       # where the error enters, or None
>>> report.save_html("diff.html"); report.save_json("diff.json")

Pieces, for finer control: :func:`capture` / :class:`ActivationCapture` (forward hooks),
:func:`align` (name, mapping or execution order), :func:`compare_captures` (rows and report).
"""

from .align import Alignment, align, module_kind
from .capture import ActivationCapture, Leaf, ModuleCall, TensorStats, capture, tensor_leaves
from .diff import compare, compare_captures, error_metrics
from .report import MIME_TYPE, DiffReport, DiffRow

__all__ = [
    "ActivationCapture", "Alignment", "DiffReport", "DiffRow", "Leaf", "MIME_TYPE", "ModuleCall", "TensorStats",
    "align", "capture", "compare", "compare_captures", "error_metrics", "module_kind", "tensor_leaves",
]
