"""The tokenizer inspector's HTML (live widget and static fallback alike) and the JSON that the
JupyterLab renderer (extension/src/tokens.ts) draws the same way.

Every colour is a theme variable (:mod:`workbench.theme`): chips use ``chip_colour(i)`` behind
``--wb-chip-fg`` text; log-probability colours mix ``--wb-error-fg`` into the page background
(at most 45%, which keeps ``--wb-fg`` text above 4.5:1 in light and dark). Chips are focusable;
their details (id, piece, source text, offsets, log-prob) are their ``aria-label`` and show in a
line under the chip on focus, so nothing needs a mouse hover.
"""

from __future__ import annotations

import dataclasses
import math
from html import escape

from ..theme import chip_colour
from .token_view import CharGroup, ChatView, SplitDifference, TokenPiece, show_whitespace

LOGPROB_FLOOR = 10.0  # nats: a token this unlikely or more gets the strongest colour
LOGPROB_MIX = 45  # percent of --wb-error-fg mixed into the background at the floor

STYLE = """
.wb-tok{font-family:system-ui,sans-serif;font-size:12px}
.wb-tok .toks{line-height:2.3em}
.wb-tok .tk{display:inline-block;position:relative;margin:1px;padding:0 3px;border-radius:3px;
 font-family:monospace;white-space:pre;line-height:1.2em;text-align:center;vertical-align:top;
 color:var(--wb-chip-fg);border:1px solid transparent}
.wb-tok .tk sub{display:block;font-size:9px;color:var(--wb-chip-fg)}
.wb-tok .tk.sp{background:var(--wb-bg-alt) !important;color:var(--wb-fg);border:1px dashed var(--wb-border);
 font-style:italic}
.wb-tok .tk.diff{border-bottom:2px solid var(--wb-error-fg)}
.wb-tok .tk.as{background:color-mix(in srgb,var(--wb-ok-fg) 25%,var(--wb-bg)) !important;color:var(--wb-fg);
 outline:1px solid var(--wb-ok-fg)}
.wb-tok .tk.na{background:var(--wb-bg-alt) !important;color:var(--wb-fg-muted)}
.wb-tok .tk.na sub{color:var(--wb-fg-muted)}
.wb-tok .tk.lp,.wb-tok .tk.lp sub{color:var(--wb-fg)}
.wb-tok .tk.nolp{background:var(--wb-bg) !important;color:var(--wb-fg);border:1px dashed var(--wb-border)}
.wb-tok .tk:focus::after,.wb-tok .grp>.ch:focus::after{content:attr(data-details);position:absolute;left:0;
 top:100%;z-index:5;margin-top:2px;padding:2px 5px;white-space:pre;font-size:11px;font-style:normal;
 text-align:left;color:var(--wb-fg);background:var(--wb-bg);border:1px solid var(--wb-border);border-radius:3px}
.wb-tok .grp{display:inline-block;vertical-align:top;margin:1px;padding:0 1px;border:1px solid var(--wb-border);
 border-radius:4px;text-align:center}
.wb-tok .grp>.ch{display:block;position:relative;font-size:14px;line-height:1.3em;color:var(--wb-fg)}
.wb-tok .gap{font-family:monospace;color:var(--wb-fg-muted);padding:0 1px}
.wb-tok table{border-collapse:collapse;margin-top:4px}
.wb-tok th,.wb-tok td{border:1px solid var(--wb-border);padding:1px 6px;font-family:monospace;text-align:left;
 color:var(--wb-fg)}
.wb-tok .cols{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.wb-tok .cols>div{flex:1;min-width:240px}
.wb-tok .legend{margin:4px 0;display:flex;flex-wrap:wrap;gap:6px;align-items:center;color:var(--wb-fg)}
.wb-tok .legend .sw{display:inline-block;padding:0 5px;border-radius:3px;font-family:monospace;color:var(--wb-fg)}
.wb-tok .err{color:var(--wb-error-fg)}
.wb-tok .note{color:var(--wb-fg-muted)}
"""


def logprob_colour(logprob: float | None) -> str | None:
    """The background for a token of this log-probability: none for ``None``, the page
    background at 0 nats, ``--wb-error-fg`` mixed in up to 45% at ``-LOGPROB_FLOOR`` and below."""
    if logprob is None or math.isnan(logprob):
        return None
    share = min(max(-logprob, 0.0) / LOGPROB_FLOOR, 1.0)
    return f"color-mix(in srgb,var(--wb-error-fg) {round(share * LOGPROB_MIX)}%,var(--wb-bg))"


