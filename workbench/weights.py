"""Checkpoint files: find them, read them tensor by tensor, write them in shards.

Formats are Hugging Face's: ``model.safetensors``, sharded ``model-0000i-of-0000n.safetensors``
with ``model.safetensors.index.json``, and (read only, never unpickled) ``pytorch_model.bin``;
a llama.cpp GGUF file is read (and dequantized) through ``workbench.gguf``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch

from .errors import CheckpointError, CheckpointNotFoundError
from .hub import HubOptions, resolve_file
from .io import atomic_path, atomic_write_text

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
# every weights file a save replaces: a re-save with other sharding must not leave old shards a loader could pick up
WEIGHT_FILES = ("model.safetensors", "model-*-of-*.safetensors", SAFE_WEIGHTS_INDEX_NAME, "pytorch_model*.bin",
                "pytorch_model*.bin.index.json")
PT_WEIGHTS_NAME = "pytorch_model.bin"
PT_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"

_DTYPES = {
    "float32": torch.float32, "float": torch.float32, "fp32": torch.float32,
    "float16": torch.float16, "half": torch.float16, "fp16": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float64": torch.float64,
}


def parse_dtype(value: str | torch.dtype | None, argument: str = "dtype") -> torch.dtype | None:
    """``"bfloat16"``, ``"torch.float16"`` or a ``torch.dtype`` -> ``torch.dtype`` (``None`` stays)."""
    if value is None or isinstance(value, torch.dtype):
        return value
    name = str(value).removeprefix("torch.")
    if name not in _DTYPES:
        raise ValueError(
            f"{argument}={value!r} is not a dtype workbench loads weights in. "
            f"Use one of {sorted(set(_DTYPES))}, a torch.dtype, or 'auto'."
        )
    return _DTYPES[name]


@dataclass
class CheckpointFiles:
    """The weight files of one checkpoint, in the order they should be read."""

    paths: list[str]
    format: str  # "safetensors", "pt" or "gguf"


def find_checkpoint_files(path_or_repo: str | os.PathLike, options: HubOptions) -> CheckpointFiles:
    """Resolve the weight files: single or sharded safetensors first, then pytorch_model.bin."""
    for weights_name, index_name, fmt in (
        (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, "safetensors"),
        (PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME, "pt"),
    ):
        single = resolve_file(path_or_repo, weights_name, options, required=False)
        if single:
            return CheckpointFiles([single], fmt)
        index = resolve_file(path_or_repo, index_name, options, required=False)
        if index:
            shards = _read_index(index)
            return CheckpointFiles([resolve_file(path_or_repo, name, options) for name in shards], fmt)
    where = os.path.join(str(path_or_repo), options.subfolder) if options.subfolder else str(path_or_repo)
    raise CheckpointNotFoundError(
        f"No weights found in {where}: looked for {SAFE_WEIGHTS_NAME}, {SAFE_WEIGHTS_INDEX_NAME}, "
        f"{PT_WEIGHTS_NAME} and {PT_WEIGHTS_INDEX_NAME}. Save the model there with "
        "model.save_pretrained(folder), or use Model.from_config(config) for random weights."
    )


def _read_index(index_path: str) -> list[str]:
    try:
        with open(index_path, encoding="utf-8") as handle:
            weight_map = json.load(handle)["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{index_path} is not a valid shard index (needs a 'weight_map' of tensor -> file): {error}. "
            "Re-save the checkpoint with save_pretrained."
        ) from None
    return sorted(set(weight_map.values()))


def iter_tensors(files: CheckpointFiles, wanted: Callable[[str], bool] | None = None,
                 names: Iterable[str] | None = None) -> Iterator[tuple[str, torch.Tensor | None]]:
    """Yield ``(name, tensor)`` for every tensor of the checkpoint, one at a time.

    Names that ``wanted`` rejects are yielded with ``None`` instead of being read, so the caller
    can report them as unexpected without paying for them. ``names`` (the model's tensor names)
    let a GGUF file's tensors, named after llama.cpp's modules, come back under the model's names.
    """
    for path in files.paths:
        if files.format == "safetensors":
            yield from _iter_safetensors(path, wanted)
        elif files.format == "gguf":
            from .gguf import iter_gguf_tensors

            yield from iter_gguf_tensors(path, wanted=wanted, names=names)
        else:
            yield from _iter_torch_bin(path, wanted)


def _iter_safetensors(path: str, wanted: Callable[[str], bool] | None) -> Iterator[tuple[str, torch.Tensor | None]]:
    from safetensors import SafetensorError, safe_open

    mapped = map_safetensors(path)
    if mapped is not None:
        for name, tensor in mapped.items():
            yield name, (tensor if wanted is None or wanted(name) else None)
        return
    try:  # a file the mapping does not read (big-endian machine, exotic dtype, damaged header)
        with safe_open(path, framework="pt") as handle:
            for name in handle.keys():
                yield name, (handle.get_tensor(name) if wanted is None or wanted(name) else None)
    except SafetensorError as error:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({error}); it is probably truncated or "
            "corrupt. Delete it and download or save it again."
        ) from None


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


def map_safetensors(path: str) -> dict[str, torch.Tensor] | None:
    """Every tensor of a safetensors file as a view of one private memory map of it (no byte is
    read until used), or None when the file cannot be read that way (the caller then uses the
    safetensors reader, which also reports damage).

    One map for the whole file, so tensors stored next to each other are adjacent views of one
    storage: a Llama layer's gate and up projections (consecutive in the file) fuse without a copy
    (:func:`workbench.nn.linear.fuse_linears`). The map is private (copy on write): writing into a
    parameter, as training does, never reaches the file, and a save that replaces the file by
    rename (``save_pretrained``) leaves the mapped old file readable until the map is freed.
    """
    if sys.byteorder != "little":
        return None
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            length = int.from_bytes(handle.read(8), "little")
            if not 0 < length <= size - 8:
                return None
            header = json.loads(handle.read(length))
        header.pop("__metadata__", None)
        layout = {name: _tensor_layout(info, 8 + length, size) for name, info in header.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
    if any(spec is None for spec in layout.values()):
        return None
    storage = torch.UntypedStorage.from_file(path, shared=False, nbytes=size)
    return {name: torch.empty(0, dtype=dtype).set_(storage, offset, shape)
            for name, (dtype, offset, shape) in sorted(layout.items())}


def _tensor_layout(info: dict, start: int, size: int) -> tuple[torch.dtype, int, tuple[int, ...]] | None:
    """(dtype, offset in elements, shape) of one header entry, or None if it cannot be a view."""
    dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
    shape = tuple(int(n) for n in info["shape"])
    begin, end = (start + int(n) for n in info["data_offsets"])
    if dtype is None or any(n < 0 for n in shape):
        return None
    itemsize = torch.empty(0, dtype=dtype).element_size()
    count = 1
    for n in shape:
        count *= n
    if begin % itemsize or end - begin != count * itemsize or end > size or begin < start:
        return None  # unaligned or inconsistent: the safetensors reader copies (or reports damage)
    return dtype, begin // itemsize, shape


def _iter_torch_bin(path: str, wanted: Callable[[str], bool] | None) -> Iterator[tuple[str, torch.Tensor | None]]:
    try:
        # weights_only: a checkpoint must never run code while it loads
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # torch raises several types for bad pickles
        raise CheckpointError(
            f"{path} could not be read as plain tensors with torch.load(weights_only=True): {error}. "
            "workbench never unpickles arbitrary objects; convert the file to safetensors with a "
            "tool you trust."
        ) from None
    for name, tensor in state.items():
        yield name, (tensor if wanted is None or wanted(name) else None)


def checkpoint_dtype(files: CheckpointFiles) -> torch.dtype | None:
    """The floating dtype the checkpoint stores, read from headers only."""
    if files.format != "safetensors":
        return None
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(files.paths[0], framework="pt") as handle:
            for name in handle.keys():
                dtype = handle.get_slice(name).get_dtype()
                if dtype in ("F32", "F16", "BF16", "F64"):
                    return {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64}[dtype]
    except SafetensorError:
        return None  # reported properly when the tensors are read
    return None


# ---------------------------------------------------------------------------------------------
# saving

def parse_size(size: int | str) -> int:
    """``"5GB"``, ``"200MB"``, ``"10KiB"`` or a byte count -> bytes."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(I?)B?\s*", str(size).upper())
    if not match:
        raise ValueError(f"max_shard_size={size!r} is not a size: use bytes as an int or a string like '500MB' or '5GB'.")
    number, unit, binary = match.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** " KMGT".index(unit or " "))


