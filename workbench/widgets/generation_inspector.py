"""``GenerationInspector``: step through one ``generate()`` call.

>>> from workbench.widgets import GenerationInspector
>>> GenerationInspector(model, tokenizer, "The capital of France is", max_new_tokens=12)       # doctest: +SKIP
>>> GenerationInspector(model, tokenizer, [{"role": "user", "content": "Hi!"}],
...                     do_sample=True, temperature=0.7, top_p=0.9, seed=0)                     # doctest: +SKIP

At each step: the most likely candidates before and after the logits processors, the chosen
token, what each processor changed (repetition penalty, no-repeat n-grams, temperature, top-k,
top-p, ...), and the logit lens: the next-token distribution read from the hidden state after each
layer. Keyword arguments go to ``model.generate`` unchanged, so the recorded tokens are the ones
``generate`` returns for them (``seed=`` seeds torch first, for sampling).

State, for code and tests: ``.trace`` (:class:`~workbench.widgets.generation_trace.GenerationTrace`:
``.steps``, ``.sequences``, ``.logits``, ``.scores``), ``.step`` (0-based, settable),
``.lens(step)`` (:class:`~workbench.widgets.generation_trace.LensRow` per layer). The controls
(``.slider``, ``.prev_button``, ``.next_button``, ``.token_buttons``) drive the same state.
"""

from __future__ import annotations

from html import escape

from ..theme import VIEW_CSS
from ._display import Displayable, import_ipywidgets
from .generation_trace import (
    GenerationStep, LensRow, TokenNamer, format_probability, lens_logits, lens_parts, lens_rows, record_generation,
)

STYLE = """
.wb-gen{font-size:13px;line-height:1.45}
.wb-gen h4{margin:8px 0 4px;font-size:13px}
.wb-gen .muted{color:var(--wb-fg-muted)}
.wb-gen .prompt{color:var(--wb-fg-muted);white-space:pre-wrap;font-family:var(--jp-code-font-family,monospace)}
.wb-gen .tok{display:inline-block;margin:1px;padding:0 3px;border:1px solid var(--wb-border);border-radius:3px;
 background:var(--wb-bg-alt);color:var(--wb-fg);font-family:var(--jp-code-font-family,monospace);white-space:pre}
.wb-gen .tok.sel{background:var(--wb-select-bg);color:var(--wb-select-fg);border-color:var(--wb-accent)}
.wb-gen table{border-collapse:collapse;margin:2px 0 6px;color:inherit;font-size:inherit}
.wb-gen th,.wb-gen td{padding:1px 6px;text-align:left;border-bottom:1px solid var(--wb-border);vertical-align:top}
.wb-gen td.num{text-align:right;font-variant-numeric:tabular-nums}
.wb-gen tr.chosen td{background:var(--wb-select-bg);color:var(--wb-select-fg)}
.wb-gen tr.removed td{color:var(--wb-fg-muted)}
.wb-gen code{font-family:var(--jp-code-font-family,monospace);white-space:pre;color:inherit;background:transparent}
.wb-gen .bar{display:block;height:4px;background:var(--wb-accent);min-width:1px}
.wb-gen .barcell{min-width:90px}
.wb-gen .lens td.hit{outline:2px solid var(--wb-accent);outline-offset:-2px;font-weight:bold}
.wb-gen ol{margin:2px 0 6px;padding-left:22px}
.wb-gen-slider .widget-readout{max-width:none !important;min-width:18em;text-align:left}
"""


_p = format_probability


def _bar(value: float) -> str:
    return (f'<span class="barcell"><code>{_p(value)}</code>'
            f'<span class="bar" style="width:{max(0.0, min(1.0, value)) * 100:.1f}%"></span></span>')


def _model_name(model) -> str:
    path = str(getattr(model.config, "_name_or_path", "") or "").rstrip("/\\")
    return path.replace("\\", "/").split("/")[-1] or type(model).__name__


