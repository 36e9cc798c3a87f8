"""``AttentionView``: every layer's and head's attention over a text, as a grid of thumbnails, and
the selected head's pattern token by token.

>>> from workbench.widgets import AttentionView
>>> AttentionView(model, tokenizer, "The cat sat on the mat.")                        # doctest: +SKIP
>>> AttentionView(bert, tokenizer, "The cat sat.", text_pair="It purred.")             # doctest: +SKIP
>>> AttentionView(t5, tokenizer, "translate English to German: Hi", target="Hallo")   # doctest: +SKIP
>>> AttentionView(attentions=output.attentions, tokens=tokens)                        # doctest: +SKIP

The model runs once (``output_attentions=True``, no gradients, dropout off); everything after is
selection. Encoders (BERT) and decoders (GPT-2, LLaMA: causal, lower-triangular) show
self-attention; encoder-decoders (T5, BART, Marian) show three kinds, chosen with ``.kind``:
``"encoder"``, ``"decoder"`` and ``"cross"`` (decoder tokens over encoder tokens). Padding is
dropped from both axes (``attention_mask``), so a padded batch shows each text as it would alone
(``batch_index`` picks the row).

State, for code and tests: ``.maps`` (kind -> :class:`~workbench.widgets.attention_maps.AttentionMap`),
``.kind`` / ``.layer`` / ``.head`` (settable; or ``.select(layer, head)``, or set ``.head_grid.value`` to
``(layer, head)`` as a click on the overview does, or the ``.layer_menu`` / ``.head_menu`` / ``.kind_buttons`` values),
``.weights`` (the selected head's (queries, keys) matrix), ``.entropy`` ((layers, heads), bits).
"""

from __future__ import annotations

import uuid

import numpy as np

from ..theme import VIEW_CSS
from ._display import Displayable, esc, import_ipywidgets
from .attention_html import KIND_NAMES, STYLE, head_html, head_label, overview_html, row_summary, thumbnail_masks
from .attention_maps import DEFAULT_MAX_TOKENS, AttentionMap, check_length, maps_from_model, maps_from_output

# The overview is one ToggleButtons (one widget model, not one per head): its buttons laid out as a
# grid, each a head, its thumbnail a mask (per-view rules select the buttons by their value).
LIVE_STYLE = """
.wb-attn .wb-attn-heads{margin:0}
.wb-attn .wb-attn-heads > div{display:grid;gap:2px}
.wb-attn .wb-attn-heads button.widget-toggle-button{position:relative;width:32px;height:32px;min-width:0;padding:0;
  margin:0;background:transparent;border:1px solid var(--wb-border);box-shadow:none;color:transparent;font-size:1px}
.wb-attn .wb-attn-heads button.widget-toggle-button::before{content:"";position:absolute;inset:0}
.wb-attn .wb-attn-heads button.widget-toggle-button.mod-active{outline:3px solid var(--wb-accent);outline-offset:1px}
.wb-attn .wb-attn-labels{margin:0;font-size:11px;white-space:nowrap;text-align:right}
.wb-attn .wb-attn-labels .widget-html-content{line-height:normal;height:auto}
.wb-attn .wb-attn-labels div.layer-row{height:34px;line-height:34px;padding-right:4px}
.wb-attn .wb-attn-labels div.head-row{display:grid;gap:2px;height:18px;line-height:18px;text-align:center}
.wb-attn .widget-html-content{line-height:1.4}
.wb-attn table.matrix{line-height:16px}
"""


