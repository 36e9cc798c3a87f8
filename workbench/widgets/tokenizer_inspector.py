"""``TokenizerInspector``: a text's tokens as coloured spans, optionally beside a second
tokenizer's, or a conversation through the chat template with the assistant tokens marked.

>>> from workbench.widgets import TokenizerInspector
>>> TokenizerInspector(tokenizer, text="Tokenization is unbelievable")          # doctest: +SKIP
>>> TokenizerInspector(bert_tokenizer, text="...", other=llama_tokenizer)        # doctest: +SKIP
>>> TokenizerInspector(chat_tokenizer, chat=[{"role": "user", "content": "Hi"},
...                                         {"role": "assistant", "content": "Hello!"}])  # doctest: +SKIP

State, for code and tests: ``.text`` (settable), ``.pieces`` / ``.other_pieces``
(:class:`~workbench.widgets.token_view.TokenPiece` lists), ``.differences``, ``.chat_view``.
The controls (``.text_box``, ``.special_box``, ``.view_buttons``) drive the same state.
"""

from __future__ import annotations

import os
from html import escape

from ._display import Displayable, import_ipywidgets
from .token_view import (
    STYLE,
    TOKENS_MIME,
    ChatView,
    TokenPiece,
    chat_view,
    differences_html,
    pieces_html,
    pieces_table,
    split_differences,
    tokenize,
    tokens_json,
)

DEFAULT_TEXT = "Tokenization is unbelievable!\nNew line, tab\tand café 🤗"


def _name(tokenizer) -> str:
    name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__).rstrip("/\\")
    base = os.path.basename(name)
    if base in ("model", "tokenizer") and os.path.dirname(name):  # a package's data folder: name the package
        base = os.path.basename(os.path.dirname(name))
    return base or name


