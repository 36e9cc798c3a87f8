"""``text-generation``: continue a text, or a chat, with a causal language model.

    "Once upon a time" ──► tokenizer ──────────────────────────┐
    [{"role": "user", ...}] ──► apply_chat_template(add_generation_prompt) ──┴─► model.generate()
        ──► decode the new tokens ──► [{"generated_text": prompt + new text}]   (a dict per sequence)
                                 └──► [{"generated_text": [*chat, {"role": "assistant", "content": new text}]}]

>>> generator = pipeline("text-generation", model="HuggingFaceTB/SmolLM2-135M-Instruct")   # doctest: +SKIP
>>> generator([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=20, do_sample=False)
[{'generated_text': [{'role': 'user', 'content': 'What is the capital of France?'},
                     {'role': 'assistant', 'content': 'The capital of France is Paris.'}]}]

Every keyword the pipeline does not read itself goes to ``generate()`` (``max_new_tokens``,
``do_sample``, ``num_beams``, ``streamer``, ...). Unless the call or the model's generation config
sets them, the pipeline samples (``do_sample=True, temperature=0.7``) up to 256 new tokens, as the
reference does. Batches are left-padded; each row's padding is removed again before decoding,
so a batched call returns what one-at-a-time calls return.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping

import torch

from .base import Pipeline

# used when neither the call nor the model's generation config sets them (the reference's defaults)
DEFAULT_GENERATION = {"max_new_tokens": 256, "do_sample": True, "temperature": 0.7}
_SAMPLING_SETTINGS = {"temperature", "top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff"}
# call options that are the tokenizer's, not generate()'s
_TOKENIZER_OPTIONS = ("add_special_tokens", "padding")


class ReturnType(enum.Enum):
    TENSORS = 0
    NEW_TEXT = 1
    FULL_TEXT = 2


class TextGenerationPipeline(Pipeline):
    """Continue texts and chats (lists of ``{"role", "content"}`` messages); see the module docstring.

    Options (at construction or per call): ``return_full_text`` (default True: the prompt, or the
    chat, plus the new text), ``return_tensors`` (token ids instead of text), ``prefix`` (text put
    before every prompt, not returned), ``continue_final_message`` (continue the chat's last message
    instead of starting an assistant turn; the default when the chat ends with an assistant
    message), ``stop_sequence``, ``handle_long_generation="hole"``, ``max_length`` / ``truncation``
    / ``tokenizer_encode_kwargs`` for the tokenizer, ``tools`` / ``documents`` for the chat
    template, ``skip_special_tokens`` / ``clean_up_tokenization_spaces`` for decoding.
    """

    task = "text-generation"
    padding_side = "left"  # a decoder-only model continues the last position: padding goes before the prompt

    def __init__(self, model, tokenizer=None, **kwargs) -> None:
        from ..generation.configuration import FIELDS

        # generation settings given here apply to every call, unless a call passes its own generation_config
        self._generate_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in FIELDS or k == "generation_config"}
        self.assistant_model = kwargs.pop("assistant_model", None)
        if tokenizer is None:
            raise ValueError("The text-generation pipeline needs a tokenizer: pass tokenizer= (an instance or a path).")
        super().__init__(model, tokenizer, **kwargs)
        if getattr(tokenizer, "padding_side", None) == "right":
            tokenizer.padding_side = "left"  # as the reference does, so tokenizer(...) batches suit generate() too
        prefix = getattr(model.config, "prefix", None)
        if prefix and "prefix" not in self._defaults[0]:
            pre, fwd, _ = self._sanitize_parameters(prefix=prefix)
            self._defaults[0].update(pre)
            self._defaults[1].update(fwd)

    # --- parameters ----------------------------------------------------------------------------

    def _sanitize_parameters(self, return_full_text=None, return_tensors=None, return_text=None, return_type=None,
                             clean_up_tokenization_spaces=None, prefix=None, handle_long_generation=None,
                             stop_sequence=None, truncation=None, max_length=None, continue_final_message=None,
                             skip_special_tokens=None, tokenizer_encode_kwargs=None, tools=None, documents=None,
                             **generate_kwargs):
        pre = {k: generate_kwargs.pop(k) for k in _TOKENIZER_OPTIONS if k in generate_kwargs}
        for name, value in (("truncation", truncation), ("tools", tools), ("documents", documents),
                            ("continue_final_message", continue_final_message),
                            ("tokenizer_encode_kwargs", tokenizer_encode_kwargs)):
            if value is not None:
                pre[name] = value
        if max_length is not None:  # a limit for the tokenizer and for generate(), as in the reference
            pre["max_length"] = generate_kwargs["max_length"] = max_length
        if prefix is not None:
            pre["prefix"] = prefix
            if prefix:
                ids = self.tokenizer(prefix, add_special_tokens=pre.get("add_special_tokens", False))["input_ids"]
                generate_kwargs["prefix_length"] = len(ids)
        if handle_long_generation is not None:
            if handle_long_generation != "hole":
                raise ValueError(f"handle_long_generation={handle_long_generation!r} is not supported: use 'hole' "
                                 "(cut the prompt from the left to leave room for the new tokens) or None.")
            pre["handle_long_generation"] = handle_long_generation
        if generate_kwargs:  # "hole" needs to know how many tokens will be generated
            pre["generate_kwargs"] = dict(generate_kwargs)
        if stop_sequence is not None:
            generate_kwargs["stop_strings"] = [stop_sequence] if isinstance(stop_sequence, str) else stop_sequence
            generate_kwargs["tokenizer"] = self.tokenizer
        post = {}
        return_type = _return_type(return_full_text, return_tensors, return_text, return_type)
        for name, value in (("return_type", return_type), ("continue_final_message", continue_final_message),
                            ("clean_up_tokenization_spaces", clean_up_tokenization_spaces),
                            ("skip_special_tokens", skip_special_tokens)):
            if value is not None:
                post[name] = value
        return pre, generate_kwargs, post

    def _generate_call_kwargs(self, call_kwargs: dict) -> dict:
        """This call's generate() arguments: the call's over the construction's (unless the call brings
        its own generation_config), then the pipeline defaults for what nobody set."""
        kwargs = dict(call_kwargs) if "generation_config" in call_kwargs else {**self._generate_kwargs, **call_kwargs}
        chosen = self._settings_chosen(kwargs)
        added = {k: v for k, v in DEFAULT_GENERATION.items()
                 if k not in chosen and not (k == "max_new_tokens" and "max_length" in chosen)}
        if not {**chosen, **added}.get("do_sample"):
            added = {k: v for k, v in added.items() if k not in _SAMPLING_SETTINGS}
        if getattr(self.tokenizer, "pad_token_id", None) is not None and "pad_token_id" not in chosen:
            added["pad_token_id"] = self.tokenizer.pad_token_id
        if self.assistant_model is not None:
            kwargs.setdefault("assistant_model", self.assistant_model)
        passed = kwargs.get("generation_config")
        if passed is None:
            return {**kwargs, **added}
        passed = copy.deepcopy(passed)  # generate() wants settings in one place: add ours to the caller's copy
        passed.update(**added)
        return {**kwargs, "generation_config": passed}

    def _settings_chosen(self, kwargs: dict) -> dict:
        """The generation settings set by the model's generation config, a passed config, or the kwargs."""
        chosen = {}
        for config in (getattr(self.model, "generation_config", None), kwargs.get("generation_config")):
            if config is not None:
                chosen.update({k: v for k, v in config.to_diff_dict().items() if not k.startswith("_")})
        return {**chosen, **kwargs}

    # --- the three stages ----------------------------------------------------------------------

    def preprocess(self, prompt, prefix="", handle_long_generation=None, add_special_tokens=None, truncation=None,
                   padding=None, max_length=None, continue_final_message=None, tokenizer_encode_kwargs=None,
                   tools=None, documents=None, generate_kwargs=None):
        options = {k: v for k, v in (("add_special_tokens", add_special_tokens), ("truncation", truncation),
                                     ("padding", padding), ("max_length", max_length)) if v is not None}
        options.update(tokenizer_encode_kwargs or {})
        if _is_chat(prompt):
            _check_chat(prompt)
            options.pop("add_special_tokens", None)  # the template writes the special tokens
            if continue_final_message is None:  # a chat ending with an assistant message is a prefill
                continue_final_message = prompt[-1]["role"] == "assistant"
            inputs = self.tokenizer.apply_chat_template(
                list(prompt), add_generation_prompt=not continue_final_message,
                continue_final_message=continue_final_message, return_dict=True, return_tensors="pt",
                tools=tools, documents=documents, **options,
            )  # fmt: skip
        elif isinstance(prompt, str):
            inputs = self.tokenizer(prefix + prompt, return_tensors="pt", **options)
        else:
            raise ValueError(f"text-generation takes a string or a chat (a list of {{'role', 'content'}} dicts), "
                             f"got {type(prompt).__name__}: {prompt!r:.60}")
        inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        if handle_long_generation == "hole":
            inputs = self._cut_for_room(inputs, generate_kwargs or {})
        yield inputs, {"prompt": prompt, "continue_final_message": continue_final_message}

    def _cut_for_room(self, inputs: dict, generate_kwargs: dict) -> dict:
        """``handle_long_generation="hole"``: drop the prompt's start so prompt + new tokens fit the model."""
        length = inputs["input_ids"].shape[-1]
        settings = self._settings_chosen(self._generate_call_kwargs(generate_kwargs))
        new_tokens = settings.get("max_new_tokens")
        if new_tokens is None:
            new_tokens = settings.get("max_length", 20) - length
            if new_tokens < 0:
                raise ValueError(f"max_length ({settings.get('max_length')}) is shorter than the prompt ({length} "
                                 "tokens): set max_new_tokens to say how many tokens to generate.")
        limit = self.tokenizer.model_max_length
        if length + new_tokens <= limit:
            return inputs
        keep = limit - new_tokens
        if keep <= 0:
            raise ValueError(f"max_new_tokens={new_tokens} is more than the model takes ({limit} tokens), so no "
                             "prompt would fit: lower max_new_tokens.")
        return {k: v[:, -keep:] for k, v in inputs.items()}

    def _forward(self, model_inputs: dict, prefix_length: int = 0, **generate_kwargs) -> dict:
        input_ids, attention_mask = model_inputs["input_ids"], model_inputs.get("attention_mask")
        rows, padded = input_ids.shape
        lengths = attention_mask.sum(1).tolist() if attention_mask is not None else [padded] * rows
        if padded == 0:  # an empty prompt: generate() starts from the bos token
            input_ids = attention_mask = None
        kwargs = self._generate_call_kwargs(generate_kwargs)
        if prefix_length:  # total lengths count the prefix too
            chosen = self._settings_chosen(kwargs)
            for total, new in (("max_length", "max_new_tokens"), ("min_length", "min_new_tokens")):
                if total in chosen and new not in chosen:
                    kwargs[total] = chosen[total] + prefix_length
        output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        sequences = output if isinstance(output, torch.Tensor) else output.sequences  # (rows * n, L)
        n = sequences.shape[0] // rows
        sequences = sequences.reshape(rows, n, -1).tolist()
        extras = {} if isinstance(output, torch.Tensor) else _extra_outputs(output, rows, n)
        finished = self._finishing_ids(kwargs)
        return {"rows": [
            {"prompt_ids": row[0][padded - length : padded],  # the left padding cut off
             "new_ids": [_trim_finished(seq[padded:], *finished) for seq in row],
             **{key: value[index] for key, value in extras.items()}}
            for index, (row, length) in enumerate(zip(sequences, lengths))
        ]}  # fmt: skip

    def _finishing_ids(self, kwargs: dict) -> tuple[set[int], int | None]:
        """The eos ids that end a row, and the pad id a finished row gets while the batch goes on."""
        chosen = self._settings_chosen(kwargs)
        eos = chosen.get("eos_token_id")
        eos = set() if eos is None else {eos} if isinstance(eos, int) else set(eos)
        pad = chosen.get("pad_token_id")
        return eos, pad if pad is not None else next(iter(eos), None)

    def _unbatch(self, outputs: dict, row: int, length: int | None, batch: dict) -> dict:
        return outputs["rows"][row]  # _forward already cut each row's padding

    def postprocess(self, chunks, return_type=ReturnType.FULL_TEXT, continue_final_message=None,
                    clean_up_tokenization_spaces=None, skip_special_tokens=None):
        (outputs, meta), = chunks
        prompt = meta["prompt"]
        records = []
        for index, new_ids in enumerate(outputs["new_ids"]):
            if return_type == ReturnType.TENSORS:
                record = {"generated_token_ids": outputs["prompt_ids"] + new_ids}
            else:
                skip = True if skip_special_tokens is None else skip_special_tokens
                text = self.tokenizer.decode(new_ids, skip_special_tokens=skip,
                                             clean_up_tokenization_spaces=clean_up_tokenization_spaces)
                if return_type == ReturnType.FULL_TEXT:
                    text = prompt + text if isinstance(prompt, str) else _continue_chat(prompt, text, meta)
                record = {"generated_text": text}
            for key, value in outputs.items():
                if key not in ("prompt_ids", "new_ids") and isinstance(value, torch.Tensor):
                    record[key] = value[index].tolist()
            records.append(record)
        return records

    def _pad_value(self, key: str) -> int:
        if key != "input_ids":
            return 0
        for token in ("pad_token_id", "eos_token_id"):  # the mask hides it: any id works, the pad reads best
            value = getattr(self.tokenizer, token, None)
            if value is not None:
                return value
        return 0


