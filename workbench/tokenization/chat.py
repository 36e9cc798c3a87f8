"""Chat templates: a conversation -> the prompt text a chat model was trained on, or its token ids.

``PreTrainedTokenizerFast.apply_chat_template`` and ``.get_chat_template`` are the functions here.

    conversation(s) ──► plain data (None fields dropped) ──► tag the final message (continue_final_message)
        ──► chat_sandbox.render(template; messages, tools, documents, add_generation_prompt, **variables)
        ──► cut after the tag ──► text | tokenizer(text, add_special_tokens=False) ──► ids | BatchEncoding
                                            (+ assistant_masks from the {% generation %} spans)
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import warnings
from collections.abc import Mapping

from ..errors import ChatTemplateError
from .batch_encoding import BatchEncoding
from .tool_schema import get_json_schema

# Appended to the text continue_final_message continues, so the render can be cut right after it.
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
# Names a message's reasoning goes by; templates read "reasoning_content", gpt-oss ones "thinking".
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")

_NO_TEMPLATE = (
    "This tokenizer has no chat template (tokenizer.chat_template is None), so there is no way to know how the "
    "model expects a conversation to be formatted. Pass one with apply_chat_template(..., chat_template=\"{% for "
    "message in messages %}...{% endfor %}\"), or set tokenizer.chat_template = \"...\" (save_pretrained keeps it). "
    "Base models usually have none: their -Instruct / -Chat versions do."
)


def apply_chat_template(tokenizer, conversation, tools: list | None = None, documents: list[dict] | None = None,
                        chat_template: str | None = None, add_generation_prompt: bool = False,
                        continue_final_message: bool | str = False, tokenize: bool = True, padding=False,
                        truncation: bool = False, max_length: int | None = None, return_tensors: str | None = None,
                        return_dict: bool = True, return_assistant_tokens_mask: bool = False,
                        tokenizer_kwargs: dict | None = None, sanitize_control_tokens: bool = False,
                        **template_kwargs):
    """Format a conversation (or a batch of them) with the tokenizer's chat template.

    >>> chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}]
    >>> tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)  # doctest: +SKIP
    '<|im_start|>system\\nBe brief.<|im_end|>\\n<|im_start|>user\\nHi!<|im_end|>\\n<|im_start|>assistant\\n'
    >>> inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt")  # doctest: +SKIP
    >>> model.generate(**inputs)  # doctest: +SKIP

    * ``conversation``: a list of message dicts (``role``, ``content``, and whatever the template reads:
      ``tool_calls``, ``content`` as a list of typed parts, ...), or a list of such lists.
    * ``tools``: JSON schemas, or Python functions (converted by ``get_json_schema``). ``documents``:
      dicts (``title``, ``text``) for retrieval-augmented templates. Both are passed to the template
      as ``tools`` / ``documents``; a template that does not read them ignores them.
    * ``chat_template``: a jinja2 template, or the name of one of the tokenizer's named templates
      (with ``tools`` and no name, a ``"tool_use"`` template is preferred).
    * ``add_generation_prompt``: end with the header that opens an assistant turn.
      ``continue_final_message``: end inside the final message so the model continues it (a str
      names the field to continue, e.g. ``"reasoning_content"``); the two cannot be combined.
    * ``tokenize=False`` returns the text; otherwise a ``BatchEncoding`` (``return_dict=True``, the
      default) or the ``input_ids`` alone. ``padding``, ``truncation``, ``max_length``,
      ``return_tensors`` and ``tokenizer_kwargs`` go to the tokenizer call, which adds no special
      tokens (the template writes them).
    * ``return_assistant_tokens_mask``: add ``assistant_masks``, 1 on the tokens a
      ``{% generation %}`` block of the template produced (needs ``return_dict=True``).
    * Other keyword arguments become template variables (``enable_thinking=False``, ``date_string=...``);
      the special tokens (``bos_token``, ``eos_token``, ...) are variables too.
    """
    if not tokenize:
        return_dict = False
    _check_options(tokenize, return_dict, add_generation_prompt, continue_final_message, return_assistant_tokens_mask,
                   sanitize_control_tokens)
    template = get_chat_template(tokenizer, chat_template, tools)
    if return_assistant_tokens_mask:
        _check_generation_block(template)
    conversations, batched = _as_conversations(conversation)
    variables = {**tokenizer.special_tokens_map, **template_kwargs}
    texts, spans = render_conversations(
        template, conversations, variables, tools=tools, documents=documents,
        add_generation_prompt=add_generation_prompt, continue_final_message=continue_final_message,
        track_generation=return_assistant_tokens_mask,
    )  # fmt: skip
    if not tokenize:
        return texts if batched else texts[0]
    call_options = dict(padding=padding, truncation=truncation, max_length=max_length, return_tensors=return_tensors,
                        add_special_tokens=False)  # the template wrote the special tokens
    encoded = tokenizer(texts if batched else texts[0], **{**call_options, **(tokenizer_kwargs or {})})
    if not return_dict:
        return encoded["input_ids"]
    if return_assistant_tokens_mask:
        _add_assistant_masks(encoded, spans, batched, return_tensors)
    return encoded


def _check_generation_block(template: str) -> None:
    if not _GENERATION_TAG.search(template):
        warnings.warn(
            "return_assistant_tokens_mask=True, but the chat template has no {% generation %} block, so every mask "
            "is all zeros. Wrap the assistant text of the template in {% generation %}...{% endgeneration %}.",
            stacklevel=3,  # the caller of tokenizer.apply_chat_template
        )


def _add_assistant_masks(encoded: BatchEncoding, spans, batched: bool, return_tensors: str | None) -> None:
    """``encoded["assistant_masks"]``: 1 on the tokens inside the template's {% generation %} spans."""
    masks = _assistant_masks(encoded, spans)
    if not batched and return_tensors is None:
        masks = masks[0]
    encoded["assistant_masks"] = BatchEncoding({"masks": masks}, tensor_type=return_tensors)["masks"]


