"""``TokenizerInspector``: a text's tokens as coloured chips, beside up to three more tokenizers'
(with where each splits differently from the first), or a conversation through the chat template
with the assistant tokens marked; given a causal LM, each token coloured by its log-probability.

>>> from workbench.widgets import TokenizerInspector
>>> TokenizerInspector(tokenizer, text="Tokenization is unbelievable")              # doctest: +SKIP
>>> TokenizerInspector(bert, gpt2, llama, text="Hello café 👋🏽 naïve")               # doctest: +SKIP
>>> TokenizerInspector(bert, text="...", compare=[gpt2, llama])                      # doctest: +SKIP
>>> TokenizerInspector(tokenizer, text="The capital of France is Paris.", model=lm)  # doctest: +SKIP
>>> TokenizerInspector(chat_tokenizer, chat=[{"role": "user", "content": "Hi"},
...                                         {"role": "assistant", "content": "Hello!"}])  # doctest: +SKIP

State, for code and tests: ``.text`` (settable), ``.tokenizers``, ``.tokenizations`` (one
:class:`~workbench.widgets.token_view.TokenPiece` list per tokenizer; ``.pieces`` /
``.other_pieces`` are the first two), ``.groups`` (the characters byte pieces spell), ``.comparisons``
(split differences of each later tokenizer against the first; ``.differences`` is the first of
them), ``.chat_view``, ``.model``. The controls (``.text_box``, ``.special_box``,
``.view_buttons``, ``.generation_prompt_box``) drive the same state; each mode shows only its own.
"""

from __future__ import annotations

import os
from html import escape

from ..theme import VIEW_CSS
from ._display import Displayable, import_ipywidgets
from .token_html import STYLE, differences_html, logprob_legend, pieces_html, pieces_table, tokens_json
from .token_view import (
    TOKENS_MIME,
    ChatView,
    TokenPiece,
    char_groups,
    chat_view,
    piece_lengths,
    pieces_over,
    set_logprobs,
    split_differences,
    tokenize,
)

DEFAULT_TEXT = "Tokenization is unbelievable!\nNew line, tab\tand café 🤗"
MAX_TOKENIZERS = 4


def _name(tokenizer) -> str:
    name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__).rstrip("/\\")
    base = os.path.basename(name)
    if base in ("model", "tokenizer") and os.path.dirname(name):  # a package's data folder: name the package
        base = os.path.basename(os.path.dirname(name))
    return base or name


def _model_name(model) -> str:
    config = getattr(model, "config", None)
    path = (getattr(model, "name_or_path", "") or getattr(config, "name_or_path", "")
            or getattr(config, "_name_or_path", ""))
    return os.path.basename(str(path).rstrip("/\\")) or type(model).__name__


def _gather(tokenizer, more: tuple, text: str | None, other, compare) -> tuple[list, str | None]:
    """The tokenizers (first, positional extras, ``other=``, ``compare=``) and a positional text."""
    tokenizers = [tokenizer]
    for item in more:
        if isinstance(item, str):  # TokenizerInspector(tokenizer, "some text"): the older call
            if text is not None:
                raise TypeError("TokenizerInspector got the text twice (positionally and text=); pass it once")
            text = item
        else:
            tokenizers.append(item)
    tokenizers += [other] if other is not None else []
    tokenizers += list(compare or [])
    if len(tokenizers) > MAX_TOKENIZERS:
        raise ValueError(f"TokenizerInspector shows at most {MAX_TOKENIZERS} tokenizers side by side, "
                         f"got {len(tokenizers)}: compare fewer at a time")
    return tokenizers, text


