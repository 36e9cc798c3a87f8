"""The adapters of a model, one table for every view that shows them (``TrainingCurves``,
``ModelPicker``): each adapter's name, peft method, whether it is active, its parameter count and
how many of those train, its config (``r``, ``alpha``, targets); above them the model's trainable
and total parameters and the trainable share, as peft's ``print_trainable_parameters`` gives them.

>>> table = AdapterTable.from_model(model)     # None for a model without adapters   # doctest: +SKIP
>>> table                                       # in a notebook: the themed HTML table  # doctest: +SKIP
adapters: 2 loaded, 1 active; trainable 896 of 20,896 parameters (4.29%)
  * sft    LORA  active  896 parameters,  896 trainable  r=4, alpha=8, targets q_proj, v_proj
    other  LORA  loaded  256 parameters,    0 trainable  r=2, alpha=8, targets o_proj

From files alone (an adapter folder, a run's checkpoint): :meth:`AdapterTable.from_facts`, with
the counts read from the safetensors header; the adapter's name is not in peft's files.

The HTML uses only the theme's ``--wb-*`` variables (light and dark) and marks the active adapter
in text ("active" and a ``*``), not by colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from ..catalog_adapters import AdapterFacts, config_details

CSS = (".wb-adapters{border-collapse:collapse;margin:2px 0 6px 0;font-size:12px}"
       ".wb-adapters caption{text-align:left;color:var(--wb-fg);caption-side:top;padding-bottom:2px}"
       ".wb-adapters th,.wb-adapters td{padding:1px 8px;text-align:left;border-bottom:1px solid var(--wb-border);"
       "color:var(--wb-fg);background:transparent}"
       ".wb-adapters td.num{text-align:right;font-variant-numeric:tabular-nums}"
       ".wb-adapters tr.active td{font-weight:600}"
       ".wb-adapters .muted{color:var(--wb-fg-muted)}")


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def percent(part: int | None, whole: int | None) -> str:
    return "-" if part is None or not whole else f"{100 * part / whole:.2f}%"


@dataclass
class AdapterTable:
    """Rows ``{name, method, active, parameters, trainable, details}`` (``active`` None: not
    loaded, read from files) and the whole model's ``total`` and ``trainable`` parameter counts."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    total: int | None = None
    trainable: int | None = None
    loaded: bool = True  # False: read from files, not a model in memory

    @classmethod
    def from_model(cls, model) -> "AdapterTable | None":
        """The model's adapters (``model.adapter_summary()``); None without any."""
        summary = getattr(model, "adapter_summary", None)
        rows = summary() if callable(summary) else []
        if not rows:
            return None
        configs = getattr(model, "peft_config", None) or {}
        rows = [{**row, "details": config_details(configs[row["name"]]) if row["name"] in configs else ""}
                for row in rows]
        parameters = list(model.parameters())  # each shared tensor once
        return cls(rows, sum(p.numel() for p in parameters), sum(p.numel() for p in parameters if p.requires_grad))

    @classmethod
    def from_facts(cls, facts: AdapterFacts | None, name: str | None = None) -> "AdapterTable | None":
        """One adapter read from its files: what trains is the adapter, the total is the base's
        parameters and the adapter's (unknown while the base is not found)."""
        if facts is None or facts.method is None:
            return None
        row = {"name": name, "method": facts.method, "active": None, "parameters": facts.num_parameters,
               "trainable": facts.num_parameters, "details": facts.details()}
        total = None if facts.base_parameters is None or facts.num_parameters is None \
            else facts.base_parameters + facts.num_parameters
        return cls([row], total, facts.num_parameters, loaded=False)

    # --- words ---------------------------------------------------------------------------------

    @property
    def active_names(self) -> list[str]:
        return [row["name"] for row in self.rows if row["active"]]

    def label(self) -> str:
        """Which adapter, in a few words: ``sft (LORA, r=8, alpha=16, ...)`` (without the name when
        the files do not hold it), for a run's title."""
        chosen = [row for row in self.rows if row["active"]] or self.rows
        described = [(row["name"], ", ".join(filter(None, [row["method"], row["details"]]))) for row in chosen]
        return "; ".join(f"{name} ({text})" if name else text for name, text in described)

    def summary(self) -> str:
        """``adapters: 2 loaded, 1 active; trainable 1,536 of 9,920 parameters (15.48%)``."""
        if self.loaded:
            head = f"adapters: {len(self.rows)} loaded, {len(self.active_names)} active"
        else:
            head = "adapter (from its saved files)"
        if self.total is None:
            return f"{head}; {count(self.trainable)} trainable parameters (the base model's count is unknown)"
        return f"{head}; trainable {count(self.trainable)} of {count(self.total)} parameters " \
               f"({percent(self.trainable, self.total)})"

    @staticmethod
    def _state(row: dict) -> str:
        return "saved" if row["active"] is None else ("active" if row["active"] else "loaded")

    def to_text(self) -> str:
        """The summary line, then one aligned line per adapter (``*`` marks the active ones)."""
        columns = [[row["name"] or "(name not saved)", str(row["method"]), self._state(row),
                    f"{count(row['parameters'])} parameters,", f"{count(row['trainable'])} trainable", row["details"]]
                   for row in self.rows]
        widths = [max(len(cells[i]) for cells in columns) for i in range(len(columns[0]))] if columns else []
        lines = [self.summary()]
        for row, cells in zip(self.rows, columns):
            padded = [cell.ljust(width) if i not in (3, 4) else cell.rjust(width)
                      for i, (cell, width) in enumerate(zip(cells, widths))]
            lines.append(f"  {'*' if row['active'] else ' '} " + "  ".join(padded).rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from ..theme import VIEW_CSS

        return f'<div class="wb-view"><style>{VIEW_CSS}{CSS}</style>{self.to_html()}</div>'

    def __repr__(self) -> str:
        return self.to_text()

    def to_html(self, caption_prefix: str = "") -> str:
        """A ``<table class="wb-adapters">``; put :data:`CSS` and the theme's ``VIEW_CSS`` in the
        view's ``<style>`` (inside a ``wb-view``)."""
        cells = []
        for row in self.rows:
            active = bool(row["active"])
            name = escape(row["name"]) if row["name"] else '<span class="muted">(name not saved)</span>'
            marked = (' class="active"', "* ") if active else ("", "")
            cells.append(
                f"<tr{marked[0]}><td>{marked[1]}{name}</td>"
                f"<td>{escape(str(row['method']))}</td><td>{self._state(row)}</td>"
                f'<td class="num">{count(row["parameters"])}</td><td class="num">{count(row["trainable"])}</td>'
                f"<td>{escape(row['details'])}</td></tr>")
        caption = escape(caption_prefix + self.summary())
        return (f'<table class="wb-adapters" tabindex="0" aria-label="adapters"><caption>{caption}</caption>'
                "<tr><th>adapter</th><th>method</th><th>state</th><th>parameters</th><th>trainable</th>"
                "<th>config</th></tr>" + "".join(cells) + "</table>")