def get_chat_template(tokenizer, chat_template: str | None = None, tools: list | None = None) -> str:
    """The template ``apply_chat_template`` would use: ``chat_template`` (a template or a template's name),
    else the tokenizer's own (its ``"tool_use"`` one when ``tools`` are given, else its ``"default"``)."""
    if chat_template is not None and not isinstance(chat_template, str):
        raise ChatTemplateError(
            f"chat_template must be the jinja2 source of a template or a template's name, got "
            f"{type(chat_template).__name__}. To give a tokenizer several templates, set tokenizer.chat_template = "
            "{'default': ..., 'tool_use': ...}."
        )
    templates = tokenizer.chat_template
    if isinstance(templates, dict):
        if chat_template is None:
            if tools is not None and "tool_use" in templates:
                return templates["tool_use"]
            if "default" in templates:
                return templates["default"]
            raise ChatTemplateError(
                f"This tokenizer has several chat templates ({sorted(templates)}) and none is named 'default'. "
                "Pick one with apply_chat_template(..., chat_template='<name>')."
            )
        if chat_template in templates:
            return templates[chat_template]
        _check_not_a_name(chat_template, sorted(templates))
        return chat_template
    if chat_template is None:
        if templates is None:
            raise ChatTemplateError(_NO_TEMPLATE)
        return templates
    _check_not_a_name(chat_template, [])
    return chat_template


def render_conversations(
    template: str, conversations: list, variables: dict | None = None, *, tools=None, documents=None,
    add_generation_prompt: bool = False, continue_final_message: bool | str = False, track_generation: bool = False,
) -> tuple[list[str], list[list[tuple[int, int]]]]:  # fmt: skip
    """(texts, spans): each conversation rendered, and the character spans of its ``{% generation %}`` blocks.

    ``variables`` are extra template variables (special tokens, ``enable_thinking``, ...).
    """
    from .chat_sandbox import compile_chat_template, render  # jinja2 loads on first use, not with every tokenizer

    variables = variables or {}
    compiled = compile_chat_template(template)
    if "messages" in variables:
        raise ChatTemplateError("'messages' is the conversation: pass it as apply_chat_template's first argument.")
    shared = template_data(
        {**variables, "tools": _tool_schemas(tools), "documents": _check_documents(documents)}
    )
    shared["add_generation_prompt"] = bool(add_generation_prompt)
    field = continue_final_message if isinstance(continue_final_message, str) else "content"
    texts, all_spans = [], []
    for conversation in conversations:
        messages = _plain_messages(conversation)
        final_text = _tag_final_message(messages, field, template) if continue_final_message else None
        text, spans = render(compiled, {**shared, "messages": messages}, track_generation)
        if final_text is not None:
            text = _cut_after_final_message(text, final_text)
        texts.append(text)
        all_spans.append(spans)
    return texts, all_spans


