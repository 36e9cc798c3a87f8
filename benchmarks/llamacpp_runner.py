"""llama.cpp through its own C API (the ctypes layer of ``llama-cpp-python``), for
benchmarks/bench_quant_decode.py: greedy decoding of B independent sequences in one
``llama_decode`` per step (a batch with one token per sequence id), and logits for perplexity.

The high-level ``llama_cpp.Llama`` class holds one sequence; parallel sequences need the low-level
batch API used here (``llama_batch_init`` with a sequence id per token, a context with
``n_seq_max`` sequences, each with its own part of the key/value cache: ``kv_unified=False``).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import torch


def tensor_bytes(path: str) -> int:
    """Bytes of every tensor in a GGUF file as stored (packed blocks included): llama.cpp's weights."""
    from gguf import GGUFReader

    return sum(int(t.n_bytes) for t in GGUFReader(path).tensors)


class LlamaCpp:
    """One GGUF model, a context per batch size; ``generate`` and ``logits`` as the benchmark needs."""

    def __init__(self, path: str, threads: int, max_batch: int = 8, context: int = 1024,
                 repack: bool = True) -> None:
        import llama_cpp as lib

        self.lib, self.threads, self.context = lib, threads, context
        lib.llama_backend_init()
        self._silent = lib.llama_log_callback(lambda level, text, data: None)  # kept: C holds the pointer
        if not os.environ.get("LLAMA_CPP_LOG"):
            lib.llama_log_set(self._silent, ctypes.c_void_p())  # llama.cpp logs every load to stderr
        params = lib.llama_model_default_params()
        params.use_extra_bufts = repack  # weights repacked for the CPU's kernels (AMX, AVX2/AVX-512 repack)
        self.model = lib.llama_model_load_from_file(path.encode(), params)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        self.vocab = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))
        self.contexts = {b: self._context(b) for b in sorted({1, max_batch})}
        self.batch = lib.llama_batch_init(max(context, max_batch), 0, 1)

    def _context(self, sequences: int):
        lib = self.lib
        params = lib.llama_context_default_params()
        params.n_ctx = self.context * sequences  # split evenly between the sequences (kv_unified off)
        params.n_batch = params.n_ubatch = max(self.context, sequences)
        params.n_seq_max = sequences
        params.kv_unified = False
        params.n_threads = params.n_threads_batch = self.threads
        ctx = lib.llama_init_from_model(self.model, params)
        if not ctx:
            raise RuntimeError(f"llama.cpp could not make a context for {sequences} sequences")
        return ctx

    def set_threads(self, threads: int) -> None:
        self.threads = threads
        for ctx in self.contexts.values():
            self.lib.llama_set_n_threads(ctx, threads, threads)

    def _decode(self, ctx, entries: list[tuple[int, int, int, bool]]) -> None:
        """One ``llama_decode`` of (token, position, sequence, wants logits) entries."""
        batch = self.batch
        batch.n_tokens = len(entries)
        for i, (token, position, sequence, wants) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = sequence, wants
        status = self.lib.llama_decode(ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status} for a batch of {len(entries)} tokens")

    def _row(self, ctx, index: int) -> np.ndarray:
        return np.ctypeslib.as_array(self.lib.llama_get_logits_ith(ctx, index), shape=(self.vocab,))

    def generate(self, prompts: list[list[int]], new_tokens: int) -> torch.Tensor:
        """Greedy continuations (B, new_tokens) of B prompts (lists of ids), decoded side by side."""
        ctx = self.contexts[min(b for b in self.contexts if b >= len(prompts))]
        self.lib.llama_memory_clear(self.lib.llama_get_memory(ctx), True)
        entries = [(t, p, s, p == len(ids) - 1) for s, ids in enumerate(prompts) for p, t in enumerate(ids)]
        self._decode(ctx, entries)  # the prompts, each in its own sequence; logits of each last token
        rows = [i for i, e in enumerate(entries) if e[3]]
        positions = [len(ids) for ids in prompts]
        out = []
        for step in range(new_tokens):
            tokens = [int(self._row(ctx, r).argmax()) for r in rows]
            out.append(tokens)
            if step == new_tokens - 1:
                break
            self._decode(ctx, [(t, positions[s] + step, s, True) for s, t in enumerate(tokens)])
            rows = list(range(len(prompts)))
        return torch.tensor(out, dtype=torch.long).T

    def logits(self, ids: torch.Tensor) -> torch.Tensor:
        """(L, vocab) float32 logits of one sequence of L <= context ids, from an empty cache."""
        ctx = self.contexts[1]
        self.lib.llama_memory_clear(self.lib.llama_get_memory(ctx), True)
        self._decode(ctx, [(int(t), p, 0, True) for p, t in enumerate(ids)])
        values = np.ctypeslib.as_array(self.lib.llama_get_logits(ctx), shape=(len(ids), self.vocab))
        return torch.from_numpy(values.copy())

    def close(self) -> None:
        self.lib.llama_batch_free(self.batch)
        for ctx in self.contexts.values():
            self.lib.llama_free(ctx)
        self.lib.llama_model_free(self.model)

