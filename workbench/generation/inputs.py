"""Feeding the model while decoding, kept apart from the strategies that choose tokens.

Three parts, each a plain function over ``model_kwargs`` (the dict of model inputs that lives as
long as one ``generate()`` call: ``attention_mask``, ``position_ids``, ``past_key_values``, ...):

* the prompt: special tokens, the attention mask when none is given, positions from the mask
  (so a left-padded row starts at position 0), copies for beams or several samples; for an
  encoder-decoder, the encoder's output (computed once, then an input of every step) and the
  decoder's prompt, which starts with ``decoder_start_token_id``;
* :func:`prepare_step_inputs`: what one forward pass gets (only the positions the cache lacks);
* :func:`update_model_kwargs`: the bookkeeping after a step (the cache, one more mask column and
  position).

The names of the keys come from :class:`InputNames`, so an encoder-decoder can feed its decoder
(``decoder_input_ids``, ``decoder_attention_mask``) through the same functions.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import Any

import torch

from ..outputs import BaseModelOutput

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputNames:
    """The forward arguments that the decoding loop extends step by step."""

    ids: str = "input_ids"
    mask: str = "attention_mask"
    positions: str = "position_ids"
    # a length past which the model encodes every position differently (Phi-3's LongRoPE), from
    # the model's cache_restart_length(): the step that first passes it runs without the cache
    restart_at: int | None = None

    @classmethod
    def for_model(cls, model) -> "InputNames":
        restart = getattr(model, "cache_restart_length", lambda: None)()
        if getattr(model.config, "is_encoder_decoder", False):
            return cls("decoder_input_ids", "decoder_attention_mask", "decoder_position_ids", restart)
        return cls(restart_at=restart)


@dataclass
class SpecialTokens:
    """The generation config's special tokens as tensors: ``eos`` is 1-D (one or several ids),
    ``pad`` and ``bos`` are 0-D; any of them may be None."""

    bos: torch.Tensor | None
    eos: torch.Tensor | None
    pad: torch.Tensor | None


def special_tokens(config, device: torch.device, batch_size: int, has_attention_mask: bool) -> SpecialTokens:
    """``pad`` defaults to the first ``eos`` (finished rows are filled with it)."""
    def tensor(value):
        return None if value is None else torch.as_tensor(value, dtype=torch.long, device=device)

    bos, eos, pad = tensor(config.bos_token_id), tensor(config.eos_token_id), tensor(config.pad_token_id)
    if eos is not None:
        eos = eos.reshape(-1)
        if bool((eos < 0).any()):
            logger.warning("`eos_token_id` %s holds negative ids: generation will not stop before max_length.", eos.tolist())
    if pad is None and eos is not None:
        if not has_attention_mask and batch_size > 1:
            logger.warning("Neither attention_mask nor pad_token_id is set for a batch of prompts: results may be "
                           "wrong. Pass the tokenizer's attention_mask to generate().")
        pad = eos[0]
    return SpecialTokens(bos, eos, pad)


# ---------------------------------------------------------------------------------------------
# the prompt


def start_ids(model, bos: torch.Tensor | None, model_kwargs: dict[str, Any]) -> torch.Tensor:
    """Without a prompt, every row starts from the bos token (batch size from any tensor input)."""
    if bos is None:
        raise ValueError("generate() got no input_ids and the generation config has no bos_token_id to start from: "
                         "pass input_ids (a tokenized prompt) or set generation_config.bos_token_id.")
    batch = next((v.shape[0] for v in model_kwargs.values() if isinstance(v, torch.Tensor)), 1)
    return torch.full((batch, 1), int(bos), dtype=torch.long, device=model.device)


def infer_attention_mask(input_ids: torch.Tensor, tokens: SpecialTokens) -> torch.Tensor:
    """1 for real tokens. Pad tokens are recognised only when the pad token is not also an eos
    token (then a pad token in the prompt could be a real end-of-text)."""
    ones = torch.ones(input_ids.shape[:2], dtype=torch.long, device=input_ids.device)
    if tokens.pad is None or input_ids.dim() != 2 or input_ids.is_floating_point():
        return ones
    pad_is_eos = tokens.eos is not None and bool(torch.isin(tokens.eos, tokens.pad).any())
    if pad_is_eos or not bool((input_ids == tokens.pad).any()):
        return ones
    return input_ids.ne(tokens.pad).long()


def warn_if_right_padded(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, pad: torch.Tensor | None) -> None:
    """A decoder-only model continues from each row's last token, so padding must be on the left."""
    if input_ids.shape[0] < 2 or pad is None:
        return
    if attention_mask is not None and attention_mask.shape == input_ids.shape:
        right_padded = bool((attention_mask[:, -1] == 0).any())
    else:
        right_padded = bool((input_ids[:, -1] == pad).any())
    if right_padded:
        logger.warning(
            "A decoder-only model got right-padded input: some rows end in padding, and the model would continue "
            "from the padding instead of the prompt. Pad on the left (tokenizer.padding_side = 'left', or "
            "padding_side='left' when loading the tokenizer) and pass the attention_mask."
        )


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) 0/1 -> (B, T) positions counting real tokens only (padding gets 0)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def encode_once(model, input_ids: torch.Tensor | None, config, model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Encoder-decoders: run the encoder on the prompt and keep its output in ``encoder_outputs``,
    which every decoding step reads (unless the caller passed ``encoder_outputs`` already)."""
    passed = model_kwargs.get("encoder_outputs")
    if passed is not None:
        if isinstance(passed, (tuple, list)):  # an encoder's return_dict=False tuple
            model_kwargs["encoder_outputs"] = BaseModelOutput(*passed[:3])
        return model_kwargs
    if input_ids is None:
        raise ValueError("An encoder-decoder generates from an input to encode: pass input_ids (or encoder_outputs).")
    encoder = model.get_encoder()
    decoder_side = ("decoder_", "cross_attn", "use_cache", "past_key_values", "output_")
    inputs = {k: v for k, v in model_kwargs.items() if not k.startswith(decoder_side) and forward_accepts(encoder, k)}
    main_input = getattr(model, "main_input_name", "input_ids")  # Whisper's encoder reads input_features
    if main_input != "input_ids" and input_ids.is_floating_point():
        input_ids = input_ids.to(model.dtype)
    model_kwargs["encoder_outputs"] = encoder(
        **{main_input: input_ids}, **inputs, output_attentions=bool(config.output_attentions),
        output_hidden_states=bool(config.output_hidden_states), return_dict=True,
    )
    return model_kwargs


def decoder_prompt(model, config, batch_size: int, model_kwargs: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]:
    """The decoder's prompt: the caller's ``decoder_input_ids`` (with ``decoder_start_token_id``
    put in front when no row starts with it), else the start token alone, (B, 1).

    ``decoder_start_token_id`` falls back to ``bos_token_id``; a list gives each row its own."""
    start = config.decoder_start_token_id if config.decoder_start_token_id is not None else config.bos_token_id
    if start is None:
        raise ValueError(f"{type(model).__name__} needs a token to start decoding from: set "
                         "generation_config.decoder_start_token_id (or bos_token_id), or pass decoder_start_token_id=.")
    start = torch.as_tensor(start, dtype=torch.long, device=model.device)
    if start.dim() == 1 and start.shape[0] != batch_size:
        raise ValueError(f"decoder_start_token_id holds {start.shape[0]} ids, one per row, but the batch has {batch_size} rows.")
    start = start.view(-1, 1) if start.dim() == 1 else start.expand(batch_size, 1)
    ids = model_kwargs.pop("decoder_input_ids", None)
    if ids is None:
        return start, model_kwargs
    ids = ids.to(model.device)
    # a model may take its decoder prompt whole (Whisper's can open with <|startofprev|> and earlier text)
    if getattr(model, "prepends_decoder_start", True) and bool((ids[:, 0] != start[:, 0]).all()):
        ids = torch.cat([start, ids], dim=-1)
        mask = model_kwargs.get("decoder_attention_mask")
        if mask is not None:
            model_kwargs["decoder_attention_mask"] = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=-1)
    return ids, model_kwargs


def expand_batch(input_ids: torch.Tensor, model_kwargs: dict[str, Any], times: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """Repeat each row ``times`` times, next to each other (beams, or several samples per prompt)."""
    if times == 1:
        return input_ids, model_kwargs
    expanded = {}
    for key, value in model_kwargs.items():
        if isinstance(value, torch.Tensor):
            value = value.repeat_interleave(times, dim=0)
        elif key == "encoder_outputs" and value is not None:
            # encoder-decoders: the tensors of the output; per-layer tuples (hidden states,
            # attentions) stay one per prompt, as the reference returns them
            value = type(value)(**{k: v.repeat_interleave(times, dim=0) if isinstance(v, torch.Tensor) else v
                                  for k, v in value.items()})
        expanded[key] = value
    return input_ids.repeat_interleave(times, dim=0), expanded


# ---------------------------------------------------------------------------------------------
# each step


def prepare_step_inputs(input_ids: torch.Tensor, model_kwargs: dict[str, Any],
                        names: InputNames = InputNames()) -> dict[str, Any]:
    """The forward arguments for the next step: the tokens the cache has not seen yet (the whole
    prompt first, then one token), their positions, and the mask over everything so far."""
    cache = model_kwargs.get("past_key_values")
    seen = cache.get_seq_length() if cache is not None else 0
    if names.restart_at is not None and 0 < seen <= names.restart_at < input_ids.shape[1] and cache.can_crop:
        cache.crop(0)  # the cached keys were encoded the old way: the whole sequence again (as the reference does)
        seen = 0
    new_ids = input_ids[:, seen:]
    inputs = dict(model_kwargs)
    inputs[names.ids] = new_ids
    for key in (names.positions, "token_type_ids"):
        if inputs.get(key) is not None:
            inputs[key] = inputs[key][..., -new_ids.shape[1]:]
    return inputs


def update_model_kwargs(outputs, model_kwargs: dict[str, Any], names: InputNames = InputNames(),
                        new_tokens: int = 1) -> dict[str, Any]:
    """After a step that appended ``new_tokens`` tokens: keep the cache the model returned, and
    grow the mask, positions and token types to cover the new tokens."""
    cache = getattr(outputs, "past_key_values", None)
    if cache is not None:
        model_kwargs["past_key_values"] = cache
    mask = model_kwargs.get(names.mask)
    if mask is not None:
        model_kwargs[names.mask] = torch.cat([mask, mask.new_ones(mask.shape[0], new_tokens)], dim=-1)
    positions = model_kwargs.get(names.positions)
    if positions is not None:
        step = torch.arange(1, new_tokens + 1, dtype=positions.dtype, device=positions.device)
        model_kwargs[names.positions] = torch.cat([positions, positions[..., -1:] + step], dim=-1)
    token_types = model_kwargs.get("token_type_ids")
    if token_types is not None:  # new tokens continue the last segment
        model_kwargs["token_type_ids"] = torch.cat([token_types, token_types[:, -1:].expand(-1, new_tokens)], dim=-1)
    return model_kwargs


def forward_accepts(model, name: str) -> bool:
    """Whether the model's forward names ``name`` as a parameter (``**kwargs`` does not count)."""
    parameters = inspect.signature(model.forward).parameters
    return name in parameters and parameters[name].kind is not inspect.Parameter.VAR_KEYWORD


def check_model_kwargs(model, model_kwargs: dict[str, Any]) -> None:
    """Keyword arguments of generate() that are neither generation settings nor model inputs are
    most often typos (``max_new_token=``): name them instead of ignoring them."""
    known = {"output_attentions", "output_hidden_states", "past_key_values", "use_cache"}
    unused = [k for k, v in model_kwargs.items() if v is not None and k not in known and not forward_accepts(model, k)]
    if unused:
        raise ValueError(
            f"generate() got arguments that are neither generation settings nor inputs of {type(model).__name__}: "
            f"{unused}. Check the spelling (GenerationConfig lists the settings)."
        )