class TokenizerInspector(Displayable):
    """Tokens with ids, offsets, source text and special tokens marked. More tokenizers
    (positional, ``other=`` or ``compare=[...]``, four in all) are shown beside the first with
    where each splits differently from it; ``chat=`` shows a conversation through the chat
    template (``tools=``, ``chat_template=``, ``add_generation_prompt=`` are passed on to it);
    ``model=`` (a causal LM that goes with the first tokenizer) colours every token by its
    log-probability (see :meth:`set_model`)."""

    def __init__(self, tokenizer, *more, text: str | None = None, other=None, compare: list | None = None,
                 chat: list | None = None, tools=None, chat_template: str | None = None,
                 add_generation_prompt: bool = False, add_special_tokens: bool = True, show_ids: bool = True,
                 model=None) -> None:
        self.tokenizers, text = _gather(tokenizer, more, text, other, compare)
        self.tokenizer = tokenizer
        self.chat, self.tools, self.chat_template = chat, tools, chat_template
        self._add_generation_prompt = add_generation_prompt
        self.show_ids = show_ids
        self.model = model
        self._text = DEFAULT_TEXT if text is None else text
        self._add_special_tokens = add_special_tokens
        self.view = "chat" if chat is not None else "text"
        self.tokenizations: list[list[TokenPiece]] = [[] for _ in self.tokenizers]
        self.group_lists: list[list] = [[] for _ in self.tokenizers]
        self.comparisons: list[list] = [[] for _ in self.tokenizers[1:]]
        self.chat_view: ChatView | None = None
        self.error: str | None = None
        self._build_widget()
        self.refresh()

    # --- state ---------------------------------------------------------------------------------

    @property
    def other(self):
        return self.tokenizers[1] if len(self.tokenizers) > 1 else None

    @property
    def pieces(self) -> list[TokenPiece]:
        return self.tokenizations[0]

    @property
    def other_pieces(self) -> list[TokenPiece]:
        return self.tokenizations[1] if len(self.tokenizations) > 1 else []

    @property
    def groups(self) -> list:
        return self.group_lists[0]

    @property
    def differences(self) -> list:
        return self.comparisons[0] if self.comparisons else []

    @property
    def text(self) -> str:
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        self._text = value
        if self.text_box.value != value:
            self.text_box.value = value  # the observer refreshes
        else:
            self.refresh()

    @property
    def add_special_tokens(self) -> bool:
        return self._add_special_tokens

    @add_special_tokens.setter
    def add_special_tokens(self, value: bool) -> None:
        self._add_special_tokens = bool(value)
        if self.special_box.value != value:
            self.special_box.value = bool(value)
        else:
            self.refresh()

    @property
    def add_generation_prompt(self) -> bool:
        return self._add_generation_prompt

    @add_generation_prompt.setter
    def add_generation_prompt(self, value: bool) -> None:
        self._add_generation_prompt = bool(value)
        if self.generation_prompt_box.value != value:
            self.generation_prompt_box.value = bool(value)
        else:
            self.refresh()

    @property
    def ids(self) -> list[int]:
        return [piece.id for piece in self.pieces]

    @property
    def offsets(self) -> list[tuple[int, int]]:
        return [(piece.start, piece.end) for piece in self.pieces]

    @property
    def logprobs(self) -> list[float | None]:
        """The first tokenizer's tokens' log-probabilities (``None`` for the first token)."""
        return [piece.logprob for piece in self.pieces]

    def set_model(self, model) -> None:
        """Colour each token (in chat mode, each assistant token) by ``log p(token | tokens before
        it)`` under ``model``, a causal LM that goes with the first tokenizer; ``None`` stops."""
        self.model = model
        self.refresh()

    def refresh(self) -> None:
        """Tokenize again (text, options, chat or model changed), redraw, and rewrite the saved view."""
        self.error = None
        try:
            self._tokenize_all()
        except Exception as error:  # shown in the widget: a bad template should not kill the view
            self.error = f"{type(error).__name__}: {error}"
        self.output.value = self._body()
        self.refresh_saved_view()

    def _tokenize_all(self) -> None:
        self.tokenizations = [tokenize(t, self._text, self._add_special_tokens) for t in self.tokenizers]
        self.group_lists = [char_groups(t, p) for t, p in zip(self.tokenizers, self.tokenizations)]
        lengths = [piece_lengths(t, p) for t, p in zip(self.tokenizers, self.tokenizations)]
        self.comparisons = [split_differences(self._text, self.pieces, pieces, (lengths[0], their_lengths))
                            for pieces, their_lengths in zip(self.tokenizations[1:], lengths[1:])]
        self.chat_view = None
        if self.chat is not None:
            self.chat_view = chat_view(self.tokenizer, self.chat, tools=self.tools, chat_template=self.chat_template,
                                       add_generation_prompt=self._add_generation_prompt)
        if self.model is not None:
            set_logprobs(self.model, self.pieces)
            if self.chat_view is not None:
                set_logprobs(self.model, self.chat_view.pieces)

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        widgets = import_ipywidgets()
        # continuous_update=False: retokenize (and rewrite the saved view) when the edit is done,
        # not per keystroke
        self.text_box = widgets.Textarea(value=self._text, description="text", continuous_update=False,
                                         layout=widgets.Layout(width="100%", height="70px"))
        self.special_box = widgets.Checkbox(value=self._add_special_tokens, description="add special tokens",
                                            indent=False)
        self.generation_prompt_box = widgets.Checkbox(value=self._add_generation_prompt, indent=False,
                                                      description="add generation prompt")
        self.view_buttons = widgets.ToggleButtons(options=["text", "chat"], value=self.view,
                                                  tooltips=["the text box's text", "the conversation"])
        self.output = widgets.HTML()
        self.text_box.observe(self._on_text, names="value")
        self.special_box.observe(self._on_special, names="value")
        self.generation_prompt_box.observe(self._on_generation_prompt, names="value")
        self.view_buttons.observe(self._on_view, names="value")
        controls = widgets.HBox([self.view_buttons, self.special_box, self.generation_prompt_box])
        self.widget = widgets.VBox([self.text_box, controls, self.output])
        self._show_controls()

    def _show_controls(self) -> None:
        """Text mode: the text box and special-tokens box; chat mode: the chat's own options.
        The text/chat switch only when there is a chat to switch to."""
        chat = self.view == "chat"
        self.text_box.layout.display = "none" if chat else ""
        self.special_box.layout.display = "none" if chat else ""
        self.generation_prompt_box.layout.display = "" if chat else "none"
        self.view_buttons.layout.display = "" if self.chat is not None else "none"

    def _on_text(self, change) -> None:
        self._text = change["new"]
        self.refresh()

    def _on_special(self, change) -> None:
        self._add_special_tokens = bool(change["new"])
        self.refresh()

    def _on_generation_prompt(self, change) -> None:
        self._add_generation_prompt = bool(change["new"])
        self.refresh()

    def _on_view(self, change) -> None:
        self.view = change["new"]
        self._show_controls()
        self.output.value = self._body()
        self.refresh_saved_view()

    # --- views ---------------------------------------------------------------------------------

    def _flagged(self, pieces: list[TokenPiece], differences: list) -> set[int]:
        return {p.index for found in pieces_over(pieces, [(d.start, d.end) for d in differences]) for p in found}

    def _panel(self, position: int) -> str:
        tokenizer, pieces, groups = self.tokenizers[position], self.tokenizations[position], self.group_lists[position]
        differences = ([d for ds in self.comparisons for d in ds] if position == 0
                       else self.comparisons[position - 1])
        scored = position == 0 and self.model is not None
        name = _name(tokenizer)
        title = f"<b>{escape(name)}</b>: {len(pieces)} tokens"
        legend = logprob_legend(_model_name(self.model), pieces) if scored else ""
        chips = pieces_html(pieces, self.show_ids, self._flagged(pieces, differences), text=self._text,
                            groups=groups, logprobs=scored, label=f"{len(pieces)} tokens of {name}")
        return f"<div>{title}{legend}{chips}{pieces_table(pieces, groups=groups, logprobs=scored)}</div>"

    def _text_body(self) -> str:
        if len(self.tokenizers) == 1:
            return self._panel(0)
        columns = "".join(f"<div>{self._panel(i)}</div>" for i in range(len(self.tokenizers)))
        first = _name(self.tokenizer)
        diffs = "".join(differences_html(ds, first, _name(t)) for t, ds in zip(self.tokenizers[1:], self.comparisons))
        return f'<div class="cols">{columns}</div>{diffs}'

    def _chat_body(self) -> str:
        view = self.chat_view
        if view is None:
            return ""
        how = ("the template's {% generation %} mask" if view.method == "generation"
               else "locating the assistant messages' contents in the rendered text")
        name = _name(self.tokenizer)
        summary = (f"<b>{escape(name)}</b> chat template: {len(view.pieces)} tokens, "
                   f"{len(view.assistant_tokens)} of them the assistant's (green; found by {escape(how)})")
        scored = self.model is not None
        legend = logprob_legend(_model_name(self.model), view.pieces, chat=True) if scored else ""
        tokens = pieces_html(view.pieces, self.show_ids, chat=True, text=view.text, groups=view.groups,
                             logprobs=scored, label=f"{len(view.pieces)} chat tokens of {name}")
        table = pieces_table(view.pieces, chat=True, groups=view.groups, logprobs=scored)
        return f"<div>{summary}{legend}{tokens}{table}</div>"

    def _wrap(self, body: str) -> str:
        return f'<div class="wb-view wb-tok"><style>{VIEW_CSS}{STYLE}</style>{body}</div>'

    def _body(self) -> str:
        if self.error:
            return self._wrap(f'<div class="err" role="alert">{escape(self.error)}</div>')
        return self._wrap(self._chat_body() if self.view == "chat" else self._text_body())

    def to_html(self) -> str:
        """The static view: what the live view shows now, read-only (and the chat below the text
        when the chat was switched away from)."""
        if self.chat_view is not None and self.view == "text" and not self.error:
            return self._wrap(self._text_body() + self._chat_body())
        return self._body()

    def to_dict(self) -> dict:
        """The tokens as JSON (:func:`~workbench.widgets.token_html.tokens_json`)."""
        others = [{"name": _name(t), "pieces": p, "groups": g, "differences": d}
                  for t, p, g, d in zip(self.tokenizers[1:], self.tokenizations[1:], self.group_lists[1:],
                                        self.comparisons)]
        return tokens_json(_name(self.tokenizer), self._text, self.pieces, chat=self.chat_view,
                           show_ids=self.show_ids, groups=self.groups, others=others,
                           model=None if self.model is None else _model_name(self.model), view=self.view)

    def mime_data(self) -> dict:
        return {TOKENS_MIME: self.to_dict()}

    def to_text(self) -> str:
        lines = [f"TokenizerInspector({_name(self.tokenizer)}): {len(self.pieces)} tokens"]
        lines.append(" ".join(f"{p.text}[{p.id}]" for p in self.pieces))
        if self.model is not None:
            scores = ("-" if p.logprob is None else f"{p.logprob:.2f}" for p in self.pieces)
            lines.append("log-probs: " + " ".join(scores))
        for tokenizer, pieces, differences in zip(self.tokenizers[1:], self.tokenizations[1:], self.comparisons):
            lines.append(f"{_name(tokenizer)}: {len(pieces)} tokens")
            lines.append(" ".join(f"{p.text}[{p.id}]" for p in pieces))
            lines += [f"split differently: {d.text!r}: {' | '.join(d.tokens)}  vs  {' | '.join(d.other_tokens)}"
                      for d in differences]
        if self.chat_view is not None:
            marked = "".join(p.text for p in self.chat_view.assistant_tokens)
            lines.append(f"chat: {len(self.chat_view.pieces)} tokens, assistant tokens: {marked!r}")
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)
