"""``get_json_schema``: a Python function -> the JSON schema that chat templates render as a tool.

The schema comes from two places: the type hints give each argument's JSON type, and the
Google-style docstring gives the descriptions::

    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> float:
        '''Get the current temperature in a city.

        Args:
            city: The city, e.g. "Paris"
            unit: The temperature unit

        Returns:
            The temperature.
        '''

    get_json_schema(get_weather)
    {'type': 'function', 'function': {'name': 'get_weather', 'description': 'Get the current temperature in a city.',
     'parameters': {'type': 'object', 'properties': {
         'city': {'type': 'string', 'description': 'The city, e.g. "Paris"'},
         'unit': {'type': 'string', 'enum': ['C', 'F'], 'description': 'The temperature unit'}},
      'required': ['city']},
     'return': {'type': 'number', 'description': 'The temperature.'}}}

An argument description may end in ``(choices: ["tea", "coffee"])`` (a JSON list), which becomes
the argument's ``enum``. ``self`` / ``cls`` without a hint are skipped, so bound methods work.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import types
import typing
from enum import Enum
from typing import Any, Literal, Union

from ..errors import ChatTemplateError

__all__ = ["DocstringParsingException", "TypeHintParsingException", "get_json_schema"]


class TypeHintParsingException(ChatTemplateError):
    """A tool function's argument has no type hint, or one that has no JSON schema equivalent."""


class DocstringParsingException(ChatTemplateError):
    """A tool function has no docstring, or its docstring does not describe every argument."""


# JSON scalars, the only values an "enum" (from Literal, Enum or "(choices: ...)") can hold
_SCALAR_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}
_PLAIN_TYPES = {**_SCALAR_TYPES, list: "array", tuple: "array", dict: "object"}
_SECTIONS = ("Args:", "Returns:", "Raises:")
# one argument line of an Args: block: "name: text" or "name (type): text"
_ARG_LINE = re.compile(r"^(\w+)(?:\s*\([^)]*\))?:(.*)$")
_CHOICES = re.compile(r"\(choices:\s*(.*?)\)\s*$", re.IGNORECASE)


def get_json_schema(func) -> dict:
    """The tool schema of ``func``: its name, docstring description, and a JSON schema of its arguments.

    Raises ``DocstringParsingException`` when the docstring is missing or leaves an argument
    undescribed, and ``TypeHintParsingException`` when an argument lacks a type hint or has one with
    no JSON equivalent (supported: int, float, str, bool, None, Any, list, tuple, dict, Literal,
    Enum classes, Optional / Union / ``X | Y``, and containers of those).
    """
    name = getattr(func, "__name__", "operation")
    doc = inspect.getdoc(func)
    if not doc or not doc.strip():
        raise DocstringParsingException(
            f"Cannot build a tool schema for {name}: it has no docstring. Add one with a description of the "
            "function and an 'Args:' section describing each argument (Google style)."
        )
    description, arg_docs, returns_doc = parse_google_docstring(doc.strip())
    parameters, return_schema = _signature_schema(func, name)
    for arg, schema in parameters["properties"].items():
        if arg not in arg_docs:
            raise DocstringParsingException(
                f"Cannot build a tool schema for {name}: the docstring does not describe the argument {arg!r}. "
                f"Add a line '{arg}: <what it is>' under 'Args:'."
            )
        text = arg_docs[arg]
        choices = _CHOICES.search(text)
        if choices:
            schema["enum"] = _parse_choices(choices.group(1), name, arg)
            text = text[: choices.start()].strip()
        schema["description"] = text
    function = {"name": name, "description": description, "parameters": parameters}
    if return_schema is not None:
        if returns_doc is not None:
            return_schema["description"] = returns_doc
        function["return"] = return_schema
    return {"type": "function", "function": function}


def parse_google_docstring(doc: str) -> tuple[str, dict[str, str], str | None]:
    """(description, {argument: description}, returns description) of a Google-style docstring.

    The description (before the first ``Args:`` / ``Returns:`` / ``Raises:`` line) and the returns
    text are kept as written; an argument description that spans several lines is joined with spaces.
    """
    lines = doc.splitlines()
    starts = [index for index, line in enumerate(lines) if line.strip() in _SECTIONS]
    first = starts[0] if starts else len(lines)
    description = "\n".join(lines[:first]).strip()
    sections: dict[str, list[str]] = {}
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(lines)
        sections.setdefault(lines[start].strip(), lines[start + 1 : end])
    returns = "\n".join(sections["Returns:"]).strip() if "Returns:" in sections else None
    return description, _parse_args_block(sections.get("Args:", [])), returns or None


def _parse_args_block(lines: list[str]) -> dict[str, str]:
    """``{name: description}``; a line indented deeper than the argument above continues it."""
    args: dict[str, list[str]] = {}
    current, current_indent = None, 0
    for line in lines:
        indent = len(line) - len(line.lstrip())
        match = _ARG_LINE.match(line.strip()) if current is None or indent <= current_indent else None
        if match:
            current, current_indent = args.setdefault(match.group(1), []), indent
            current.append(match.group(2))
        elif current is not None:
            current.append(line)
    return {name: _join(parts) for name, parts in args.items()}


def _join(lines: list[str]) -> str:
    return " ".join(line.strip() for line in lines if line.strip())


