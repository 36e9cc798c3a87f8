"""Export a model to ONNX: a folder with ``model.onnx``, ``config.json`` and the tokenizer's files.

    >>> from workbench.onnx import export
    >>> written = export("sentence-transformers/all-MiniLM-L6-v2", "minilm-onnx")  # doctest: +SKIP
    >>> written.input_names, written.output_names                                  # doctest: +SKIP
    (['input_ids', 'attention_mask', 'token_type_ids'], ['last_hidden_state'])

or from the terminal: ``workbench export onnx MODEL OUT [--task TASK] [--opset N]``.

What exports (``SUPPORTED``): BERT-family encoders as ``feature-extraction`` (``last_hidden_state``)
or ``text-classification`` (``logits``), and Llama-shaped decoders as ``text-generation`` with a
key/value cache (past keys and values in, present ones out; the names and shapes are in
``workbench/onnx/graphs.py``). Batch, sequence and past lengths are dynamic axes.
``workbench.onnx.runtime.OnnxCausalLM`` runs an exported decoder's greedy loop in onnxruntime.

How: ``torch.onnx.export(..., dynamo=True)`` (``torch.export`` traces the model, onnxscript writes the
graph, its optimizer folds constants), at the exporter's default opset unless ``opset=`` says
otherwise. The model is traced recording gradients for every parameter (in eval mode): that is the
state in which workbench's linears run plain ``F.linear`` per module, neither the oneDNN operator
(which ONNX has no translation for) nor the fused q/k/v and gate/up projections (whose packed weight is
not a parameter, so the file would hold it beside the separate ones); see ``workbench/nn/linear.py``.
``torch_kernels()`` is not enough there: under ``torch.export`` the code takes its compiled-graph
branch, which does not read that switch. The parameters' ``requires_grad`` flags, the grad mode and
the training flag are restored afterwards.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..tasks import task_for_class
from .graphs import Graph, decoder_graph, encoder_graph

# task -> model types whose models export for it (decoders: the llama module's families; encoders: BERT's)
ENCODER_TYPES = ("bert", "roberta", "xlm-roberta", "camembert", "distilbert")
SUPPORTED = {
    "feature-extraction": ENCODER_TYPES,
    "text-classification": ENCODER_TYPES,
    "text-generation": ("llama", "mistral", "qwen2"),
}
TASK_ALIASES = {"text-generation-with-past": "text-generation", "sequence-classification": "text-classification",
                "sentiment-analysis": "text-classification", "default": "feature-extraction"}
AUTO_CLASSES = {"feature-extraction": "AutoModel", "text-classification": "AutoModelForSequenceClassification",
                "text-generation": "AutoModelForCausalLM"}
MODEL_FILE = "model.onnx"
LOWEST_OPSET = 18  # what torch.onnx's dynamo exporter writes natively (its default)
SINGLE_FILE_BYTES = 1 << 30  # larger weights go to model.onnx.data (protobuf stops at 2 GiB)


class UnsupportedExport(ValueError):
    """A model type or task that ``export`` does not handle; the message lists what it does."""


@dataclass
class OnnxExport:
    """What :func:`export` wrote: the folder, the ONNX file, its task and names, and every file."""

    folder: Path
    model_file: Path
    task: str
    model_type: str
    input_names: list[str]
    output_names: list[str]
    files: list[Path] = field(default_factory=list)


def supported_table() -> str:
    """``feature-extraction (bert, ...); text-generation (llama, ...)``: for error messages."""
    return "; ".join(f"{task} ({', '.join(types)})" for task, types in SUPPORTED.items())


def resolve_export_task(task: str | None, class_name: str | None) -> str:
    """The export task from ``task=`` (an alias allowed) or, when None, from the model's class name."""
    name = TASK_ALIASES.get(task, task) if task is not None else task_for_class(class_name)
    if name not in SUPPORTED:
        said = f"task {task!r}" if task is not None else f"the task of {class_name or 'this model'} ({name})"
        close = difflib.get_close_matches(str(task), [*SUPPORTED, *TASK_ALIASES], n=1) if task else []
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnsupportedExport(f"ONNX export does not support {said}.{hint} Supported: {supported_table()}.")
    return name


def check_supported(task: str, model_type: str) -> None:
    if model_type not in SUPPORTED[task]:
        which = [name for name, types in SUPPORTED.items() if model_type in types]
        also = f" ({model_type} exports as: {', '.join(which)})" if which else ""
        raise UnsupportedExport(f"ONNX export of model_type {model_type!r} as {task} is not supported{also}. "
                                f"Supported: {supported_table()}.")


