"""Assisted generation (https://huggingface.co/blog/assisted-generation): a small model drafts
tokens, the large one checks them all in one forward pass.

    ids ─► assistant drafts k tokens greedily (its own cache) ─► model scores ids + drafts at once
        ─► keep the drafts up to the first one the model would not have chosen, plus the model's
           own token after them ─► drop the rejected drafts from both caches ─► repeat

The result is the model's own greedy output; the assistant only changes how many forward passes
of the large model it takes. Both models must share the tokenizer (the same token ids).
"""

from __future__ import annotations

import torch

from ..nn.cache import DynamicCache
from .inputs import InputNames, forward_accepts, prepare_step_inputs, update_model_kwargs
from .outputs import GenerateDecoderOnlyOutput, StepRecord


def assisted_decoding(model, input_ids, processors, criteria, config, tokens, model_kwargs, assistant, streamer=None):
    """Greedy search on ``model``, ``num_assistant_tokens`` drafted tokens at a time; batch size 1."""
    if input_ids.shape[0] != 1:
        raise ValueError(f"Assisted generation works on one prompt at a time, but got a batch of {input_ids.shape[0]}.")
    if config.do_sample or config.output_attentions or config.output_hidden_states:
        raise NotImplementedError("Assisted generation in workbench is greedy only, without attentions or hidden states: "
                                  "drop do_sample / output_attentions / output_hidden_states, or the assistant_model.")
    cache = model_kwargs.get("past_key_values")
    if cache is None:
        raise ValueError("Assisted generation needs the KV cache: do not pass use_cache=False.")
    if not getattr(cache, "can_crop", True):
        raise ValueError(f"Assisted generation drops rejected drafts from the cache, which {type(cache).__name__} cannot "
                         "do for its sliding-window layers (the earlier positions are gone): use "
                         "cache_implementation='dynamic', or 'static' for a model without a sliding window.")
    names, record = InputNames.for_model(model), StepRecord(config)
    drafter = Drafter(assistant, processors, tokens.eos)
    draft_size = config.num_assistant_tokens
    while True:
        length = input_ids.shape[1]
        drafts = drafter.propose(input_ids, min(draft_size, config.max_length - length - 1))
        logits, scores, outputs = _score(model, input_ids, drafts, processors, model_kwargs, names)
        chosen = scores.argmax(-1)  # (1, k + 1): the model's own token after each prefix
        matches = int((drafts == chosen[:, :-1]).long().cumprod(-1).sum())
        accepted = _trim(chosen[:, :matches + 1], config.max_length - length, tokens.eos)
        input_ids = torch.cat([input_ids, accepted], dim=-1)
        outputs.past_key_values.crop(input_ids.shape[1] - 1)  # forget the rejected drafts
        model_kwargs = update_model_kwargs(outputs, model_kwargs, names, new_tokens=accepted.shape[1])
        for i in range(accepted.shape[1]):
            record.add(outputs, logits[:, i], scores[:, i])
        if streamer is not None:
            streamer.put(accepted.cpu())
        if config.num_assistant_tokens_schedule == "heuristic":  # draft more while drafts are all accepted
            draft_size = draft_size + 2 if matches == drafts.shape[1] else max(1, draft_size - 1)
        if bool(criteria(input_ids, record.scores).all()):
            break
    if streamer is not None:
        streamer.end()
    if not config.return_dict_in_generate:
        return input_ids
    return GenerateDecoderOnlyOutput(sequences=input_ids, scores=record.scores, logits=record.logits,
                                     past_key_values=model_kwargs.get("past_key_values"))


def _score(model, input_ids, drafts, processors, model_kwargs, names):
    """The model's raw and processed logits after each prefix ``ids + drafts[:i]``, i = 0..k."""
    count = drafts.shape[1]
    extended = torch.cat([input_ids, drafts], dim=-1)
    step_kwargs = update_model_kwargs(None, dict(model_kwargs), names, new_tokens=count) if count else dict(model_kwargs)
    inputs = prepare_step_inputs(extended, step_kwargs, names)
    if "logits_to_keep" in inputs:
        inputs["logits_to_keep"] = count + 1
    outputs = model(**inputs, return_dict=True)
    logits = outputs.logits[:, -count - 1:].to(dtype=torch.float32, device=input_ids.device)  # (1, k + 1, V)
    length = input_ids.shape[1]
    scores = torch.stack([processors(extended[:, :length + i], logits[:, i]) for i in range(count + 1)], dim=1)
    return logits, scores, outputs


def _trim(accepted: torch.Tensor, budget: int, eos: torch.Tensor | None) -> torch.Tensor:
    """No more tokens than max_length allows, and nothing after an end-of-sequence token."""
    accepted = accepted[:, :budget]
    if eos is not None:
        ends = torch.isin(accepted[0], eos.to(accepted.device)).nonzero()
        if ends.numel():
            accepted = accepted[:, :int(ends[0]) + 1]
    return accepted


class Drafter:
    """The assistant's side: greedy drafts from its own cache, kept across rounds."""

    def __init__(self, assistant, processors, eos: torch.Tensor | None) -> None:
        self.assistant = assistant
        self.processors = processors
        self.eos = eos
        self.cache = DynamicCache()
        self.keep_one = forward_accepts(assistant, "logits_to_keep")

    @torch.no_grad()
    def propose(self, input_ids: torch.Tensor, count: int) -> torch.Tensor:
        """Up to ``count`` draft tokens (1, k) continuing ``input_ids``; fewer after an eos."""
        self.cache.crop(input_ids.shape[1] - 1)  # positions past the accepted text were drafts
        ids = input_ids
        for _ in range(max(count, 0)):
            seen = self.cache.get_seq_length()
            positions = torch.arange(seen, ids.shape[1], device=ids.device)[None]
            extra = {"logits_to_keep": 1} if self.keep_one else {}
            out = self.assistant(input_ids=ids[:, seen:].to(self.assistant.device), position_ids=positions,
                                 past_key_values=self.cache, use_cache=True, return_dict=True, **extra)
            scores = self.processors(ids, out.logits[:, -1].to(dtype=torch.float32, device=ids.device))
            token = scores.argmax(-1, keepdim=True)
            ids = torch.cat([ids, token], dim=-1)
            if self.eos is not None and bool(torch.isin(token, self.eos.to(token.device)).any()):
                break
        return ids[:, input_ids.shape[1]:]