# --- inputs ---------------------------------------------------------------------------------------


def _check_options(tokenize, return_dict, add_generation_prompt, continue_final_message, assistant_mask,
                   sanitize_control_tokens=False) -> None:
    if sanitize_control_tokens:
        raise NotImplementedError(
            "apply_chat_template(sanitize_control_tokens=True) is not supported by workbench yet. Check user text "
            "for the tokenizer's special tokens yourself before formatting it."
        )
    if assistant_mask and not (tokenize and return_dict):
        raise ChatTemplateError(
            "return_assistant_tokens_mask=True needs tokenize=True and return_dict=True: the mask is returned as the "
            "'assistant_masks' entry of the BatchEncoding."
        )
    if continue_final_message and add_generation_prompt:
        raise ChatTemplateError(
            "continue_final_message and add_generation_prompt cannot be combined. Use continue_final_message=True "
            "to have the model continue the last message (prefill), or add_generation_prompt=True to have it start "
            "a new assistant message."
        )
    if continue_final_message and assistant_mask:
        raise ChatTemplateError("continue_final_message cannot be combined with return_assistant_tokens_mask.")


def _as_conversations(conversation) -> tuple[list, bool]:
    """([conversation, ...], whether a batch was given)."""
    if hasattr(conversation, "messages"):
        return [conversation], False
    if not isinstance(conversation, (list, tuple)):
        raise ChatTemplateError(
            f"apply_chat_template takes a list of messages like [{{'role': 'user', 'content': 'Hi'}}] (or a list "
            f"of such lists), got {type(conversation).__name__}. To tokenize plain text, call tokenizer(text)."
        )
    if not conversation:
        raise ChatTemplateError("Cannot apply a chat template to an empty conversation; give at least one message.")
    first = conversation[0]
    if isinstance(first, (list, tuple)) or hasattr(first, "messages"):
        return list(conversation), True
    return [conversation], False


def _plain_messages(conversation) -> list[dict]:
    """A fresh copy the template may see: plain data, keys whose value is None dropped, reasoning aliased."""
    conversation = getattr(conversation, "messages", conversation)
    if not isinstance(conversation, (list, tuple)):
        raise ChatTemplateError(f"A conversation must be a list of message dicts, got {type(conversation).__name__}.")
    messages = []
    for message in template_data(list(conversation)):
        if not isinstance(message, dict):
            raise ChatTemplateError(
                f"Each message must be a dict like {{'role': 'user', 'content': 'Hi'}} (or a dataclass / pydantic "
                f"model), got {message!r}."
            )
        # APIs send content=None / tool_calls=None; templates handle a missing key but print "None"
        message = {key: value for key, value in message.items() if value is not None}
        reasoning = next((message[key] for key in _REASONING_FIELDS if key in message), None)
        if reasoning is not None:
            message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        messages.append(message)
    return messages


