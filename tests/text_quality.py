"""Quality measures shared by tests/test_quant_quality.py and benchmarks/bench_quant_decode.py:
perplexity over a fixed held-out English text, and greedy agreement between two token streams.

The text is the GNU GPL version 3 from Debian's ``base-files`` (``/usr/share/common-licenses/GPL-3``,
on every Debian machine), from its "TERMS AND CONDITIONS" on, whitespace collapsed within a
paragraph. A language model has likely seen this license in training, so its perplexity is low
(about 3-4 for SmolLM2); what the measures compare is the *ratio* of a quantized model's perplexity
to its float32 original's on the same tokens, which is what quantization changes.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

import torch

GPL3 = Path("/usr/share/common-licenses/GPL-3")


def heldout_text() -> str:
    """The GPL-3 terms as plain paragraphs (one space within a paragraph, a blank line between)."""
    if not GPL3.is_file():
        raise FileNotFoundError(f"{GPL3} is missing: it ships with Debian's base-files package (apt-get install "
                                "--reinstall base-files), the held-out text of the perplexity measures.")
    text = GPL3.read_text(encoding="utf-8")
    text = text[text.index("TERMS AND CONDITIONS"):]
    paragraphs = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", text)]
    return "\n\n".join(p for p in paragraphs if p)


def heldout_ids(tokenizer, max_tokens: int) -> torch.Tensor:
    """The first ``max_tokens`` token ids of the held-out text, (max_tokens,) int64, no special tokens."""
    ids = tokenizer(heldout_text(), add_special_tokens=False)["input_ids"]
    return torch.tensor(ids[:max_tokens], dtype=torch.long)


def windows(length: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """Strided windows over ``length`` tokens: (start, end, first scored position). Every window
    after the first scores only its last ``stride`` targets, each with ``window - stride`` or more
    tokens of context; together they score every token but the first exactly once."""
    spans, start, scored = [], 0, 1
    while scored < length:
        end = min(start + window, length)
        spans.append((start, end, scored))
        scored, start = end, end - (window - stride)
    return spans


def perplexity(logits_of: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor, window: int = 512,
               stride: int = 256) -> float:
    """exp(mean negative log-likelihood) of ``ids`` (T,), by strided windows. ``logits_of(chunk)``
    takes (L,) ids and returns (L, vocab) logits (any float dtype), one row per input position."""
    total, count = 0.0, 0
    for start, end, scored in windows(len(ids), window, stride):
        logits = logits_of(ids[start:end]).float()  # (L, V); row i predicts token start + i + 1
        predicted = logits[scored - 1 - start:end - 1 - start]
        targets = ids[scored:end]
        total += torch.nn.functional.cross_entropy(predicted, targets, reduction="sum").item()
        count += len(targets)
    return math.exp(total / count)


def torch_logits(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """``logits_of`` for a causal LM that takes ``input_ids`` (workbench or the reference)."""
    def logits_of(chunk: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(input_ids=chunk[None]).logits[0]
    return logits_of


def agreement(tokens: torch.Tensor, baseline: torch.Tensor) -> tuple[float, float]:
    """Greedy agreement of generated ``tokens`` with ``baseline``'s, both (B, N): (mean fraction of
    the N positions where they agree, mean fraction before the first disagreement). The second is
    the stricter measure: after one different token the two continuations drift apart."""
    same = tokens == baseline
    first_diff = torch.where(same.all(1), same.shape[1], (~same).float().argmax(1))
    return same.float().mean().item(), (first_diff.float() / same.shape[1]).mean().item()
