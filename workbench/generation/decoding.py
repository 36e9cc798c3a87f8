"""Greedy search and sampling: one token per row per step, on one short loop.

    prompt ─► forward (whole prompt, fills the cache) ─► logits of the last position
           ─► logits processors ─► choose a token per row (argmax, or a sample)
           ─► finished rows get the pad token ─► append ─► stopping criteria ─► forward (one token) ...

The two strategies differ only in how a token is chosen from the processed scores.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .caching import DecodeStep
from .inputs import InputNames, SpecialTokens, prepare_step_inputs, update_model_kwargs
from .logits_process import LogitsProcessorList
from .outputs import StepRecord
from .stopping_criteria import StoppingCriteriaList


def greedy_search(model, input_ids, processors, criteria, config, tokens, model_kwargs, streamer=None):
    """The most likely token at each step."""
    return decode(model, input_ids, processors, criteria, config, tokens, model_kwargs, streamer,
                  choose=lambda scores: scores.argmax(-1))


def sample(model, input_ids, processors, criteria, config, tokens, model_kwargs, streamer=None):
    """A token drawn from softmax(processed scores) at each step (``torch.manual_seed`` makes it repeatable)."""
    return decode(model, input_ids, processors, criteria, config, tokens, model_kwargs, streamer,
                  choose=lambda scores: torch.multinomial(scores.softmax(-1), num_samples=1).squeeze(1))


def decode(
    model,
    input_ids: torch.LongTensor,
    processors: LogitsProcessorList,
    criteria: StoppingCriteriaList,
    config,
    tokens: SpecialTokens,
    model_kwargs: dict[str, Any],
    streamer,
    choose: Callable[[torch.Tensor], torch.LongTensor],
):
    """The loop shared by greedy search and sampling; returns the ids (B, T + new) or, with
    ``return_dict_in_generate``, a :class:`GenerateDecoderOnlyOutput` (or, for an encoder-decoder,
    a :class:`GenerateEncoderDecoderOutput`)."""
    names = InputNames.for_model(model)
    record = StepRecord(config)
    # with an eos criterion, rows that finished early keep going (the batch shares one forward)
    # and are filled with the pad token
    fills_finished = any(hasattr(criterion, "eos_token_id") for criterion in criteria)
    if fills_finished and tokens.pad is None:
        raise ValueError("A stopping criterion with eos_token_id needs a pad token to fill finished rows: set pad_token_id.")
    unfinished = torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    step = DecodeStep(model, config, model_kwargs.get("past_key_values"))
    while True:
        inputs = prepare_step_inputs(input_ids, model_kwargs, names)
        outputs = step(inputs, seen=input_ids.shape[1] - inputs[names.ids].shape[1])
        model_kwargs = update_model_kwargs(outputs, model_kwargs, names)
        logits = outputs.logits[:, -1].to(dtype=torch.float32, device=input_ids.device, copy=True)  # (B, V)
        scores = processors(input_ids, logits)
        record.add(outputs, logits, scores)
        next_tokens = choose(scores)
        if fills_finished:
            next_tokens = torch.where(unfinished, next_tokens, tokens.pad.to(next_tokens.device))
        input_ids = torch.cat([input_ids, next_tokens[:, None]], dim=-1)
        if streamer is not None:
            streamer.put(next_tokens.cpu())
        unfinished &= ~criteria(input_ids, record.scores)
        del outputs  # the prompt's logits can be large: do not hold them through the next step
        if not bool(unfinished.any()):
            break
    if streamer is not None:
        streamer.end()
    if not config.return_dict_in_generate:
        return input_ids
    return record.output(model_kwargs, sequences=input_ids)