def template_data(value):
    """``value`` rebuilt from JSON types (dict, list, tuple, str, int, float, bool, None).

    Dataclasses and pydantic models become dicts, numpy scalars Python numbers, subclasses of
    str / int / float (enums, say) their base type, and anything else a placeholder such as
    ``"<Tensor>"``: templates only test whether media are present, they never read them.
    """
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {template_data(key): template_data(item) for key, item in value.items()}
    if isinstance(value, list):
        return [template_data(item) for item in value]
    if isinstance(value, tuple):
        return tuple(template_data(item) for item in value)
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic):
        return template_data(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: template_data(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):  # pydantic
        return template_data(value.model_dump())
    return f"<{type(value).__name__}>"


def _tool_schemas(tools) -> list[dict] | None:
    if tools is None:
        return None
    if not isinstance(tools, (list, tuple)):
        raise ChatTemplateError(f"tools must be a list of JSON schemas or functions, got {type(tools).__name__}.")
    schemas = []
    for tool in tools:
        if isinstance(tool, dict):
            schemas.append(tool)
        elif inspect.isfunction(tool) or inspect.ismethod(tool):
            schemas.append(get_json_schema(tool))
        else:
            raise ChatTemplateError(
                f"Each tool must be a JSON schema (dict) or a Python function with type hints and a Google-style "
                f"docstring, got {type(tool).__name__}: {tool!r}."
            )
    return schemas


def _check_documents(documents) -> list[dict] | None:
    if documents is not None and not all(isinstance(document, dict) for document in documents):
        raise ChatTemplateError("documents must be a list of dicts, e.g. [{'title': '...', 'text': '...'}].")
    return documents


def _check_not_a_name(chat_template: str, names: list[str]) -> None:
    """A bare word is a misspelt template name, not a template: it would render as itself."""
    if re.fullmatch(r"[\w.-]+", chat_template):
        have = f"its templates are named {names}" if names else "it has a single template, used by default"
        raise ChatTemplateError(
            f"chat_template={chat_template!r} is not a template of this tokenizer ({have}). Pass one of those "
            "names, or the jinja2 source of a template."
        )


# --- continue_final_message -----------------------------------------------------------------------


def _tag_final_message(messages: list[dict], field: str, template: str) -> str:
    """Append the tag to the text the model should continue (in place); return that text."""
    if not messages:
        raise ChatTemplateError("continue_final_message is set, but the conversation is empty.")
    final = messages[-1]
    value = final.get(field)
    if value is None:
        raise ChatTemplateError(f"continue_final_message is set, but the final message has no {field!r} to continue.")
    fields = [name for name in _REASONING_FIELDS if final.get(name) == value] if field in _REASONING_FIELDS else [field]
    if not any(name in template for name in fields):
        raise ChatTemplateError(
            f"continue_final_message asks to continue {field!r}, but the chat template never mentions that field."
        )
    if isinstance(value, (list, tuple)):  # content parts: continue the last text part
        for part in reversed(value):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                text, part["text"] = part["text"], part["text"] + _CONTINUE_TAG
                return text
        raise ChatTemplateError("continue_final_message is set, but the final message has no text part to continue.")
    if not isinstance(value, str):
        raise ChatTemplateError(f"continue_final_message can continue text, but {field!r} is {type(value).__name__}.")
    for name in fields:
        final[name] = value + _CONTINUE_TAG
    return value


def _cut_after_final_message(text: str, final_text: str) -> str:
    tag = _CONTINUE_TAG.strip()
    if final_text.strip() not in text or tag not in text:
        raise ChatTemplateError(
            "continue_final_message is set, but the final message does not appear in the rendered chat: the "
            "template changes or drops it, so there is nothing to continue.\n"
            f"Final message: {final_text.strip()!r}\nRendered chat: {text!r}"
        )
    at = text.rindex(tag)
    if text[at : at + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
        return text[:at]
    return text[:at].rstrip()  # the template trimmed the message, and with it any trailing space


# --- assistant masks ------------------------------------------------------------------------------


def _assistant_masks(encoded: BatchEncoding, spans_per_row: list[list[tuple[int, int]]]) -> list[list[int]]:
    """1 on every token that overlaps a {% generation %} span, 0 elsewhere (padding included)."""
    masks = []
    for row, spans in enumerate(spans_per_row):
        length = len(encoded.encodings[row])
        mask = [0] * length
        for start, end in spans:
            if end <= start:
                continue
            first = encoded.char_to_token(row, start)
            if first is None:  # truncated away
                break
            last = encoded.char_to_token(row, end - 1)
            stop = length if last is None else last + 1
            mask[first:stop] = [1] * (stop - first)
        masks.append(mask)
    return masks
