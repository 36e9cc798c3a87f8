"""GGUF files (llama.cpp's format): the config, the weights and the tokenizer they hold.

A GGUF file is self-contained: its metadata is the config (under llama.cpp's key names, prefixed
with the architecture: ``llama.block_count``), its tensors are the weights (under llama.cpp's
names: ``blk.0.attn_q.weight``, mostly quantized in blocks) and its ``tokenizer.*`` keys hold the
vocabulary, merges and chat template. This module turns each into what the rest of workbench
reads from a Hugging Face folder::

    read_gguf_config(path)                 -> config dict, as config.json would hold it
    iter_gguf_tensors(path)                -> (HF name, dequantized tensor), one at a time
    read_gguf_tokenizer_metadata(path)     -> vocabulary, merges, special ids, chat template
    read_gguf_summary(path)                -> the config, whether a tokenizer is inside, elements per tensor type

``from_pretrained(folder, gguf_file="model.gguf")`` uses the first two in place of config.json
and the safetensors files; the loading steps stay the same. The ``gguf`` package (PyPI) parses
the file and dequantizes the blocks; it is imported only when a GGUF file is read.

Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import functools
import logging
import os
import re
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from .errors import CheckpointError, CheckpointNotFoundError, UnsupportedModelError
from .gguf_architectures import ARCHITECTURES, GGUFArchitecture
from .gguf_header import GGUFHeader, read_gguf_header
from .hub import HubOptions, resolve_file

logger = logging.getLogger("workbench")

GGUF_MAGIC = b"GGUF"


# "{architecture}.<key>" -> config key
_CONFIG_KEYS = {
    "context_length": "max_position_embeddings",
    "embedding_length": "hidden_size",
    "block_count": "num_hidden_layers",
    "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "vocab_size": "vocab_size",
}
# "tokenizer.ggml.<key>" -> config key
_TOKEN_ID_KEYS = {
    "bos_token_id": "bos_token_id",
    "eos_token_id": "eos_token_id",
    "padding_token_id": "pad_token_id",
    "unknown_token_id": "unk_token_id",
}


# ---------------------------------------------------------------------------------------------
# finding and opening the file


def resolve_gguf_file(path_or_repo: str | os.PathLike | None, gguf_file: str | os.PathLike | None,
                      options: HubOptions | None = None) -> str | None:
    """The local path of the GGUF file a ``from_pretrained`` call names, or None if it names none.

    ``gguf_file`` is a file name inside the folder or Hub repo ``path_or_repo`` (fetched through
    the hub like any other file), or a path to a file (absolute, or relative when ``path_or_repo``
    is not a folder); ``path_or_repo`` may itself be a .gguf file.
    """
    location = "" if path_or_repo is None else os.fspath(path_or_repo)
    if gguf_file is None:
        return location if location.endswith(".gguf") and os.path.isfile(location) else None
    name = os.fspath(gguf_file)
    if os.path.isabs(name) or (not os.path.isdir(location) and os.path.isfile(name)):
        if not os.path.isfile(name):
            raise CheckpointNotFoundError(f"gguf_file={name!r} does not exist. Check the path.")
        return name  # a path of its own, as the reference accepts
    if not os.path.isdir(location):
        return resolve_file(location, name, options)  # a Hub repo: the hub explains what is missing
    found = resolve_file(location, name, options, required=False)
    if found is None:
        folder = os.path.join(location, options.subfolder) if options and options.subfolder else location
        present = sorted(f for f in os.listdir(folder) if f.endswith(".gguf")) if os.path.isdir(folder) else []
        holds = f"the GGUF files there are {', '.join(present)}" if present else "it holds no .gguf file"
        raise CheckpointNotFoundError(
            f"{folder} has no GGUF file {name!r} ({holds}). Pass gguf_file= the name of a file in "
            "that folder, or an absolute path to one."
        )
    return found


def _check_magic(path: str) -> None:
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head != GGUF_MAGIC:
        raise CheckpointError(
            f"{path} is not a GGUF file: it starts with {head!r}, not {GGUF_MAGIC!r}. Pass a .gguf file "
            "written by llama.cpp's converter as gguf_file=; to load a safetensors folder, leave gguf_file= out."
        )


def _reader(path: str):
    """A ``gguf.GGUFReader`` for ``path``, shared by the config and tensor steps of one load
    (parsing the metadata of a 49k-token vocabulary takes over a second)."""
    path = os.path.realpath(path)
    stat = os.stat(path)
    return _cached_reader(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=1)
def _cached_reader(path: str, size: int, mtime_ns: int):
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ImportError(
            f"Reading {path} needs the gguf package, which parses and dequantizes GGUF files: "
            "pip install 'workbench[gguf]' (or pip install gguf)."
        ) from None

    _check_magic(path)
    try:
        reader = GGUFReader(path)
    except (ValueError, IndexError) as error:  # bad version, or a file cut short
        raise CheckpointError(
            f"{path} could not be read as GGUF ({error}); it may be truncated, or written in a GGUF "
            "version the installed gguf package does not read (pip install -U gguf)."
        ) from None
    splits = _value(reader, "split.count", 1)
    if splits > 1:
        raise CheckpointError(
            f"{path} is one of {splits} parts of a split GGUF, which workbench does not load. "
            "Merge the parts first: llama-gguf-split --merge first-part.gguf merged.gguf"
        )
    return reader


def _header(path: str) -> GGUFHeader:
    """The metadata and tensor list alone (:mod:`workbench.gguf_header`: the vocabulary skipped,
    ~0.1 s where the full reader takes seconds), for the config and the catalog."""
    path = os.path.realpath(path)
    stat = os.stat(path)
    return _cached_header(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _cached_header(path: str, size: int, mtime_ns: int) -> GGUFHeader:
    _check_magic(path)
    try:
        header = read_gguf_header(path)
    except ValueError as error:
        raise CheckpointError(f"{error} It may be truncated, or not written by llama.cpp's converter.") from None
    splits = header.fields.get("split.count", 1)
    if splits > 1:
        raise CheckpointError(
            f"{path} is one of {splits} parts of a split GGUF, which workbench does not load. "
            "Merge the parts first: llama-gguf-split --merge first-part.gguf merged.gguf"
        )
    return header


def _value(reader, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def _architecture(name: str | None, path: str) -> tuple[str, GGUFArchitecture]:
    if name not in ARCHITECTURES:
        raise UnsupportedModelError(
            f"{path} holds a GGUF model of architecture {name!r}, which workbench cannot load from GGUF. "
            f"Supported GGUF architectures: {', '.join(sorted(ARCHITECTURES))}. Convert the original "
            "Hugging Face checkpoint instead, or dequantize the file to safetensors with another tool."
        )
    return name, ARCHITECTURES[name]


# ---------------------------------------------------------------------------------------------
# config


def read_gguf_config(path: str | os.PathLike) -> dict[str, Any]:
    """The config dict (config.json's keys) a GGUF file's metadata describes.

    >>> read_gguf_config("SmolLM2-135M-Instruct.Q4_1.gguf")["num_hidden_layers"]  # doctest: +SKIP
    30
    """
    path = os.fspath(path)
    header = _header(path)
    fields = header.fields
    arch, spec = _architecture(fields.get("general.architecture"), path)
    tensor_names = {tensor.name for tensor in header.tensors}
    config: dict[str, Any] = {"model_type": spec.model_type, **spec.assumed}
    if spec.with_experts and fields.get(f"{arch}.expert_count"):
        config["model_type"] = spec.with_experts
    for key, config_key in {**_CONFIG_KEYS, **dict(spec.config_keys)}.items():
        value = fields.get(f"{arch}.{key}")
        if value is not None and config_key is not None:
            config[config_key] = value
    _read_head_size(config, fields, arch, spec)
    config["rope_parameters"] = _rope_parameters(fields, arch, config.pop("partial_rotary_factor", None))
    if spec.rope_per_layer_type:
        local = {"rope_type": "default", "rope_theta": fields.get(f"{arch}.rope.freq_base_swa", 10000.0)}
        config["rope_parameters"] = {"full_attention": config["rope_parameters"], "sliding_attention": local}
    if "vocab_size" not in config:
        config["vocab_size"] = _embedding_rows(header, path)
    # llama.cpp writes output.weight only when the LM head is not the embedding matrix
    config["tie_word_embeddings"] = "output.weight" not in tensor_names
    if spec.derived_config is not None:
        config.update(spec.derived_config(fields, tensor_names, arch))
    for key, config_key in _TOKEN_ID_KEYS.items():
        value = fields.get(f"tokenizer.ggml.{key}")
        if value is not None:
            config[config_key] = value
    if "rope_freqs.weight" in tensor_names:
        logger.warning(
            "%s carries per-frequency rope factors (rope_freqs.weight, Llama 3.1 style), which workbench "
            "does not apply: the model will differ from llama.cpp's.", path,
        )
    return config


def _read_head_size(config: dict[str, Any], fields: dict[str, Any], arch: str, spec: GGUFArchitecture) -> None:
    """``head_dim`` from ``attention.key_length``; ``rope.dimension_count`` is the rotated part of
    a head: the whole head in the Llama-like families (older files state only that), a fraction
    of it (partial_rotary_factor) in the families that rotate part of each head."""
    head_dim = fields.get(f"{arch}.attention.key_length")
    rope_dims = fields.get(f"{arch}.rope.dimension_count")
    if not spec.partial_rotary:
        head_dim = head_dim if head_dim is not None else rope_dims
    elif rope_dims is not None:
        size = head_dim or config["hidden_size"] // config["num_attention_heads"]
        if rope_dims != size:
            config["partial_rotary_factor"] = rope_dims / size
    if head_dim is not None:
        config["head_dim"] = head_dim


def read_gguf_summary(path: str | os.PathLike) -> dict[str, Any]:
    """What a model catalog shows of a GGUF file without reading its tensors:
    ``{"config": read_gguf_config(path), "has_tokenizer": bool, "tensor_types": {"Q4_K": elements, ...}}``
    (most elements first; the first type is the file's main quantization)."""
    path = os.fspath(path)
    header = _header(path)
    return {"config": read_gguf_config(path), "has_tokenizer": "tokenizer.ggml.model" in header.fields,
            "tensor_types": header.tensor_types()}


def _rope_parameters(fields: dict[str, Any], arch: str, partial_rotary_factor: float | None) -> dict[str, Any]:
    params: dict[str, Any] = {"rope_type": "default", "rope_theta": fields.get(f"{arch}.rope.freq_base", 10000.0)}
    if partial_rotary_factor is not None:
        params["partial_rotary_factor"] = partial_rotary_factor
    scaling = fields.get(f"{arch}.rope.scaling.type", "none")
    if scaling in ("linear", "yarn"):
        params.update(rope_type=scaling, factor=fields.get(f"{arch}.rope.scaling.factor", 1.0))
        original = fields.get(f"{arch}.rope.scaling.original_context_length")
        if original is not None:
            params["original_max_position_embeddings"] = original
    return params


def _embedding_rows(header: GGUFHeader, path: str) -> int:
    for tensor in header.tensors:
        if tensor.name == "token_embd.weight":
            return tensor.dims[-1]  # ggml order: (hidden, vocab)
    raise CheckpointError(f"{path} states no vocab size and has no token_embd.weight: it is not a complete model.")


# ---------------------------------------------------------------------------------------------
# tensors


def gguf_tensor_names(architecture: str, block_count: int, names: Iterable[str],
                      spec: GGUFArchitecture | None = None) -> dict[str, str | tuple[str, ...]]:
    """llama.cpp tensor name -> the model's tensor name, for the model tensor ``names`` given
    (``model.layers.3.self_attn.q_proj.weight`` <- ``blk.3.attn_q.weight``); a tensor the
    converter stacked from many modules (``spec.stacked``: a layer's experts) maps to their
    names in stacking order (``blk.0.ffn_up_exps.weight`` -> ``(...experts.0.up_proj.weight, ...)``).

    The names come from llama.cpp's own table, which its converter writes files with (the gguf
    package's ``TensorNameMap``), asked forward for each name the model has: one GGUF name may
    stand for different modules in different families, one module name never does.
    """
    import gguf

    arch = {name: enum for enum, name in gguf.MODEL_ARCH_NAMES.items()}[architecture]
    table = gguf.get_tensor_name_map(arch, block_count)
    spec = spec or GGUFArchitecture(architecture)
    found: dict[str, str] = {}
    stacks: dict[str, dict[int, str]] = {}
    for name in names:
        module, _, leaf = name.rpartition(".")
        index = None
        for pattern, replacement in spec.stacked:
            match = re.search(pattern, module)
            if match:
                index, module = int(match.group(1)), module[:match.start()] + replacement + module[match.end():]
                break
        target = table.get_name(module)
        if target is None and spec.stripped_prefix and module.startswith(spec.stripped_prefix):
            target = table.get_name(module.removeprefix(spec.stripped_prefix))
        if target is None:
            continue
        if index is None:
            found.setdefault(f"{target}.{leaf}", name)
        else:
            stacks.setdefault(f"{target}.{leaf}", {})[index] = name
    found.update({target: tuple(by_index[i] for i in sorted(by_index)) for target, by_index in stacks.items()})
    return found


def iter_gguf_tensors(path: str | os.PathLike, dtype: torch.dtype = torch.float32,
                      wanted: Callable[[str], bool] | None = None,
                      names: Iterable[str] | None = None) -> Iterator[tuple[str, torch.Tensor | None]]:
    """Yield ``(name, tensor)`` for every tensor of the file, dequantized to ``dtype``.

    ``names`` are the tensor names of the model being loaded; each GGUF tensor comes back under
    the one of them llama.cpp's table gives it (see :func:`gguf_tensor_names`; a stacked tensor
    comes back as one slice per module), or under its GGUF name when none does (or ``names`` is
    None). What the converter did to a tensor is undone (q/k row orders, fused q/k/v layouts,
    Gemma's norm +1: :mod:`workbench.gguf_architectures`). Names that ``wanted`` rejects are
    yielded with ``None`` instead of being dequantized (as ``weights.iter_tensors`` does).
    """
    path = os.fspath(path)
    for name, tensor, undo in iter_gguf_blocks(path, names):
        parts = (name,) if isinstance(name, str) else name
        if wanted is not None and not any(wanted(part) for part in parts):
            yield from ((part, None) for part in parts)
            continue
        values = undo(_dequantize(tensor, path)).to(dtype)
        if isinstance(name, str):
            yield name, values
        else:  # stacked along the first axis: (E, out, in) -> E tensors (out, in), each its own memory
            yield from ((part, piece.clone()) for part, piece in zip(name, values.unbind(0)))


def iter_gguf_blocks(path: str | os.PathLike, names: Iterable[str] | None = None
                     ) -> Iterator[tuple[str | tuple[str, ...], Any, Callable[[torch.Tensor], torch.Tensor]]]:
    """Yield ``(name, tensor, undo)`` for every tensor of the file, not dequantized: the model
    name(s) as :func:`iter_gguf_tensors` gives them, the ``gguf`` package's tensor (``.tensor_type``,
    ``.data``: the raw blocks, one row per output row) and ``undo(values)``, which applies to a
    (rows, ...) tensor what :func:`iter_gguf_tensors` does to this one (a row order, say), for
    :mod:`workbench.gguf_packed` to find the row permutation without dequantizing."""
    path = os.fspath(path)
    reader = _reader(path)
    arch, spec = _architecture(_value(reader, "general.architecture"), path)
    heads = _value(reader, f"{arch}.attention.head_count")
    shape = {"heads": heads, "kv_heads": _value(reader, f"{arch}.attention.head_count_kv", heads)}
    renames = gguf_tensor_names(spec.tensor_table or arch, _value(reader, f"{arch}.block_count", 0), names or (), spec)
    for tensor in reader.tensors:
        yield renames.get(tensor.name, tensor.name), tensor, functools.partial(_undo_converter, spec, tensor.name, shape=shape)


def _undo_converter(spec: GGUFArchitecture, gguf_name: str, values: torch.Tensor, shape: dict) -> torch.Tensor:
    """The tensor in the checkpoint's layout: what llama.cpp's converter did to it, undone."""
    leaf = ".".join(gguf_name.split(".")[-2:])  # "attn_q.weight"
    if spec.permuted_qk and gguf_name.startswith("blk.") and leaf.split(".")[0] in ("attn_q", "attn_k"):
        values = _unpermute_rotary_rows(values, shape["heads"] if leaf.startswith("attn_q") else shape["kv_heads"])
    if spec.norm_shift and gguf_name.endswith("norm.weight"):
        values = values - spec.norm_shift
    for fixed_leaf, fix in spec.tensor_fixes:
        if leaf == fixed_leaf:
            values = fix(values, shape)
    return values


def _dequantize(tensor, path: str) -> torch.Tensor:
    from gguf.quants import dequantize

    try:
        values = dequantize(tensor.data, tensor.tensor_type)
    except NotImplementedError:
        raise CheckpointError(
            f"Tensor {tensor.name!r} of {path} is stored as {tensor.tensor_type.name}, which the installed gguf "
            f"package cannot dequantize (it reads {', '.join(_readable_types())}). Upgrade it "
            "(pip install -U gguf) or re-quantize the file to one of those types."
        ) from None
    if not values.flags.writeable:  # F32 tensors come back as a view of the read-only file map
        values = values.copy()
    shape = tuple(int(n) for n in reversed(tensor.shape))  # ggml lists the fastest-moving axis first
    return torch.from_numpy(np.ascontiguousarray(values).reshape(shape))


def _readable_types() -> list[str]:
    from gguf import quants

    return ["F32", "F16"] + sorted(q.name for q in getattr(quants, "_type_traits", {}))


def _unpermute_rotary_rows(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Undo llama.cpp's q/k row order. Per head, llama.cpp stores the rotary pairs interleaved
    (x0, y0, x1, y1, ...) where Hugging Face keeps the halves apart (x0, x1, ..., y0, y1, ...).
    Works for weights (rows, in) and biases (rows,)."""
    rows = weight.shape[0]
    pairs = weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:])  # (H, D/2, 2, ...)
    return pairs.transpose(1, 2).reshape(weight.shape)  # (H, 2, D/2, ...) -> (H * D, ...)


# ---------------------------------------------------------------------------------------------
# tokenizer


def read_gguf_tokenizer_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """What a GGUF file says about its tokenizer, under llama.cpp's meanings, for the tokenizer
    side to build on. Absent keys are ``None`` (the file does not say).

    ``model``: the vocabulary kind (``"gpt2"`` byte-level BPE, ``"llama"`` sentencepiece,
    ``"t5"`` unigram, ...); ``pre_tokenizer``: llama.cpp's name for the text split (``"smollm"``,
    ``"llama-bpe"``, ``"qwen2"``, ...); ``tokens`` (byte-level tokens are spelled in the GPT-2
    byte alphabet, as in tokenizer.json), ``scores``, ``token_types`` (1 normal, 2 unknown,
    3 control, 4 user-defined, 5 unused, 6 byte) and ``merges`` (``"a b"`` strings) are lists in
    id order; the ``*_token_id`` keys, ``add_bos_token`` / ``add_eos_token`` /
    ``add_space_prefix`` flags and the Jinja ``chat_template`` follow; ``architecture`` is
    ``general.architecture`` (some families spell their sentencepiece vocabulary their own way).
    """
    path = os.fspath(path)
    reader = _reader(path)

    def ggml(key: str) -> Any:
        return _value(reader, f"tokenizer.ggml.{key}")

    return {
        "architecture": _value(reader, "general.architecture"),
        "model": ggml("model"),
        "pre_tokenizer": ggml("pre"),
        "tokens": ggml("tokens"),
        "scores": ggml("scores"),
        "token_types": ggml("token_type"),
        "merges": ggml("merges"),
        **{config_key: ggml(key) for key, config_key in _TOKEN_ID_KEYS.items()},
        "add_bos_token": ggml("add_bos_token"),
        "add_eos_token": ggml("add_eos_token"),
        "add_space_prefix": ggml("add_space_prefix"),
        "chat_template": _value(reader, "tokenizer.chat_template"),
    }