class TokenizerInspector(Displayable):
    """Tokens with ids, offsets and special tokens marked; ``other=`` compares two tokenizers;
    ``chat=`` shows a conversation through the chat template (``tools=``, ``chat_template=``,
    ``add_generation_prompt=`` are passed on to it)."""

    def __init__(self, tokenizer, text: str = DEFAULT_TEXT, other=None, *, chat: list | None = None, tools=None,
                 chat_template: str | None = None, add_generation_prompt: bool = False,
                 add_special_tokens: bool = True, show_ids: bool = True) -> None:
        self.tokenizer, self.other = tokenizer, other
        self.chat, self.tools, self.chat_template = chat, tools, chat_template
        self.add_generation_prompt = add_generation_prompt
        self.show_ids = show_ids
        self._text, self._add_special_tokens = text, add_special_tokens
        self.view = "chat" if chat is not None else "text"
        self.pieces: list[TokenPiece] = []
        self.other_pieces: list[TokenPiece] = []
        self.differences = []
        self.chat_view: ChatView | None = None
        self.error: str | None = None
        self._build_widget()
        self.refresh()

    # --- state ---------------------------------------------------------------------------------

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
    def ids(self) -> list[int]:
        return [piece.id for piece in self.pieces]

    @property
    def offsets(self) -> list[tuple[int, int]]:
        return [(piece.start, piece.end) for piece in self.pieces]

    def refresh(self) -> None:
        """Tokenize again (text, options or chat changed) and redraw."""
        self.error = None
        try:
            self.pieces = tokenize(self.tokenizer, self._text, self._add_special_tokens)
            if self.other is not None:
                self.other_pieces = tokenize(self.other, self._text, self._add_special_tokens)
                self.differences = split_differences(self._text, self.pieces, self.other_pieces)
            if self.chat is not None:
                self.chat_view = chat_view(self.tokenizer, self.chat, tools=self.tools,
                                           chat_template=self.chat_template,
                                           add_generation_prompt=self.add_generation_prompt)
        except Exception as error:  # shown in the widget: a bad template should not kill the view
            self.error = f"{type(error).__name__}: {error}"
        self.output.value = self._body()

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        widgets = import_ipywidgets()
        self.text_box = widgets.Textarea(value=self._text, description="text", continuous_update=True,
                                         layout=widgets.Layout(width="100%", height="70px"))
        self.special_box = widgets.Checkbox(value=self._add_special_tokens, description="add special tokens",
                                            indent=False)
        shown = widgets.Layout(display="" if self.chat is not None else "none")  # no chat, no toggle
        self.view_buttons = widgets.ToggleButtons(options=["text", "chat"], value=self.view, layout=shown)
        self.output = widgets.HTML()
        self.text_box.observe(self._on_text, names="value")
        self.special_box.observe(self._on_special, names="value")
        self.view_buttons.observe(self._on_view, names="value")
        controls = widgets.HBox([self.special_box, self.view_buttons])
        self.widget = widgets.VBox([self.text_box, controls, self.output])

    def _on_text(self, change) -> None:
        self._text = change["new"]
        self.refresh()

    def _on_special(self, change) -> None:
        self._add_special_tokens = bool(change["new"])
        self.refresh()

    def _on_view(self, change) -> None:
        self.view = change["new"]
        self.output.value = self._body()

    # --- views ---------------------------------------------------------------------------------

    def _panel(self, tokenizer, pieces: list[TokenPiece], flagged: set[int]) -> str:
        title = f"<b>{escape(_name(tokenizer))}</b>: {len(pieces)} tokens"
        return f"<div>{title}{pieces_html(pieces, self.show_ids, flagged)}{pieces_table(pieces)}</div>"

    def _flagged(self, pieces: list[TokenPiece]) -> set[int]:
        return {p.index for p in pieces for d in self.differences
                if p.end > p.start and p.start < d.end and p.end > d.start}

    def _text_body(self) -> str:
        if self.other is None:
            return self._panel(self.tokenizer, self.pieces, set())
        left = self._panel(self.tokenizer, self.pieces, self._flagged(self.pieces))
        right = self._panel(self.other, self.other_pieces, self._flagged(self.other_pieces))
        diff = differences_html(self.differences, _name(self.tokenizer), _name(self.other))
        return f'<div class="cols"><div>{left}</div><div>{right}</div></div>{diff}'

    def _chat_body(self) -> str:
        view = self.chat_view
        if view is None:
            return ""
        how = ("the template's {% generation %} mask" if view.method == "generation"
               else "locating the assistant messages' contents in the rendered text")
        summary = (f"<b>{escape(_name(self.tokenizer))}</b> chat template: {len(view.pieces)} tokens, "
                   f"{len(view.assistant_tokens)} of them the assistant's (green; found by {escape(how)})")
        tokens = pieces_html(view.pieces, self.show_ids, chat=True)
        return f"<div>{summary}{tokens}{pieces_table(view.pieces, chat=True)}</div>"

    def _body(self) -> str:
        if self.error:
            body = f'<div style="color:#b71c1c">{escape(self.error)}</div>'
        elif self.view == "chat":
            body = self._chat_body()
        else:
            body = self._text_body()
        return f'<div class="wb-tok"><style>{STYLE}</style>{body}</div>'

    def to_html(self) -> str:
        if self.chat is not None and self.view == "text":
            return self._body() + self._chat_html_only()
        return self._body()

    def _chat_html_only(self) -> str:
        return f'<div class="wb-tok">{self._chat_body()}</div>' if self.chat_view is not None else ""

    def to_dict(self) -> dict:
        """The tokens as JSON (:func:`~workbench.widgets.token_view.tokens_json`)."""
        other = self.other is not None
        return tokens_json(_name(self.tokenizer), self._text, self.pieces,
                           other_name=_name(self.other) if other else None,
                           other_pieces=self.other_pieces if other else None,
                           differences=self.differences if other else None, chat=self.chat_view,
                           show_ids=self.show_ids)

    def mime_data(self) -> dict:
        return {TOKENS_MIME: self.to_dict()}

    def to_text(self) -> str:
        lines = [f"TokenizerInspector({_name(self.tokenizer)}): {len(self.pieces)} tokens"]
        lines.append(" ".join(f"{p.text}[{p.id}]" for p in self.pieces))
        if self.other is not None:
            lines.append(f"{_name(self.other)}: {len(self.other_pieces)} tokens")
            lines.append(" ".join(f"{p.text}[{p.id}]" for p in self.other_pieces))
            lines += [f"split differently: {d.text!r}: {' | '.join(d.tokens)}  vs  {' | '.join(d.other_tokens)}"
                      for d in self.differences]
        if self.chat_view is not None:
            marked = "".join(p.text for p in self.chat_view.assistant_tokens)
            lines.append(f"chat: {len(self.chat_view.pieces)} tokens, assistant tokens: {marked!r}")
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)