def save_state_dict(state_dict: dict[str, torch.Tensor], folder: str, max_shard_size: int | str = "5GB") -> list[str]:
    """Write safetensors shards (and the index when there is more than one); return file names."""
    from safetensors.torch import save_file

    limit = parse_size(max_shard_size)
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    storages: set[int] = set()
    for name, tensor in state_dict.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > limit:
            shards.append({})
            size = 0
        tensor = tensor.detach()
        storage = tensor.untyped_storage().data_ptr()
        if storage in storages or tensor.numel() != tensor.untyped_storage().nbytes() // max(tensor.element_size(), 1):
            # a view into a shared tensor (fused projections keep q/k/v as rows of one weight):
            # safetensors writes each tensor on its own
            tensor = tensor.clone()
        storages.add(storage)
        shards[-1][name] = tensor.contiguous()
        size += nbytes
    names = (
        [SAFE_WEIGHTS_NAME]
        if len(shards) == 1
        else [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    )
    _remove_stale_weights(folder, keep=set(names))
    for name, shard in zip(names, shards):
        with atomic_path(os.path.join(folder, name)) as tmp:
            save_file(shard, tmp, metadata={"format": "pt"})
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": sum(t.numel() * t.element_size() for t in state_dict.values())},
            "weight_map": {key: name for name, shard in zip(names, shards) for key in shard},
        }
        atomic_write_text(os.path.join(folder, SAFE_WEIGHTS_INDEX_NAME), json.dumps(index, indent=2, sort_keys=True) + "\n")
    return names


def _remove_stale_weights(folder: str, keep: set[str]) -> None:
    """Old weights files beside the new ones (``save_pretrained`` writes into a fresh staged folder instead)."""
    for name in os.listdir(folder):
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in WEIGHT_FILES) and name not in keep:
            os.remove(os.path.join(folder, name))
