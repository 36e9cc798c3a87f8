"""What the generation inspector shows, computed without any UI: one ``generate()`` call recorded
step by step, and the logit lens of a step.

    prompt ─► model.generate(return_dict_in_generate, output_logits, output_scores,
                             logits_observer=EffectRecorder)
          ─► per step: raw logits, each processor's before/after, processed scores, chosen token
          ─► GenerationStep(candidates, effects, chosen token)

Probabilities "before" are softmax(raw logits); "after" are softmax(processed scores), the
distribution greedy search takes the argmax of and sampling draws from. A processor's effect is
measured on the scores it received and returned (``LogitsProcessorList.observer``), so it holds
for any processor, the caller's own included.

Logit lens (nostalgebraist, 2020: https://www.lesswrong.com/posts/AcKRB8wDpdaN6v6ru): the
hidden state of the last position after each layer, put through the model's final norm and LM
head, read as a next-token distribution. The last row is the model's own output (its hidden state
is already normed), so it equals the step's real logits.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import torch

from .token_view import readable, show_whitespace, special_ids, vocabulary_style

# Where a decoder keeps its final norm, on its base model: Llama-family (model.norm), GPT-2 and
# BLOOM/Falcon (transformer.ln_f), MPT (transformer.norm_f)
FINAL_NORMS = ("norm", "ln_f", "norm_f")
# generate() settings the inspector sets itself: it needs the per-step record
RECORDING = {"return_dict_in_generate": True, "output_scores": True, "output_logits": True}


def format_probability(value: float) -> str:
    """``0.4132``, or ``2.3e-05`` below 1e-4 (where four decimals would read 0.0000)."""
    return f"{value:.4f}" if value >= 1e-4 or value == 0 else f"{value:.1e}"


@dataclass
class Candidate:
    """A token the step could have chosen."""

    id: int
    text: str  # readable, whitespace made visible
    probability: float  # after the processors: softmax(processed scores)
    raw_probability: float  # softmax(raw logits)
    logit: float
    score: float  # processed (-inf: removed by a processor)


@dataclass
class TokenChange:
    """One token's probability before and after one processor."""

    id: int
    text: str
    before: float
    after: float
    score_before: float
    score_after: float


@dataclass
class ProcessorEffect:
    """What one logits processor did at one step (row 0 of the batch)."""

    processor: str  # the class name
    settings: str  # its scalar settings: "penalty=1.3"
    removed: int  # candidates it set to -inf
    changed: int  # finite scores it changed (the removed ones not counted)
    candidates: int  # finite scores it received
    changes: list[TokenChange] = field(default_factory=list)  # largest probability moves first

    @property
    def summary(self) -> str:
        if not self.removed and not self.changed:
            return "no change"
        parts = []
        if self.removed:
            parts.append(f"removed {self.removed} of {self.candidates} candidates")
        if self.changed:
            remaining = self.candidates - self.removed
            parts.append(f"reshaped all {self.changed} scores" if self.changed == remaining > 1
                         else f"changed {self.changed} score{'s' * (self.changed != 1)}")
        if self.changes:
            top = self.changes[0]
            parts.append(f"{top.text!r} p {format_probability(top.before)} → {format_probability(top.after)}")
        return "; ".join(parts)


@dataclass
class GenerationStep:
    index: int  # 0-based
    token_id: int
    text: str
    probability: float  # of the chosen token, after the processors
    raw_probability: float
    rank: int  # 1 = the most likely token after the processors
    candidates: list[Candidate]
    effects: list[ProcessorEffect]


@dataclass
class LensRow:
    name: str  # "embeddings", "after layer 3"
    top: list[Candidate]  # probability = this layer's; raw_probability = the model's final
    chosen_probability: float  # the step's chosen token at this layer
    chosen_rank: int