def _return_type(full_text, tensors, text, return_type) -> ReturnType | None:
    if return_type is not None:
        return return_type
    if full_text is not None:
        if text is not None:
            raise ValueError("return_text and return_full_text cannot be combined: use return_full_text alone.")
        if tensors is not None:
            raise ValueError("return_full_text and return_tensors cannot be combined: choose text or token ids.")
        return ReturnType.FULL_TEXT if full_text else ReturnType.NEW_TEXT
    if tensors is not None:
        if text is not None:
            raise ValueError("return_text and return_tensors cannot be combined: choose text or token ids.")
        return ReturnType.TENSORS if tensors else ReturnType.FULL_TEXT
    return None


def _is_chat(prompt) -> bool:
    return isinstance(prompt, (list, tuple)) and bool(prompt) and isinstance(prompt[0], Mapping)


def _check_chat(chat) -> None:
    for index, message in enumerate(chat):
        if not isinstance(message, Mapping) or "role" not in message or "content" not in message:
            raise ValueError(f"Message {index} of the chat is {message!r:.80}: each message must be a dict with "
                             "'role' and 'content' keys.")


def _continue_chat(chat, text: str, meta: dict) -> list[dict]:
    """The chat with the reply: a new assistant message, or the final message continued (prefill)."""
    if meta["continue_final_message"]:
        last = chat[-1]
        return [*chat[:-1], {"role": last["role"], "content": last["content"] + text}]
    return [*chat, {"role": "assistant", "content": text}]


def _extra_outputs(output, rows: int, n: int) -> dict:
    """generate()'s other outputs, by input row and sequence: per-step tuples become one tensor."""
    extras = {}
    for key, value in output.items():
        if key in ("sequences", "past_key_values") or value is None:
            continue
        if isinstance(value, tuple) and value and all(isinstance(v, torch.Tensor) for v in value):
            if value[0].shape[0] != rows * n:
                continue
            value = torch.stack(value).transpose(0, 1)  # (rows * n, steps, ...)
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == rows * n:
            extras[key] = value.reshape(rows, n, *value.shape[1:])
    return extras


def _trim_finished(ids: list[int], eos: set[int], pad: int | None) -> list[int]:
    """A row's new tokens up to its eos: after it come pad tokens only while other rows go on."""
    for position, token in enumerate(ids):
        if token in eos:
            return ids[: position + 1]
    if pad is not None and pad not in eos:  # a row stopped by something else (stop strings, ...)
        while ids and ids[-1] == pad:
            ids = ids[:-1]
    return ids