class GenerationInspector(Displayable):
    """Record ``model.generate(prompt, **generate_kwargs)`` step by step and show it.

    ``prompt_or_messages``: a string, a list of chat messages (through the chat template, the
    assistant's turn opened) or token ids. ``seed``: ``torch.manual_seed(seed)`` before generating.
    ``top``: candidates listed per step; ``lens_top``: tokens per layer in the logit lens
    (``lens=False`` leaves the lens out, for a model it does not support)."""

    def __init__(self, model, tokenizer, prompt_or_messages, *, seed: int | None = None, top: int = 10,
                 lens: bool = True, lens_top: int = 5, step: int = 0, **generate_kwargs) -> None:
        import_ipywidgets()  # before the generation, not after it, when ipywidgets is missing
        self.model, self.tokenizer = model, tokenizer
        self.namer = TokenNamer(tokenizer)
        self.top, self.lens_top = top, lens_top
        if lens:
            lens_parts(model)  # says now, not at the first step, when the model has no lens
        self.show_lens = lens
        self.trace = record_generation(model, tokenizer, prompt_or_messages, namer=self.namer, seed=seed, top=top,
                                       **generate_kwargs)
        if not self.trace.steps:
            raise ValueError("generate() produced no new token to inspect: raise max_new_tokens.")
        self.seed = seed
        self._lens: dict[int, list[LensRow]] = {}
        self._step = min(max(int(step), 0), len(self.steps) - 1)
        self._build_widget()
        self._show()

    # --- state ---------------------------------------------------------------------------------

    @property
    def steps(self) -> list[GenerationStep]:
        return self.trace.steps

    @property
    def generated_text(self) -> str:
        return self.tokenizer.decode(self.trace.generated_ids)

    @property
    def step(self) -> int:
        """The selected step, 0-based (the view numbers steps from 1)."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        value = int(value)
        if not 0 <= value < len(self.steps):
            raise IndexError(f"step {value} is out of range: this generation has steps 0..{len(self.steps) - 1}.")
        self._control = self._control or "code"  # code moved it: leave the keyboard focus where it is
        try:
            if self.slider.value != value:
                self.slider.value = value  # the observer shows it
            else:
                self._select(value)
        finally:
            self._control = None

    def lens(self, step: int | None = None) -> list[LensRow]:
        """The logit lens of ``step`` (the selected one by default): one row per layer, computed
        once on the prompt and the tokens generated before that step."""
        step = self._step if step is None else step
        if step not in self._lens:
            length = self.trace.input_ids.shape[1] + step
            names, logits, final = lens_logits(self.model, self.trace.sequences[:, :length])
            self._lens[step] = lens_rows(names, logits, final, self.steps[step].token_id, self.namer, self.lens_top)
        return self._lens[step]

    def label(self, step: int) -> str:
        return f"step {step + 1} of {len(self.steps)}: token {self.steps[step].text!r}"

    # --- widget --------------------------------------------------------------------------------

    def _build_widget(self) -> None:
        widgets = import_ipywidgets()
        options = [(self.label(i), i) for i in range(len(self.steps))]
        self.slider = widgets.SelectionSlider(options=options, index=self._step, description="step",
                                              continuous_update=False, layout=widgets.Layout(flex="1 1 auto"))
        self.slider.add_class("wb-gen-slider")
        fixed = dict(width="auto", flex="0 0 auto")  # never squeezed by the slider
        self.prev_button = widgets.Button(description="◀ prev", tooltip="previous step", layout=widgets.Layout(**fixed))
        self.next_button = widgets.Button(description="next ▶", tooltip="next step", layout=widgets.Layout(**fixed))
        self.prev_button.add_class("wb-gen-prev")
        self.next_button.add_class("wb-gen-next")
        self.prev_button.on_click(lambda button: self._move(-1, button))
        self.next_button.on_click(lambda button: self._move(1, button))
        self.token_buttons = []
        for index, step in enumerate(self.steps):
            button = widgets.Button(description=step.text, tooltip=f"{self.label(index)} (p {_p(step.probability)})",
                                    layout=widgets.Layout(width="auto", height="auto", margin="1px"))
            button.add_class("wb-gen-token")
            button.on_click(lambda button, index=index: self._move(index - self._step, button))
            self.token_buttons.append(button)
        self._control = None  # what changed the step: a control (focused again after the refresh) or "code"
        self.slider.observe(lambda change: self._select(change["new"]), names="value")
        self.header = widgets.HTML(self._wrap(self._header_html(), style=False))
        self.detail = widgets.HTML()
        tokens = widgets.Box(self.token_buttons, layout=widgets.Layout(flex_flow="row wrap"))
        controls = widgets.HBox([self.prev_button, self.slider, self.next_button],
                                layout=widgets.Layout(width="100%", align_items="center"))
        self.widget = widgets.VBox([self.header, controls, tokens, self.detail])

    def _move(self, delta: int, control) -> None:
        self._control = control
        self.step = min(max(self._step + delta, 0), len(self.steps) - 1)

    def _select(self, index: int) -> None:
        self._step = index
        self._show()
        self.refresh_saved_view()
        control = self._control or self.slider  # no button and no code: the slider was moved
        if self._display_handles and control != "code":
            # the refresh redraws the live view from its model, which drops the keyboard focus:
            # give it back to the control that was used
            control.focus()

    def _show(self) -> None:
        for index, button in enumerate(self.token_buttons):
            button.button_style = "primary" if index == self._step else ""
        self.prev_button.disabled = self._step == 0
        self.next_button.disabled = self._step == len(self.steps) - 1
        self.detail.value = self._wrap(self._step_html(self._step))

    # --- views ---------------------------------------------------------------------------------

    def _wrap(self, body: str, style: bool = True) -> str:
        """A view's HTML; the theme's CSS once per view (the live header relies on the detail's)."""
        css = f"<style>{VIEW_CSS}{STYLE}</style>" if style else ""
        return f'<div class="wb-view wb-gen">{css}{body}</div>'

    def _header_html(self) -> str:
        settings = ", ".join(f"{name}={value!r}" for name, value in self.trace.settings.items())
        seed = f", seed={self.seed}" if self.seed is not None else ""
        prompt = self.tokenizer.decode(self.trace.input_ids[0].tolist())
        return (f"<div><b>{escape(_model_name(self.model))}</b>.generate({escape(settings)}{seed}): "
                f"{len(self.steps)} new tokens after a {self.trace.input_ids.shape[1]}-token prompt</div>"
                f'<div class="prompt" aria-label="prompt (its last 400 characters)">{escape(prompt[-400:])}</div>')

    def _tokens_html(self) -> str:
        chips = []
        for index, step in enumerate(self.steps):
            selected = " sel" if index == self._step else ""
            chips.append(f'<span class="tok{selected}" tabindex="0" title="{escape(self.label(index))}, '
                         f'p {_p(step.probability)}">{escape(step.text)}</span>')
        return f'<div role="list" aria-label="generated tokens">{"".join(chips)}</div>'

    def _candidates_html(self, step: GenerationStep) -> str:
        rows = []
        for c in step.candidates:
            kind = "chosen" if c.id == step.token_id else ("removed" if c.probability == 0 < c.raw_probability else "")
            mark = " ← chosen" if kind == "chosen" else ""
            rows.append(f'<tr class="{kind}"><td><code>{escape(c.text)}</code>{mark}</td><td class="num">{c.id}</td>'
                        f"<td>{_bar(c.raw_probability)}</td><td>{_bar(c.probability)}</td>"
                        f'<td class="num">{c.logit:.3f}</td><td class="num">{c.score:.3f}</td></tr>')
        head = ("<tr><th>token</th><th>id</th><th>p before processors</th><th>p after</th><th>logit</th>"
                "<th>processed score</th></tr>")
        return f"<h4>Candidates</h4><table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"

    def _effects_html(self, step: GenerationStep) -> str:
        if not step.effects:
            return "<h4>Logits processors</h4><div class=\"muted\">none ran: the scores are the raw logits</div>"
        items = []
        for effect in step.effects:
            changes = "".join(f"<li><code>{escape(c.text)}</code> p {_p(c.before)} → {_p(c.after)} "
                              f"(score {c.score_before:.3f} → {c.score_after:.3f})</li>" for c in effect.changes)
            settings = f" ({escape(effect.settings)})" if effect.settings else ""
            items.append(f"<li><b>{escape(effect.processor)}</b>{settings}: {escape(effect.summary)}"
                         f"{f'<ul>{changes}</ul>' if changes else ''}</li>")
        return f"<h4>Logits processors, in order</h4><ol>{''.join(items)}</ol>"

    def _lens_html(self, step: GenerationStep) -> str:
        if not self.show_lens:
            return ""
        rows = []
        for row in self.lens(step.index):
            cells = "".join(f'<td class="{"hit" if t.id == step.token_id else ""}"><code>{escape(t.text)}</code> '
                            f"{_bar(t.probability)}</td>" for t in row.top)
            rows.append(f'<tr><th scope="row">{escape(row.name)}</th>{cells}'
                        f'<td class="num">{_p(row.chosen_probability)} (rank {row.chosen_rank})</td></tr>')
        tops = "".join(f"<th>top {i + 1}</th>" for i in range(self.lens_top))
        return (f"<h4>Logit lens: the next token read after each layer (final norm + LM head, before the "
                f"processors)</h4><table class=\"lens\"><thead><tr><th>layer</th>{tops}"
                f"<th><code>{escape(step.text)}</code></th></tr></thead><tbody>{''.join(rows)}</tbody></table>")

    def _step_html(self, index: int) -> str:
        step = self.steps[index]
        title = (f"<h4>{escape(self.label(index))} (id {step.token_id}): p {_p(step.probability)} after the "
                 f"processors, {_p(step.raw_probability)} before; rank {step.rank}</h4>")
        return title + self._candidates_html(step) + self._effects_html(step) + self._lens_html(step)

    def _steps_table(self) -> str:
        rows = []
        for s in self.steps:
            effects = "; ".join(f"{e.processor}: {e.summary}" for e in s.effects if e.removed or e.changed)
            rows.append(f'<tr><td class="num">{s.index + 1}</td><td><code>{escape(s.text)}</code></td>'
                        f'<td class="num">{s.token_id}</td><td class="num">{_p(s.probability)}</td>'
                        f'<td class="num">{s.rank}</td><td>{escape(effects)}</td></tr>')
        rows = "".join(rows)
        return ("<details><summary>every step</summary><table><thead><tr><th>step</th><th>token</th><th>id</th>"
                "<th>p</th><th>rank</th><th>processors</th></tr></thead>"
                f"<tbody>{rows}</tbody></table></details>")

    def to_html(self) -> str:
        """The whole trace, read-only: every step's token, and the selected step's detail."""
        return self._wrap(self._header_html() + self._tokens_html() + self._steps_table()
                          + self._step_html(self._step))

    def to_text(self) -> str:
        step = self.steps[self._step]
        lines = [f"GenerationInspector({_model_name(self.model)}): {len(self.steps)} new tokens: "
                 f"{self.generated_text!r}",
                 " ".join(f"{s.text}[{_p(s.probability)}]" for s in self.steps),
                 f"{self.label(self._step)}, p {_p(step.probability)}, rank {step.rank}"]
        lines += [f"  {c.text!r}: p {_p(c.raw_probability)} -> {_p(c.probability)}" for c in step.candidates[:5]]
        lines += [f"  {e.processor}: {e.summary}" for e in step.effects]
        return "\n".join(lines)