class TokenNamer:
    """Token id -> readable text (special tokens as written, whitespace made visible)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.style = vocabulary_style(tokenizer)
        self.specials = special_ids(tokenizer)
        self._cache: dict[int, str] = {}

    def __call__(self, token_id: int) -> str:
        token_id = int(token_id)
        if token_id not in self._cache:
            token = self.tokenizer.convert_ids_to_tokens(token_id)
            if token is None:
                text = f"<{token_id}>"
            elif token_id in self.specials:
                text = token
            else:
                text = show_whitespace(readable(token, self.style))
            self._cache[token_id] = text
        return self._cache[token_id]


# --- the prompt ----------------------------------------------------------------------------------


def encode_prompt(tokenizer, prompt, **chat_kwargs) -> dict[str, torch.Tensor]:
    """``input_ids`` (1, T) and ``attention_mask``: a string through the tokenizer, a list of chat
    messages through the chat template (with the assistant's turn opened), or ids as they are."""
    if isinstance(prompt, str):
        encoded = tokenizer(prompt, return_tensors="pt")
    elif isinstance(prompt, (list, tuple)) and prompt and all(isinstance(m, dict) for m in prompt):
        chat_kwargs.setdefault("add_generation_prompt", True)
        encoded = tokenizer.apply_chat_template(list(prompt), return_tensors="pt", return_dict=True, **chat_kwargs)
    elif isinstance(prompt, torch.Tensor) or (isinstance(prompt, (list, tuple)) and prompt
                                              and all(isinstance(i, int) for i in prompt)):
        ids = torch.as_tensor(prompt, dtype=torch.long).reshape(1, -1)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    else:
        raise TypeError(f"GenerationInspector takes a prompt string, a list of chat messages (dicts with role and "
                        f"content) or token ids, not {type(prompt).__name__}.")
    ids = torch.as_tensor(encoded["input_ids"])
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"GenerationInspector follows one prompt, but got a batch of shape {tuple(ids.shape)}: "
                         "inspect one prompt at a time.")
    mask = encoded.get("attention_mask")
    return {"input_ids": ids, "attention_mask": torch.as_tensor(mask) if mask is not None else torch.ones_like(ids)}


# --- processors' effects ---------------------------------------------------------------------------


def settings_of(processor) -> str:
    """The processor's scalar settings that differ from its defaults, as ``name=value``."""
    try:
        defaults = {name: parameter.default for name, parameter in inspect.signature(type(processor)).parameters.items()}
    except (TypeError, ValueError):  # a callable without a readable signature
        defaults = {}
    values = [f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
              for name, value in vars(processor).items()
              if not name.startswith("_") and isinstance(value, (int, float, str)) and not isinstance(value, bool)
              and defaults.get(name, inspect.Parameter.empty) != value]
    return ", ".join(values)


def measure_effect(processor, before: torch.Tensor, after: torch.Tensor, namer: TokenNamer,
                   shown: int = 5) -> ProcessorEffect:
    """What ``processor`` did to one row's scores (V,): removed (to -inf), changed, the biggest moves."""
    before, after = before.float(), after.float()
    finite = torch.isfinite(before)
    removed = finite & torch.isneginf(after)
    changed = finite & torch.isfinite(after) & (after != before)
    p_before, p_after = before.softmax(-1), after.softmax(-1)
    moved = (p_after - p_before).abs().masked_fill(~(removed | changed), -1.0)
    count = int((removed | changed).sum())
    changes = []
    if count:
        for index in torch.topk(moved, min(shown, count)).indices.tolist():
            changes.append(TokenChange(index, namer(index), float(p_before[index]), float(p_after[index]),
                                       float(before[index]), float(after[index])))
    return ProcessorEffect(type(processor).__name__, settings_of(processor), int(removed.sum()), int(changed.sum()),
                           int(finite.sum()), changes)


class EffectRecorder:
    """The ``logits_observer`` of one ``generate()`` call: each processor's effect, per step."""

    def __init__(self, prompt_length: int, namer: TokenNamer, shown: int = 5) -> None:
        self.prompt_length, self.namer, self.shown = prompt_length, namer, shown
        self.effects: dict[int, list[ProcessorEffect]] = {}

    def __call__(self, processor, input_ids, before, after) -> None:
        step = input_ids.shape[1] - self.prompt_length
        self.effects.setdefault(step, []).append(measure_effect(processor, before[0], after[0], self.namer, self.shown))


# --- the steps -----------------------------------------------------------------------------------


def candidates_of(logits: torch.Tensor, scores: torch.Tensor, chosen: int, namer: TokenNamer,
                  top: int) -> list[Candidate]:
    """The ``top`` most likely tokens after the processors and before them, and the chosen one,
    most likely (after) first."""
    p_raw, p = logits.softmax(-1), scores.softmax(-1)
    ids = set(torch.topk(p, top).indices.tolist()) | set(torch.topk(p_raw, top).indices.tolist()) | {chosen}
    rows = [Candidate(i, namer(i), float(p[i]), float(p_raw[i]), float(logits[i]), float(scores[i])) for i in ids]
    return sorted(rows, key=lambda c: (-c.probability, -c.raw_probability, c.id))


def build_steps(sequences: torch.Tensor, logits: tuple, scores: tuple, effects: dict, prompt_length: int,
                namer: TokenNamer, top: int) -> list[GenerationStep]:
    steps = []
    for index, (raw, processed) in enumerate(zip(logits, scores)):
        raw, processed = raw[0].float(), processed[0].float()
        chosen = int(sequences[0, prompt_length + index])
        p = processed.softmax(-1)
        rank = int((p > p[chosen]).sum()) + 1
        steps.append(GenerationStep(index, chosen, namer(chosen), float(p[chosen]), float(raw.softmax(-1)[chosen]),
                                    rank, candidates_of(raw, processed, chosen, namer, top), effects.get(index, [])))
    return steps