def load_for_export(path, task: str | None, gguf_file: str | None = None):
    """(model, task) from a folder or Hub id: the task from ``task=``, else config.json's architectures,
    else (a GGUF file's config) the first task that exports the model type."""
    from .. import auto

    options = {"gguf_file": gguf_file} if gguf_file else {}
    config = auto.AutoConfig.from_pretrained(path, **options)
    architecture = (getattr(config, "architectures", None) or [None])[0]
    if task is None and architecture is None:  # a GGUF file's config names none: the model type's first task
        task = next((name for name, types in SUPPORTED.items() if config.model_type in types), None)
    task = resolve_export_task(task, architecture)
    check_supported(task, config.model_type)  # before loading any weights
    model = getattr(auto, AUTO_CLASSES[task]).from_pretrained(path, **options)
    return model, task


def export(model_or_path, out_dir, task: str | None = None, opset: int | None = None, *, tokenizer=None,
           gguf_file: str | None = None) -> OnnxExport:
    """Write ``model_or_path`` (a workbench model, a folder or a Hub id) to ``out_dir`` as ONNX.

    ``task``: ``feature-extraction``, ``text-classification`` or ``text-generation`` (None: read off the
    model's class, ``...ForCausalLM`` -> text-generation). ``opset``: the ONNX opset (None: the
    exporter's default). ``tokenizer``: a tokenizer or its folder, saved beside the model (None: the
    one in the model's folder, if it has one). ``gguf_file``: load the model from that GGUF file in
    the folder (dequantized to float32). Raises :class:`UnsupportedExport` naming what is supported.
    """
    import torch

    if opset is not None and opset < LOWEST_OPSET:
        raise UnsupportedExport(f"opset {opset} cannot be written: torch's exporter writes opset {LOWEST_OPSET} and up "
                                f"(an older one is converted down, which fails on dynamic axes). Pass opset >= "
                                f"{LOWEST_OPSET}, or None for the exporter's default.")
    if isinstance(model_or_path, (str, os.PathLike)):
        source = str(model_or_path)
        model, task = load_for_export(source, task, gguf_file)
    else:
        model, source = model_or_path, getattr(model_or_path.config, "name_or_path", "") or None
        task = resolve_export_task(task, type(model).__name__)
        check_supported(task, model.config.model_type)
    graph = decoder_graph(model) if task == "text-generation" else encoder_graph(
        model, "logits" if task == "text-classification" else "last_hidden_state")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    with plain_operators(model), warnings.catch_warnings():
        # the exporter says so for each dim shared by several inputs, which is every dynamic one here
        warnings.filterwarnings("ignore", message=".*will not be used, since it shares the same shape constraints")
        graph.module.eval()(*graph.example)  # runs lazy set-up (RoPE tables) before tracing, not during it
        program = torch.onnx.export(graph.module, graph.example, input_names=graph.input_names,
                                    output_names=graph.output_names, dynamic_shapes=graph.dynamic_shapes,
                                    opset_version=opset, dynamo=True, optimize=True, verbose=False)
    name_axes(program.model, graph)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    program.save(str(path), external_data=weight_bytes > SINGLE_FILE_BYTES)
    model.config.save_pretrained(folder)
    save_tokenizer(tokenizer if tokenizer is not None else source, folder, gguf_file)
    generation = getattr(model, "generation_config", None)
    if task == "text-generation" and generation is not None and hasattr(generation, "save_pretrained"):
        generation.save_pretrained(folder)
    return OnnxExport(folder, path, task, model.config.model_type, graph.input_names, graph.output_names,
                      sorted(p for p in folder.iterdir() if p.is_file()))


@contextlib.contextmanager
def plain_operators(model):
    """Eval mode, gradients recorded for every parameter: workbench's linears then run one plain
    ``F.linear`` per module (see the module docstring). Restores all three afterwards."""
    import torch

    training, flags = model.training, [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    try:
        for param, _ in flags:
            param.requires_grad_(True)
        with torch.enable_grad():
            yield
    finally:
        for param, flag in flags:
            param.requires_grad_(flag)
        model.train(training)


def name_axes(model, graph: Graph) -> None:
    """Give the file's inputs and outputs the axis names of ``graph.axis_names`` (the exporter names
    an axis it worked out itself ``s53``)."""
    import onnx_ir as ir

    for value in [*model.graph.inputs, *model.graph.outputs]:
        if value.shape is None:
            continue
        dims = list(value.shape)
        for axis in range(len(dims)):
            name = graph.axis_names.get((value.name, axis))
            if name is not None:
                dims[axis] = ir.SymbolicDim(name)
        value.shape = ir.Shape(dims)


def save_tokenizer(tokenizer, folder: Path, gguf_file: str | None = None) -> bool:
    """Save ``tokenizer`` (an object, or the folder / Hub id to load it from) into ``folder``; False
    when there is none to save (a model folder without tokenizer files)."""
    if tokenizer is None:
        return False
    if isinstance(tokenizer, (str, os.PathLike)):
        from ..tokenization import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(str(tokenizer), **({"gguf_file": gguf_file} if gguf_file else {}))
        except (OSError, ValueError):  # no tokenizer files there: the export is the model alone
            return False
    tokenizer.save_pretrained(str(folder))
    return True


__all__ = ["OnnxExport", "SUPPORTED", "UnsupportedExport", "export", "resolve_export_task", "supported_table"]
