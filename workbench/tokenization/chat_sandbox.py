"""The jinja2 sandbox chat templates run in, and the one cached function that compiles them.

Chat templates come from the Hub, so they are untrusted code. They run in jinja2's
``ImmutableSandboxedEnvironment`` (no attribute starting with ``_``, no mutating methods), made
stricter in three ways:

* reaching for an unsafe attribute (``''.__class__``, ``cycler.__init__``) raises at once instead of
  rendering as an empty string, so a probing template fails loudly;
* ``{% import %}``, ``{% include %}``, ``{% extends %}`` are refused when the template compiles
  (there is nothing to load);
* everything the template sees is rebuilt from plain JSON types first (``chat.template_data``), so
  no object with dangerous methods (tensors, images, file handles) gets in.

Both failures raise ``ChatTemplateSecurityError``; every other template failure raises
``ChatTemplateError`` naming the cause. Besides jinja2's builtins, templates get the names chat
templates on the Hub rely on: ``raise_exception(msg)``, ``strftime_now(fmt)``, a ``tojson`` that
leaves non-ASCII and HTML characters alone, ``namespace`` and ``dict``, ``{% break %}`` /
``{% continue %}``, and ``{% generation %}...{% endgeneration %}``, which marks the assistant text
that ``apply_chat_template(return_assistant_tokens_mask=True)`` turns into a mask.
"""

from __future__ import annotations

import dataclasses
import json
from contextvars import ContextVar
from datetime import datetime
from functools import lru_cache

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import ChatTemplateError, ChatTemplateSecurityError

CACHE_SIZE = 16  # compiled templates kept; a program rarely uses more than a few


@lru_cache(maxsize=CACHE_SIZE)
def compile_chat_template(template: str) -> jinja2.Template:
    """The compiled form of ``template`` (cached by its text: compiling costs milliseconds, rendering microseconds)."""
    if not isinstance(template, str):
        raise ChatTemplateError(f"A chat template must be a str of jinja2 source, got {type(template).__name__}.")
    environment = _environment()
    try:
        tree = environment.parse(template)
    except TemplateSyntaxError as error:
        raise ChatTemplateError(
            f"The chat template does not compile: {error.message} (line {error.lineno}). Fix the jinja2 syntax "
            "there, or pass another template with chat_template=..."
        ) from error
    loads = next(tree.find_all((nodes.Import, nodes.FromImport, nodes.Include, nodes.Extends)), None)
    if loads is not None:
        raise ChatTemplateSecurityError(
            f"The chat template uses {{% {type(loads).__name__.lower()} %}} (line {loads.lineno}); chat templates "
            "must be self-contained and cannot load other templates or modules."
        )
    return environment.from_string(tree)


def render(template: jinja2.Template, variables: dict, track_generation: bool = False):
    """(text, spans): the rendered template and the (start, end) characters of each ``{% generation %}`` block.

    ``spans`` is empty unless ``track_generation``. Failures raise ``ChatTemplateError``.
    """
    tracker = _Spans() if track_generation else None
    token = _TRACKER.set(tracker)
    try:
        if tracker is None:
            return template.render(**variables), []
        pieces = []
        for piece in template.generate(**variables):
            pieces.append(piece)
            tracker.length += len(piece)
        return "".join(pieces), tracker.spans
    except _TemplateRaised as error:
        raise ChatTemplateError(f"The chat template rejected this input: {error.message}") from error
    except SecurityError as error:
        raise ChatTemplateSecurityError(
            f"The chat template tried to reach Python internals and was stopped: {error}. Templates may only "
            "read the messages and variables passed to them; do not use this template."
        ) from error
    except TemplateError as error:
        raise ChatTemplateError(f"The chat template failed while rendering: {error}") from error
    except Exception as error:
        raise ChatTemplateError(
            f"The chat template failed while rendering ({type(error).__name__}: {error}). Check that the messages "
            "have the fields this template expects."
        ) from error
    finally:
        _TRACKER.reset(token)


# --- the environment ------------------------------------------------------------------------------


class _Sandbox(ImmutableSandboxedEnvironment):
    def unsafe_undefined(self, obj, attribute):
        # jinja2 returns an Undefined that prints as ''; a template probing internals should fail instead
        raise SecurityError(f"access to attribute {attribute!r} of a {type(obj).__name__!r} object is unsafe")


@dataclasses.dataclass
class _Spans:
    length: int = 0  # characters rendered so far
    spans: list = dataclasses.field(default_factory=list)


# The render in progress on this thread, if it tracks {% generation %} blocks. The tag's callback runs
# while the template's generator is being consumed by render(), so `length` is where the block starts.
_TRACKER: ContextVar[_Spans | None] = ContextVar("workbench_chat_generation_spans", default=None)


class _GenerationTag(Extension):
    """``{% generation %}...{% endgeneration %}`` renders its body and records where it landed."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.CallBlock(self.call_method("_record"), [], [], body).set_lineno(lineno)

    def _record(self, caller):
        text = caller()
        tracker = _TRACKER.get()
        if tracker is not None:
            tracker.spans.append((tracker.length, tracker.length + len(text)))
        return text


class _TemplateRaised(TemplateError):
    """What ``raise_exception`` throws, told apart from jinja2's own errors."""


def _raise_exception(message):
    raise _TemplateRaised(str(message))


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    # jinja2's own tojson escapes <, >, & and ' for HTML and sorts keys; chat templates want plain JSON
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class _DictFactory:
    """``dict`` inside templates: ``dict(a=1)`` and ``dict.fromkeys(keys)``, but no type object to climb from."""

    def __call__(self, *args, **kwargs) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, keys, value=None) -> dict:
        return dict.fromkeys(keys, value)


class _Namespace(jinja2.utils.Namespace):
    """jinja2's ``namespace()``, refusing attribute names that start with an underscore."""

    def __init__(*args, **kwargs):  # no named `self`, so namespace(self=...) still works
        attrs = dict(*args[1:], **kwargs)
        for name in attrs:
            _Namespace._check(name)
        jinja2.utils.Namespace.__init__(args[0], attrs)

    def __setitem__(self, name, value):
        _Namespace._check(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check(name):
        if isinstance(name, str) and name.startswith("_"):
            raise SecurityError(f"a namespace attribute may not start with an underscore, got {name!r}")


@lru_cache(maxsize=1)
def _environment() -> _Sandbox:
    environment = _Sandbox(
        trim_blocks=True, lstrip_blocks=True, extensions=[_GenerationTag, "jinja2.ext.loopcontrols"]
    )
    environment.filters["tojson"] = _tojson
    environment.globals.update(
        raise_exception=_raise_exception, strftime_now=_strftime_now, dict=_DictFactory(), namespace=_Namespace
    )
    return environment
