"""Beam search (and beam sampling): keep the ``num_beams`` best partial sequences per prompt.

Each step, for every prompt::

    num_beams running beams ─► forward ─► log-probabilities ─► processors ─► + beam score
        ─► the best ``width`` continuations over all beams and tokens (or a sample of them)
        ─► continuations that hit a stopping criterion compete for the ``num_beams`` finished
           slots (score / generated_length ** length_penalty); the best others run on

``width`` is ``max(2, 1 + number of eos tokens) * num_beams``: even if the best continuations all
end, ``num_beams`` running ones remain. Everything is batched tensors of fixed shape (B, beams,
max_length), with the same arithmetic as the reference implementation so that the chosen beams
(ties included) are the same.

``early_stopping``: True stops a prompt once ``num_beams`` sequences finished; False stops when
the best running beam, scored at its current length, cannot beat the worst finished one;
"never" assumes a running beam could still grow to ``max_length`` (with a positive length penalty).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .caching import DecodeStep
from .inputs import InputNames, SpecialTokens, prepare_step_inputs, update_model_kwargs
from .outputs import StepRecord

BLOCKED = -1.0e9  # the score of a slot that must not be chosen (finite, so sums stay ordered)


@dataclass
class Beams:
    sequences: torch.Tensor  # (B, N, max_length) token ids, unfilled positions hold the fill value
    scores: torch.Tensor  # (B, N) summed log-probabilities (running) or length-penalised (finished)
    indices: torch.Tensor  # (B, N, max_length - prompt) flat beam row each generated token came from; -1: none

    def take(self, rows: torch.Tensor) -> "Beams":
        """The beams ``rows`` (B, K) picks, per prompt."""
        return Beams(_gather(self.sequences, rows), _gather(self.scores, rows), _gather(self.indices, rows))


def _gather(tensor: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    rows = rows.reshape(rows.shape + (1,) * (tensor.dim() - rows.dim()))
    return torch.take_along_dim(tensor, rows, dim=1)


def fill_value(tokens: SpecialTokens) -> int:
    """What pads finished beams: the pad token, else the first eos; -1 without eos. A pad id of 0
    counts as unset, as in the reference (it tests the id for truth), so outputs stay identical."""
    if tokens.eos is None:
        return -1
    return int(tokens.pad) if tokens.pad is not None and int(tokens.pad) != 0 else int(tokens.eos[0])


def beam_search(model, input_ids, processors, criteria, config, tokens, model_kwargs, streamer=None):
    """``input_ids`` holds each prompt ``num_beams`` times, next to each other (B * N, T).
    ``streamer`` is accepted for a uniform signature; generate() refuses it with beams."""
    names, record = InputNames.for_model(model), StepRecord(config)
    beams, prompt_len = config.num_beams, input_ids.shape[1]
    batch, length = input_ids.shape[0] // beams, prompt_len
    width = max(2, 1 + (tokens.eos.shape[0] if tokens.eos is not None else 0)) * beams
    is_top = torch.arange(width, device=input_ids.device) < beams  # candidates that may finish this step
    running, finished, done, can_improve = _start(input_ids, batch, beams, config.max_length, fill_value(tokens))
    flat = input_ids
    step = DecodeStep(model, config, model_kwargs.get("past_key_values"))
    while True:
        inputs = prepare_step_inputs(flat, model_kwargs, names)
        outputs = step(inputs, seen=flat.shape[1] - inputs[names.ids].shape[1])
        model_kwargs = update_model_kwargs(outputs, model_kwargs, names)
        logits = outputs.logits[:, -1].to(dtype=torch.float32, device=input_ids.device, copy=True)  # (B * N, V)
        log_probs = processors(flat, logits.log_softmax(-1))
        record.add(outputs, logits, log_probs)
        del outputs
        totals = (log_probs.view(batch, beams, -1) + running.scores[..., None]).view(batch, -1)  # (B, N * V)
        candidates = _candidates(running, totals, length, prompt_len, width, config.do_sample)
        hits = criteria(candidates.sequences[:, :, :length + 1].flatten(0, 1), record.scores).view(batch, width)
        running = _next_running(candidates, hits, beams)
        finished, done = _update_finished(finished, done, candidates, hits & is_top, can_improve,
                                          length + 1 - prompt_len, config)
        cache = model_kwargs.get("past_key_values")
        if cache is not None:  # each running beam continues from the cache row of the beam it extends
            cache.reorder_cache(running.indices[..., length - prompt_len].flatten().long())
        length += 1
        can_improve = _can_still_improve(can_improve, running, finished, done, length, prompt_len, config)
        early_done = bool(done.all()) and config.early_stopping is True
        if not bool(can_improve.any()) or early_done or bool(hits.all()):
            break
        flat = running.sequences[:, :, :length].flatten(0, 1)
    return _finish(finished, prompt_len, config, record, model_kwargs)


def _start(input_ids, batch, beams, max_length, fill):
    prompt_len, device = input_ids.shape[1], input_ids.device
    sequences = torch.full((batch, beams, max_length), fill, dtype=torch.long, device=device)
    sequences[:, :, :prompt_len] = input_ids.view(batch, beams, prompt_len)
    indices = torch.full((batch, beams, max_length - prompt_len), -1, dtype=torch.int32, device=device)
    # all beams start equal: only the first may extend, or every beam would pick the same tokens
    scores = torch.zeros(batch, beams, dtype=torch.float32, device=device)
    scores[:, 1:] = BLOCKED
    running = Beams(sequences, scores, indices)
    finished = Beams(sequences.clone(), torch.full_like(scores, BLOCKED), indices.clone())
    done = torch.zeros(batch, beams, dtype=torch.bool, device=device)
    can_improve = torch.ones(batch, 1, dtype=torch.bool, device=device)
    return running, finished, done, can_improve


def _candidates(running: Beams, totals: torch.Tensor, length: int, prompt_len: int, width: int, do_sample: bool) -> Beams:
    """The best (or sampled) ``width`` one-token continuations of each prompt's beams."""
    if do_sample:
        picked = torch.multinomial(totals.softmax(-1), num_samples=width)
        scores = totals.gather(1, picked)
    else:
        scores, picked = torch.topk(totals, width)
    beams = running.scores.shape[1]
    vocab = totals.shape[-1] // beams
    source = picked // vocab  # (B, width): the running beam each candidate extends
    candidates = running.take(source)
    candidates.sequences[:, :, length] = picked % vocab
    offsets = torch.arange(source.shape[0], device=source.device)[:, None] * beams
    candidates.indices[:, :, length - prompt_len] = (source + offsets).to(candidates.indices.dtype)
    candidates.scores = scores
    return candidates