def details(piece: TokenPiece) -> str:
    """What a chip says without hover: its aria-label, and the line shown when it has focus."""
    parts = [f"token {piece.index}: id {piece.id}", f"piece {piece.token!r}", f"source {piece.source!r}",
             f"chars {piece.start}-{piece.end}"]
    if piece.hex:
        parts.append(f"bytes {piece.hex}")
    if piece.logprob is not None:
        parts.append(f"log-prob {piece.logprob:.2f} nats")
    if piece.special:
        parts.append("special")
    if piece.assistant:
        parts.append("assistant")
    return ", ".join(parts)


def _chip(piece: TokenPiece, show_ids: bool, flagged: set[int], chat: bool, logprobs: bool) -> str:
    classes, colour = ["tk"], chip_colour(piece.index)
    if piece.special:
        classes.append("sp")
    if piece.index in flagged:
        classes.append("diff")
    if chat and not logprobs:
        classes.append("as" if piece.assistant else "na")
    if logprobs:
        colour = logprob_colour(piece.logprob) if (piece.assistant or not chat) else None
        classes.append("lp" if colour else ("na" if chat and not piece.assistant else "nolp"))
    label = escape(details(piece), quote=True)
    sub = f"<sub>{piece.id}</sub>" if show_ids else ""
    style = f' style="background:{colour}"' if colour else ""
    return (f'<span class="{" ".join(classes)}"{style} tabindex="0" role="listitem" aria-label="{label}" '
            f'data-details="{label}" title="{label}">{escape(piece.text) or "&#8203;"}{sub}</span>')


def _group(group: CharGroup, chips: list[str], pieces: list[TokenPiece]) -> str:
    label = escape(f"{group.text!r} spelled by tokens {group.first}-{group.last} "
                   f"({', '.join(p.token for p in pieces)}; bytes {group.hex})", quote=True)
    return (f'<span class="grp" role="listitem"><span class="ch" tabindex="0" aria-label="{label}" '
            f'data-details="{label}" title="{label}">{escape(group.text)}</span>'
            f'<span role="list">{"".join(chips)}</span></span>')


def _gap(text: str) -> str:
    """Text that no token covers (WordPiece drops whitespace): shown, marked, not a chip."""
    label = escape(f"not in any token: {text!r}", quote=True)
    marker = f'<span class="gap" title="{label}" aria-hidden="true">{escape(show_whitespace(text))}</span>'
    return marker + ("<br>" if "\n" in text else "")


def pieces_html(pieces: list[TokenPiece], show_ids: bool = True, flagged: set[int] | None = None,
                chat: bool = False, *, text: str | None = None, groups: list[CharGroup] | None = None,
                logprobs: bool = False, label: str = "tokens") -> str:
    """Tokens as coloured chips (ids under them), byte pieces of one character under that
    character, and the whitespace no token covers (given ``text``) marked between them."""
    flagged, groups = flagged or set(), groups or []
    out: list[str] = []
    covered = 0
    index = 0
    while index < len(pieces):
        piece = pieces[index]
        if text is not None and piece.end > piece.start:
            if piece.start > covered:
                out.append(_gap(text[covered:piece.start]))
            covered = max(covered, piece.end)
        if piece.group is not None and piece.group < len(groups):
            group = groups[piece.group]
            members = pieces[group.first:group.last + 1]
            out.append(_group(group, [_chip(m, show_ids, flagged, chat, logprobs) for m in members], members))
            covered = max([covered, *(m.end for m in members)])
            shown, index = group.text, group.last + 1
        else:
            out.append(_chip(piece, show_ids, flagged, chat, logprobs))
            shown, index = piece.text, index + 1
        if shown.endswith("↵") and not piece.special:
            out.append("<br>")
    if text is not None and covered < len(text) and pieces:
        out.append(_gap(text[covered:]))
    return f'<div class="toks" role="list" aria-label="{escape(label, quote=True)}">{"".join(out)}</div>'


def pieces_table(pieces: list[TokenPiece], chat: bool = False, groups: list[CharGroup] | None = None,
                 logprobs: bool = False) -> str:
    """Every token: its index, vocabulary piece, the source text its offsets cover, what it
    shows, id, offsets (and log-prob, assistant flag)."""
    groups = groups or []
    head = ["#", "piece", "source text", "shown", "id", "start", "end"]
    head += ["log-prob"] if logprobs else []
    head += ["special"] + (["assistant"] if chat else [])
    rows = []
    for p in pieces:
        shown = escape(p.text)
        if p.group is not None and p.group < len(groups):
            shown += f" (part of {escape(groups[p.group].text)})"
        cells = [p.index, escape(p.token), escape(p.source), shown, p.id, p.start, p.end]
        if logprobs:
            cells.append("-" if p.logprob is None else f"{p.logprob:.3f}")
        cells.append("yes" if p.special else "")
        if chat:
            cells.append("yes" if p.assistant else "")
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    return (f"<details><summary>table of {len(pieces)} tokens</summary>"
            f"<table>{header}{''.join(rows)}</table></details>")