class AttentionView(Displayable):
    """Attention weights by layer and head: an overview grid and the selected head's matrix.

    ``AttentionView(model, tokenizer, text)`` runs the model; ``text_pair=`` makes a sentence pair
    (BERT); an encoder-decoder needs ``target=`` (what its decoder reads). ``inputs=`` runs a dict of
    tensors instead of a text (labelled by ``tokens`` / ``decoder_tokens``, or the tokenizer, or positions).
    ``attentions=`` takes weights computed before: a model output, a tuple of per-layer
    (batch, heads, queries, keys) tensors, or a dict ``{"encoder": ..., "decoder": ..., "cross": ...}``,
    labelled by ``tokens`` (and ``decoder_tokens``), padding dropped by ``attention_mask``
    (``decoder_attention_mask``). Sequences longer than ``max_tokens`` raise a ValueError that says
    how to raise it.
    """

    def __init__(self, model=None, tokenizer=None, text: str | None = None, *, text_pair: str | None = None,
                 target: str | None = None, inputs: dict | None = None, attentions=None, tokens=None,
                 decoder_tokens=None, attention_mask=None, decoder_attention_mask=None, batch_index: int = 0,
                 max_tokens: int = DEFAULT_MAX_TOKENS, layer: int = 0, head: int = 0, kind: str | None = None) -> None:
        if attentions is not None:
            self.maps = maps_from_output(attentions, tokens, decoder_tokens, attention_mask=attention_mask,
                                         decoder_attention_mask=decoder_attention_mask, batch_index=batch_index)
            for found in self.maps.values():
                check_length(f"{KIND_NAMES[found.kind]}'s sequence", max(found.weights.shape[-2:]), max_tokens)
            self.name = type(model).__name__ if model is not None else "attentions"
        elif model is not None:
            self.maps = maps_from_model(model, tokenizer, text, text_pair=text_pair, target=target, inputs=inputs,
                                        tokens=tokens, decoder_tokens=decoder_tokens, batch_index=batch_index,
                                        max_tokens=max_tokens)
            self.name = type(model).__name__
        else:
            raise TypeError("AttentionView needs a model (with a tokenizer and a text, or inputs=), "
                            "or attentions= (with tokens=).")
        self._kind = kind if kind is not None else next(iter(self.maps))
        self._check(self._kind, layer, head)
        self._layer, self._head = layer, head
        self._uid = f"wb-attn-{uuid.uuid4().hex[:8]}"  # scopes this view's thumbnail classes on the page
        self._updating = False
        self._masks: dict[str, list[list[str]]] = {}  # kind -> each head's thumbnail, made once
        self._build_widget()
        self._redraw(rebuild_grid=True)

    # --- state ---------------------------------------------------------------------------------

    @property
    def map(self) -> AttentionMap:
        """The selected kind's :class:`AttentionMap`."""
        return self.maps[self._kind]

    @property
    def kinds(self) -> list[str]:
        return list(self.maps)

    @property
    def kind(self) -> str:
        return self._kind

    @kind.setter
    def kind(self, value: str) -> None:
        self.select(kind=value)

    @property
    def layer(self) -> int:
        return self._layer

    @layer.setter
    def layer(self, value: int) -> None:
        self.select(layer=value)

    @property
    def head(self) -> int:
        return self._head

    @head.setter
    def head(self, value: int) -> None:
        self.select(head=value)

    @property
    def weights(self) -> np.ndarray:
        """The selected head's (queries, keys) weights."""
        return self.map.weights[self._layer, self._head]

    @property
    def entropy(self) -> np.ndarray:
        """(layers, heads) mean row entropy in bits, for the selected kind."""
        return self.map.entropy

    def _check(self, kind: str, layer: int, head: int) -> None:
        if kind not in self.maps:
            raise ValueError(f"No {kind!r} attention here; this view has {self.kinds}.")
        amap = self.maps[kind]
        if not 0 <= layer < amap.num_layers:
            raise IndexError(f"layer {layer} is out of range: {KIND_NAMES[kind]} has layers 0..{amap.num_layers - 1}.")
        if not 0 <= head < amap.num_heads:
            raise IndexError(f"head {head} is out of range: {KIND_NAMES[kind]} has heads 0..{amap.num_heads - 1}.")

    def select(self, layer: int | None = None, head: int | None = None, kind: str | None = None) -> None:
        """Show another head (and kind); a layer or head past the new kind's range is clamped to its last."""
        kind = self._kind if kind is None else kind
        if kind not in self.maps:
            raise ValueError(f"No {kind!r} attention here; this view has {self.kinds}.")
        amap = self.maps[kind]
        layer = min(self._layer, amap.num_layers - 1) if layer is None else int(layer)
        head = min(self._head, amap.num_heads - 1) if head is None else int(head)
        self._check(kind, layer, head)
        rebuild = kind != self._kind
        self._kind, self._layer, self._head = kind, layer, head
        self._redraw(rebuild_grid=rebuild)
        self.refresh_saved_view()

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        widgets = import_ipywidgets()
        self.style_html = widgets.HTML()
        shown = widgets.Layout(display="" if len(self.maps) > 1 else "none")
        self.kind_buttons = widgets.ToggleButtons(options=[(KIND_NAMES[k], k) for k in self.maps], value=self._kind,
                                                  description="attention", layout=shown)
        self.layer_menu = widgets.Dropdown(description="layer", layout=widgets.Layout(width="230px"))
        self.head_menu = widgets.Dropdown(description="head", layout=widgets.Layout(width="230px"))
        self.head_grid = widgets.ToggleButtons(style={"button_width": "32px"})
        self.head_grid.add_class("wb-attn-heads")
        self.grid_caption = widgets.HTML()
        self.layer_labels = widgets.HTML()
        self.layer_labels.add_class("wb-attn-labels")
        self.head_labels = widgets.HTML()
        self.head_labels.add_class("wb-attn-labels")
        self.head_view = widgets.HTML()
        self.kind_buttons.observe(lambda change: self._from_control(kind=change["new"]), names="value")
        self.layer_menu.observe(lambda change: self._from_control(layer=change["new"]), names="value")
        self.head_menu.observe(lambda change: self._from_control(head=change["new"]), names="value")
        self.head_grid.observe(self._on_grid, names="value")
        grid = widgets.HBox([self.layer_labels, widgets.VBox([self.head_labels, self.head_grid])],
                            layout=widgets.Layout(max_height="560px", overflow="auto"))
        overview = widgets.VBox([self.grid_caption, grid])
        body = widgets.HBox([overview, self.head_view], layout=widgets.Layout(flex_flow="row wrap", grid_gap="16px"))
        controls = widgets.HBox([self.layer_menu, self.head_menu])
        self.widget = widgets.VBox([self.style_html, self.kind_buttons, controls, body])
        for name in ("wb-view", "wb-attn", self._uid):
            self.widget.add_class(name)

    def _from_control(self, **change) -> None:
        if not self._updating:
            self.select(**change)

    def _on_grid(self, change) -> None:
        if not self._updating and change["new"] is not None:
            self.select(*change["new"])

    def _build_grid(self) -> None:
        """The overview for the selected kind: a button per head (value ``(layer, head)``, tooltip its
        summary), thumbnails and the grid's width in this view's own style rules."""
        amap = self.map
        heads = [(layer, head) for layer in range(amap.num_layers) for head in range(amap.num_heads)]
        self.head_grid.options = [(f"layer {layer} head {head}", (layer, head)) for layer, head in heads]
        self.head_grid.tooltips = [head_label(amap, layer, head) for layer, head in heads]
        columns = f"grid-template-columns:repeat({amap.num_heads},32px)"
        self.head_labels.value = (f'<div class="head-row" style="{columns}">'
                                  + "".join(f"<span>h{h}</span>" for h in range(amap.num_heads)) + "</div>")
        self.layer_labels.value = '<div class="head-row"></div>' + "".join(
            f'<div class="layer-row">layer {layer} <span class="muted">{amap.layer_entropy[layer]:.2f}</span></div>'
            for layer in range(amap.num_layers))
        scope = f".{self._uid} .wb-attn-heads"
        masks = self._thumbnails()
        thumbs = "".join(f'{scope} button[value="{index}"]::before{{{masks[layer][head]}}}'
                         for index, (layer, head) in enumerate(heads))
        self.style_html.value = f"<style>{VIEW_CSS}{STYLE}{LIVE_STYLE}{scope} > div{{{columns}}}{thumbs}</style>"
        self.grid_caption.value = (f"<b>{esc(KIND_NAMES[self._kind])}</b>: {amap.num_layers} layers &times; "
                                   f"{amap.num_heads} heads <span class=\"muted\">(beside each layer: its heads' mean "
                                   "entropy in bits; click a head to show it)</span>")

    def _thumbnails(self) -> list[list[str]]:
        if self._kind not in self._masks:
            self._masks[self._kind] = thumbnail_masks(self.map)
        return self._masks[self._kind]

    def _redraw(self, rebuild_grid: bool = False) -> None:
        amap = self.map
        self._updating = True
        try:
            if rebuild_grid:
                self._build_grid()
                self.kind_buttons.value = self._kind
                self.layer_menu.options = [(f"{i} · {amap.layer_entropy[i]:.2f} bits", i)
                                           for i in range(amap.num_layers)]
            self.layer_menu.value = self._layer
            self.head_menu.options = [(f"{h} · {amap.entropy[self._layer, h]:.2f} bits", h)
                                      for h in range(amap.num_heads)]
            self.head_menu.value = self._head
            self.head_grid.value = (self._layer, self._head)
        finally:
            self._updating = False
        self.head_view.value = head_html(amap, self._layer, self._head)

    # --- static views --------------------------------------------------------------------------

    def _title(self) -> str:
        amap = self.map
        kinds = ", ".join(KIND_NAMES[k] for k in self.maps)
        return (f"AttentionView({self.name}): {kinds}; {len(amap.query_tokens)} query x {len(amap.key_tokens)} "
                f"key tokens")

    def to_html(self) -> str:
        """The overview and the selected head, read-only (for a notebook reopened without its kernel)."""
        amap = self.map
        others = [KIND_NAMES[k] for k in self.maps if k != self._kind]
        note = (f' <span class="muted">(also computed: {esc(", ".join(others))}; select it in the live view)</span>'
                if others else "")
        return (f'<div class="wb-view wb-attn"><style>{VIEW_CSS}{STYLE}</style>'
                f"<div><b>{esc(self._title())}</b>{note}</div>"
                f'<div class="cols"><div>{overview_html(amap, self._layer, self._head, self._thumbnails())}</div>'
                f"<div>{head_html(amap, self._layer, self._head)}</div></div></div>")

    def to_text(self) -> str:
        amap = self.map
        lines = [self._title(), "tokens: " + " ".join(amap.query_tokens)]
        if amap.key_tokens != amap.query_tokens:
            lines.append("keys:   " + " ".join(amap.key_tokens))
        lines.append(f"{KIND_NAMES[self._kind]}, mean entropy per layer (bits): "
                     + "  ".join(f"L{i} {value:.2f}" for i, value in enumerate(amap.layer_entropy)))
        lines.append("selected: " + head_label(amap, self._layer, self._head)
                     + (" (causal: no token sees a later one)" if amap.causal else ""))
        width = max(len(token) for token in amap.query_tokens)
        lines += [f"  {token:>{width}} -> {row_summary(amap, self._layer, self._head, q)}"
                  for q, token in enumerate(amap.query_tokens)]
        return "\n".join(lines)