def _next_running(candidates: Beams, hits: torch.Tensor, beams: int) -> Beams:
    """The best candidates that did not stop run on."""
    alive = candidates.scores + hits.to(torch.float32) * BLOCKED
    keep = torch.topk(alive, beams).indices
    running = candidates.take(keep)
    running.scores = _gather(alive, keep)
    return running


def _update_finished(finished: Beams, done, candidates: Beams, just_finished, can_improve, generated: int, config):
    """Merge the candidates that just finished into the finished slots; keep the best ``num_beams``."""
    scores = candidates.scores / (generated ** config.length_penalty)
    # the order of these additions matters for float32 ties; it follows the reference
    scores += (done.all(-1, keepdim=True) & (config.early_stopping is True)).to(torch.float32) * BLOCKED
    scores += (~can_improve).to(torch.float32) * BLOCKED
    scores += (~just_finished) * BLOCKED
    merged = Beams(torch.cat([finished.sequences, candidates.sequences], 1), torch.cat([finished.scores, scores], 1),
                   torch.cat([finished.indices, candidates.indices], 1))
    keep = torch.topk(merged.scores, done.shape[1]).indices
    return merged.take(keep), _gather(torch.cat([done, just_finished], 1), keep)


def _can_still_improve(can_improve, running: Beams, finished: Beams, done, length: int, prompt_len: int, config):
    """False for a prompt once no running beam can beat its worst finished sequence (see module doc)."""
    penalty = config.length_penalty
    if config.early_stopping == "never" and penalty > 0.0:
        best_length = config.max_length - prompt_len
    else:
        best_length = length - prompt_len
    best_running = running.scores[:, :1] / (best_length ** penalty)
    worst_finished = torch.where(done, finished.scores.min(1, keepdim=True).values, BLOCKED)
    return can_improve & (best_running > worst_finished).any(-1, keepdim=True)


def _finish(finished: Beams, prompt_len: int, config, record: StepRecord, model_kwargs):
    count = config.num_return_sequences
    sequences = finished.sequences[:, :count].flatten(0, 1)
    scores = finished.scores[:, :count].flatten()
    indices = finished.indices[:, :count].flatten(0, 1)
    generated = int((indices != -1).sum(1).max())  # the longest returned sequence
    sequences, indices = sequences[:, :prompt_len + generated], indices[:, :generated]
    if not config.return_dict_in_generate:
        return sequences
    return record.output(model_kwargs, beam=True, sequences=sequences, beam_indices=indices,
                         sequences_scores=scores if config.output_scores else None)