def _parse_choices(text: str, name: str, arg: str) -> list:
    try:
        choices = json.loads(text)
    except json.JSONDecodeError as error:
        raise DocstringParsingException(
            f"Cannot build a tool schema for {name}: the '(choices: ...)' of argument {arg!r} is not a JSON list "
            f"({error}). Write it like (choices: [\"tea\", \"coffee\"])."
        ) from None
    if not isinstance(choices, list):
        raise DocstringParsingException(
            f"Cannot build a tool schema for {name}: the '(choices: ...)' of argument {arg!r} must be a JSON list, "
            f"got {text!r}."
        )
    return [choice.strip() if isinstance(choice, str) else choice for choice in choices]


def _signature_schema(func, name: str) -> tuple[dict, dict | None]:
    """({"type": "object", "properties": ..., "required": ...}, the return schema or None)."""
    try:
        hints = typing.get_type_hints(func)
    except Exception as error:  # a string annotation naming something that cannot be imported
        raise TypeHintParsingException(f"Cannot read the type hints of {name}: {error}") from error
    parameters = inspect.signature(func).parameters
    receiver = next(iter(parameters), None)
    if receiver not in ("self", "cls") or parameters[receiver].annotation is not inspect.Parameter.empty:
        receiver = None
    required = []
    for arg, parameter in parameters.items():
        if arg == receiver:
            continue
        if parameter.annotation is inspect.Parameter.empty:
            raise TypeHintParsingException(
                f"Cannot build a tool schema for {name}: argument {arg!r} has no type hint. Annotate it, "
                f"e.g. '{arg}: str', so the model knows what to pass."
            )
        if parameter.default is inspect.Parameter.empty:
            required.append(arg)
    properties = {arg: _hint_schema(hint) for arg, hint in hints.items() if arg not in ("return", receiver)}
    schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, _return_schema(hints)


def _return_schema(hints: dict) -> dict | None:
    if "return" not in hints:
        return None
    try:
        return _hint_schema(hints["return"])
    except TypeHintParsingException:  # the model never writes the return value, so an odd one is left out
        return None


def _hint_schema(hint) -> dict:
    """The JSON schema of one type hint."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is None:
        return _plain_schema(hint)
    if origin is Union or origin is types.UnionType:
        return _union_schema(args)
    if origin is Literal and args:
        return _enum_schema(list(args), f"Literal{list(args)}")
    if origin is list:
        return {"type": "array", "items": _hint_schema(args[0])} if args else {"type": "array"}
    if origin is tuple:
        return _tuple_schema(hint, args)
    if origin is dict:
        schema = {"type": "object"}
        if len(args) == 2:  # JSON object keys are strings; only the value type can be said
            schema["additionalProperties"] = _hint_schema(args[1])
        return schema
    raise TypeHintParsingException(f"The type hint {hint!r} has no JSON schema equivalent. {_SUPPORTED}")


_SUPPORTED = (
    "Supported hints: int, float, str, bool, None, Any, list, tuple, dict, Literal, Enum classes, and Optional / "
    "Union / list / tuple / dict of those. For anything else, write the tool's JSON schema by hand and pass that."
)


def _plain_schema(hint) -> dict:
    if hint is Any:
        return {}
    if isinstance(hint, type) and issubclass(hint, Enum):
        return _enum_schema([member.value for member in hint], f"Enum {hint.__name__}")
    if hint in _PLAIN_TYPES:
        return {"type": _PLAIN_TYPES[hint]}
    media = _media_type(hint)
    if media is not None:
        return {"type": media}
    raise TypeHintParsingException(
        f"The type hint {hint!r} has no JSON schema equivalent (a custom class?). {_SUPPORTED}"
    )


def _media_type(hint) -> str | None:
    """Multimodal tool arguments: PIL images are "image", tensors "audio" (as the reference names them).

    Only checked when PIL / torch are already imported, so tokenization never imports them.
    """
    pil_image, torch = sys.modules.get("PIL.Image"), sys.modules.get("torch")
    if pil_image is not None and hint is getattr(pil_image, "Image", None):
        return "image"
    if torch is not None and hint is torch.Tensor:
        return "audio"
    return None


def _enum_schema(values: list, what: str) -> dict:
    if not values:
        raise TypeHintParsingException(f"The {what} has no members, so no value could ever match it.")
    bad = [value for value in values if type(value) not in _SCALAR_TYPES]
    if bad:
        raise TypeHintParsingException(
            f"The {what} holds values that are not JSON scalars ({bad!r}); enum values must be int, float, str, "
            "bool or None."
        )
    json_types = list(dict.fromkeys(_SCALAR_TYPES[type(value)] for value in values))
    return {"type": json_types[0] if len(json_types) == 1 else json_types, "enum": values}


def _union_schema(args: tuple) -> dict:
    options = [_hint_schema(arg) for arg in args if arg is not type(None)]
    if len(options) == 1:
        schema = options[0]
    elif all(option.keys() == {"type"} and isinstance(option["type"], str) for option in options):
        names = sorted({option["type"] for option in options})
        schema = {"type": names[0] if len(names) == 1 else names}
    else:  # options with items / enum / prefixItems keep them under anyOf
        schema = {"anyOf": options}
    if type(None) in args:
        schema["nullable"] = True
    return schema


def _tuple_schema(hint, args: tuple) -> dict:
    if not args:
        return {"type": "array"}
    if len(args) == 1:
        raise TypeHintParsingException(
            f"The type hint {hint!r} is a one-element tuple. Use list[...] if it can hold several values, or "
            "the element type alone if it is one value."
        )
    if ... in args:
        raise TypeHintParsingException(
            f"The type hint {hint!r} uses '...', which has no JSON schema equivalent; use list[...] for "
            "variable-length inputs."
        )
    return {"type": "array", "prefixItems": [_hint_schema(arg) for arg in args]}