def differences_html(differences: list[SplitDifference], name: str, other_name: str) -> str:
    if not differences:
        return (f"<div>{escape(name)} and {escape(other_name)} cut this text at the same places "
                "(whitespace aside).</div>")
    head = f"<tr><th>text</th><th>{escape(name)}</th><th>{escape(other_name)}</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(show_whitespace(d.text))}</td><td>{escape(' | '.join(d.tokens))}</td>"
        f"<td>{escape(' | '.join(d.other_tokens))}</td></tr>" for d in differences)
    return (f"<div>{escape(name)} vs {escape(other_name)}: {len(differences)} places split differently:</div>"
            f"<table>{head}{rows}</table>")


def logprob_summary(pieces: list[TokenPiece], chat: bool = False) -> str:
    scored = [p.logprob for p in pieces if p.logprob is not None and (p.assistant or not chat)]
    if not scored:
        return "no token has a log-probability (a text of one token has nothing to predict it from)"
    mean = sum(scored) / len(scored)
    which = "assistant tokens" if chat else "tokens"
    return f"mean log-prob {mean:.3f} nats over {len(scored)} {which} (perplexity {math.exp(-mean):.2f})"


def logprob_legend(model_name: str, pieces: list[TokenPiece], chat: bool = False) -> str:
    """The colour scale, what the first token lacks, and the mean."""
    steps = [0.0, -2.5, -5.0, -7.5, -LOGPROB_FLOOR]
    swatches = "".join(f'<span class="sw" style="background:{logprob_colour(v)}">'
                       f'{"≤ " if v == -LOGPROB_FLOOR else ""}{v:g}</span>' for v in steps)
    first = ("the first token has no log-prob: nothing comes before it"
             + ("; only the assistant's tokens are coloured" if chat else ""))
    return (f'<div class="legend" role="note">log-prob under <b>{escape(model_name)}</b> (nats): {swatches}'
            f'<span class="tk nolp">no value</span><span class="note">{escape(first)}</span></div>'
            f'<div class="note">{escape(logprob_summary(pieces, chat))}</div>')


# --- JSON (the JupyterLab renderer's input) ------------------------------------------------------


def _listing(items) -> list[dict]:
    return [dataclasses.asdict(item) for item in items]


def tokens_json(name: str, text: str, pieces: list[TokenPiece], *, other_name: str | None = None,
                other_pieces: list[TokenPiece] | None = None, differences: list[SplitDifference] | None = None,
                chat: ChatView | None = None, show_ids: bool = True, groups: list[CharGroup] | None = None,
                others: list[dict] | None = None, model: str | None = None, view: str = "text") -> dict:
    """The ``application/vnd.workbench.tokens+json`` payload, schema ``workbench.tokens`` version 1
    (fields after ``chat`` are additions that older readers ignore)::

        {"schema": "workbench.tokens", "version": 1, "name", "text", "show_ids",
         "tokens": [{"index", "id", "token", "text", "start", "end", "special", "assistant",
                     "source", "hex", "group", "logprob"}, ...],
         "other": {"name", "tokens"} | null, "differences": [{"start", "end", "text", "tokens",
         "other_tokens"}, ...], "chat": {"method", "text", "tokens", "groups"} | null,
         "groups": [{"first", "last", "text", "hex"}, ...],
         "others": [{"name", "tokens", "groups", "differences"}, ...],   # every tokenizer after the first
         "model": name | null, "view": "text" | "chat"}

    ``others`` is given as ``[{"name", "pieces", "groups", "differences"}]``; without it,
    ``other_name`` / ``other_pieces`` / ``differences`` describe the one other tokenizer.
    """
    if others is None and other_pieces is not None:
        others = [{"name": other_name, "pieces": other_pieces, "groups": [], "differences": differences or []}]
    others_json = [{"name": o["name"], "tokens": _listing(o["pieces"]), "groups": _listing(o.get("groups") or []),
                    "differences": _listing(o["differences"])} for o in (others or [])]
    first = others_json[0] if others_json else None
    return {
        "schema": "workbench.tokens", "version": 1, "name": name, "text": text, "show_ids": show_ids,
        "tokens": _listing(pieces),
        "other": None if first is None else {"name": first["name"], "tokens": first["tokens"]},
        "differences": [] if first is None else first["differences"],
        "chat": None if chat is None else {"method": chat.method, "text": chat.text, "tokens": _listing(chat.pieces),
                                           "groups": _listing(chat.groups)},
        "groups": _listing(groups or []), "others": others_json, "model": model, "view": view,
    }