def check_supported(model, settings: dict[str, Any]) -> None:
    if getattr(model.config, "is_encoder_decoder", False):
        raise ValueError(f"GenerationInspector follows decoder-only models; {type(model).__name__} is an "
                         "encoder-decoder. Use a causal LM (Llama-family, GPT-2, ...).")
    for name in ("num_beams", "num_return_sequences"):
        if (settings.get(name) or 1) > 1:
            raise ValueError(f"GenerationInspector follows one sequence (greedy search or sampling): drop {name}="
                             f"{settings[name]}.")
    if settings.get("assistant_model") is not None:
        raise ValueError("GenerationInspector does not follow assisted generation: drop assistant_model.")


@dataclass
class GenerationTrace:
    """One recorded ``generate()`` call (one prompt)."""

    input_ids: torch.Tensor  # the prompt (1, T)
    sequences: torch.Tensor  # prompt + generated (1, T + n)
    logits: tuple  # per step, raw (1, V)
    scores: tuple  # per step, processed (1, V)
    steps: list[GenerationStep]
    settings: dict[str, Any]  # the keyword arguments given to generate() (the recording flags left out)

    @property
    def generated_ids(self) -> list[int]:
        return self.sequences[0, self.input_ids.shape[1]:].tolist()


def record_generation(model, tokenizer, prompt, *, namer: TokenNamer | None = None, seed: int | None = None,
                      top: int = 10, shown: int = 5, chat_kwargs: dict | None = None, **settings) -> GenerationTrace:
    """Run ``model.generate`` on ``prompt`` with ``settings`` and record every step; ``seed`` calls
    ``torch.manual_seed(seed)`` first, so sampling draws what ``generate`` after the same seed draws."""
    check_supported(model, settings)
    namer = namer or TokenNamer(tokenizer)
    encoded = encode_prompt(tokenizer, prompt, **(chat_kwargs or {}))
    prompt_length = encoded["input_ids"].shape[1]
    recorder = EffectRecorder(prompt_length, namer, shown)
    arguments = {name: value for name, value in settings.items() if name not in RECORDING}
    if seed is not None:
        torch.manual_seed(seed)
    out = model.generate(**encoded, **arguments, **RECORDING, logits_observer=recorder)
    sequences = out.sequences.cpu()
    logits = tuple(step.float().cpu() for step in out.logits)
    scores = tuple(step.float().cpu() for step in out.scores)
    steps = build_steps(sequences, logits, scores, recorder.effects, prompt_length, namer, top)
    return GenerationTrace(encoded["input_ids"], sequences, logits, scores, steps, arguments)


# --- logit lens ------------------------------------------------------------------------------------


def lens_parts(model):
    """``(final_norm, lm_head)`` of a decoder, or a ValueError naming what is supported."""
    base = getattr(model, getattr(model, "base_model_prefix", "") or "", None)
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    norm = next((getattr(base, name) for name in FINAL_NORMS if isinstance(getattr(base, name, None), torch.nn.Module)),
                None)
    if base is None or head is None or norm is None:
        raise ValueError(f"The logit lens needs a decoder with a final norm and an LM head (Llama-family: model.norm, "
                         f"GPT-2: transformer.ln_f); {type(model).__name__} has neither layout.")
    return norm, head


@torch.no_grad()
def lens_logits(model, input_ids: torch.Tensor) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Layer names, the lens logits of the last position (L + 1, V) and the model's own logits (V,)."""
    norm, head = lens_parts(model)
    out = model(input_ids=input_ids.to(model.device), output_hidden_states=True, use_cache=False, return_dict=True)
    hidden = [h[0, -1] for h in out.hidden_states]  # inputs of layers 0..N-1, then the final norm's output
    rows = [head(norm(h)) for h in hidden[:-1]] + [head(hidden[-1])]
    layers = len(hidden) - 1
    names = ["embeddings"] + [f"after layer {i}" for i in range(1, layers)] + [f"after layer {layers} + final norm"]
    return names, torch.stack(rows).float().cpu(), out.logits[0, -1].float().cpu()


def lens_rows(names: list[str], logits: torch.Tensor, final: torch.Tensor, chosen: int, namer: TokenNamer,
              top: int) -> list[LensRow]:
    final_p = final.softmax(-1)
    rows = []
    for name, row in zip(names, logits):
        p = row.softmax(-1)
        best = torch.topk(p, top).indices.tolist()
        tokens = [Candidate(i, namer(i), float(p[i]), float(final_p[i]), float(row[i]), float(row[i])) for i in best]
        rows.append(LensRow(name, tokens, float(p[chosen]), int((p > p[chosen]).sum()) + 1))
    return rows
