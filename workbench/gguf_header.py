"""A GGUF file's metadata and tensor list, read with ``struct`` alone: no torch, no numpy, no
``gguf`` package, and long arrays (the vocabulary, the merges) skipped rather than decoded.

The ``gguf`` package's reader decodes every string of a 49k-token vocabulary into numpy views,
about 7 s for SmolLM2-135M on two cores; skipping them reads the same header in well under a
second. This is what a model catalog and the lab panel need (architecture, name, sizes, the
quantization of each tensor); :mod:`workbench.gguf` still reads the tokenizer and the weights.

Layout (GGUF v2/v3, little-endian): ``"GGUF"``, version (u32), tensor count (u64), key-value
count (u64); each key-value: a string key, a value type (u32), the value; then each tensor: a
string name, the number of dimensions (u32), the dimensions (u64 each, innermost first), the
tensor type (u32) and an offset (u64). Strings are a u64 length and UTF-8 bytes.
https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"GGUF"
# value type -> struct format of one scalar; 8 is a string, 9 an array
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
# ggml tensor type ids -> names, as llama.cpp prints them (the ones files in the wild use)
TENSOR_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
                11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS",
                18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8",
                25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0",
                39: "MXFP4"}
MAX_ARRAY = 1024  # longer arrays are recorded as SkippedArray (their length), not decoded
CHUNK = 1 << 20


@dataclass(frozen=True)
class SkippedArray:
    """An array value longer than the reader decodes (a vocabulary, merges): its item type and length."""

    item_type: int
    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]  # ggml order, innermost first: token_embd.weight is (hidden, vocab)
    type_name: str

    @property
    def n_elements(self) -> int:
        count = 1
        for size in self.dims:
            count *= size
        return count


@dataclass
class GGUFHeader:
    version: int
    fields: dict[str, Any] = field(default_factory=dict)  # key -> value (SkippedArray for long arrays)
    tensors: list[TensorInfo] = field(default_factory=list)

    def tensor_types(self) -> dict[str, int]:
        """Elements per tensor type, most first (the first is the file's main quantization)."""
        types: dict[str, int] = {}
        for tensor in self.tensors:
            types[tensor.type_name] = types.get(tensor.type_name, 0) + tensor.n_elements
        return dict(sorted(types.items(), key=lambda item: -item[1]))

    def overview(self) -> dict[str, Any]:
        """What a listing shows: llama.cpp's architecture name, the model's name, its main
        quantization, its parameter count (stored elements) and whether a tokenizer is inside."""
        types = self.tensor_types()
        arch = self.fields.get("general.architecture")
        return {"architecture": arch, "name": self.fields.get("general.name"),
                "quantization": next(iter(types), None), "parameters": sum(types.values()),
                "layers": self.fields.get(f"{arch}.block_count"),
                "context_length": self.fields.get(f"{arch}.context_length"),
                "has_tokenizer": "tokenizer.ggml.model" in self.fields}


class _Stream:
    """Sequential little-endian reads over a file, buffered in chunks (skips seek forward)."""

    def __init__(self, handle) -> None:
        self.handle, self.buffer, self.pos = handle, b"", 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.buffer):
            rest = self.buffer[self.pos:]
            more = self.handle.read(max(CHUNK, count - len(rest)))
            self.buffer, self.pos = rest + more, 0
            if count > len(self.buffer):
                raise ValueError("the file ends inside its header (truncated?)")
        data = self.buffer[self.pos:self.pos + count]
        self.pos += count
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.unpack("<Q")).decode("utf-8", errors="replace")

    def skip_strings(self, count: int) -> None:
        for _ in range(count):
            length = self.unpack("<Q")
            if self.pos + length <= len(self.buffer):
                self.pos += length
            else:
                self.take(length)


def _value(stream: _Stream, kind: int) -> Any:
    if kind in SCALARS:
        return stream.unpack(SCALARS[kind])
    if kind == STRING:
        return stream.string()
    if kind != ARRAY:
        raise ValueError(f"unknown GGUF value type {kind}")
    item, length = stream.unpack("<I"), stream.unpack("<Q")
    if length <= MAX_ARRAY:
        return [_value(stream, item) for _ in range(length)]
    if item == STRING:
        stream.skip_strings(length)
    elif item in SCALARS:
        stream.take(length * struct.calcsize(SCALARS[item]))
    else:
        raise ValueError(f"GGUF array of {length} items of type {item} is not skippable")
    return SkippedArray(item, length)


def read_gguf_header(path: str | os.PathLike) -> GGUFHeader:
    """The metadata and tensor infos of a GGUF file (v2 or v3); ``ValueError`` naming the
    problem for anything else."""
    with open(path, "rb") as handle:
        stream = _Stream(handle)
        try:
            if stream.take(4) != MAGIC:
                raise ValueError("it does not start with b'GGUF'")
            version = stream.unpack("<I")
            if version not in (2, 3):
                raise ValueError(f"GGUF version {version} (this reader reads 2 and 3)")
            header = GGUFHeader(version)
            tensor_count, kv_count = stream.unpack("<Q"), stream.unpack("<Q")
            for _ in range(kv_count):
                key = stream.string()
                header.fields[key] = _value(stream, stream.unpack("<I"))
            for _ in range(tensor_count):
                name = stream.string()
                dims = tuple(stream.unpack("<Q") for _ in range(stream.unpack("<I")))
                kind = stream.unpack("<I")
                stream.unpack("<Q")  # offset of the data
                header.tensors.append(TensorInfo(name, dims, TENSOR_TYPES.get(kind, f"type {kind}")))
        except (ValueError, struct.error, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not a readable GGUF file: {error}.") from None
    return header
