"""What the tokenizer inspector shows, computed without any UI: tokens with ids, offsets and
readable text, where two tokenizers split a text differently, and which tokens of a chat are the
assistant's.

Readable pieces. Vocabularies spell bytes in their own ways; each token is shown as the text it
stands for, with whitespace made visible (``·`` space, ``↵`` newline, ``⇥`` tab):

- byte-level BPE (GPT-2, Llama 3, SmolLM2): ``Ġ`` is a space and ``Ċ`` a newline, every character
  one byte through GPT-2's ``bytes_to_unicode`` table; a piece holding part of a UTF-8 character
  shows the bytes it has (``\\xf0\\x9f``);
- sentencepiece: ``▁`` is a space, byte-fallback pieces ``<0x0A>`` are the byte (kept as
  ``<0xE2>`` when the byte alone is not a character);
- WordPiece keeps its ``##`` continuation prefix; special tokens are shown as written.

Split differences. A *boundary* is a character offset where a token starts or ends, after
trimming whitespace off each token's span (WordPiece drops spaces, byte-level BPE glues them to
the next word: that is not a different split). Where the two boundary sets differ, the text
between the nearest shared boundaries is a :class:`SplitDifference`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from dataclasses import dataclass, field
from html import escape

TOKENS_MIME = "application/vnd.workbench.tokens+json"
VISIBLE_WHITESPACE = {" ": "·", "\n": "↵", "\t": "⇥", "\r": "␍"}
PALETTE = ("#fde2e4", "#dfe7fd", "#e2ece9", "#fff1c1", "#e8dff5", "#d7f9f1", "#fce1c8", "#e0f0ff")
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@dataclass
class TokenPiece:
    """One token of an encoded text."""

    index: int
    id: int
    token: str  # as the vocabulary spells it ("Ġworld", "##ization", "<0x0A>")
    text: str  # what it stands for ("·world", "ization"), whitespace made visible
    start: int  # character offsets into the text
    end: int
    special: bool = False
    assistant: bool = False  # chat view: produced by an assistant message


@dataclass
class SplitDifference:
    """A stretch of text that two tokenizers cut differently."""

    start: int
    end: int
    text: str
    tokens: list[str]  # readable pieces of the first tokenizer over this stretch
    other_tokens: list[str]  # ... of the second


@dataclass
class ChatView:
    """A conversation rendered through the chat template, tokenized, assistant tokens marked."""

    text: str
    pieces: list[TokenPiece]
    method: str  # "generation" ({% generation %} mask) or "offsets" (assistant contents located)
    spans: list[tuple[int, int]] = field(default_factory=list)  # assistant character spans ("offsets")

    @property
    def assistant_tokens(self) -> list[TokenPiece]:
        return [piece for piece in self.pieces if piece.assistant]


# --- readable pieces -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's ``bytes_to_unicode``, inverted: printable stand-in character -> byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes)}


def vocabulary_style(tokenizer) -> str:
    """``"byte_level"``, ``"sentencepiece"``, ``"wordpiece"`` or ``"plain"``, from the decoder."""
    decoder = getattr(getattr(tokenizer, "backend_tokenizer", None), "decoder", None)
    if decoder is None:
        return "plain"
    try:
        spec = json.dumps(json.loads(decoder.__getstate__()))
    except Exception:  # a decoder that does not serialise: judge by its class
        spec = type(decoder).__name__
    if "ByteLevel" in spec:
        return "byte_level"
    if "ByteFallback" in spec or "Metaspace" in spec or "\\u2581" in spec or "▁" in spec:
        return "sentencepiece"
    if "WordPiece" in spec:
        return "wordpiece"
    return "plain"


def readable(token: str, style: str) -> str:
    """The text a vocabulary piece stands for (whitespace not yet made visible)."""
    if style == "byte_level":
        table = _byte_level_decoder()
        if token and all(char in table for char in token):
            return bytes(table[char] for char in token).decode("utf-8", errors="backslashreplace")
        return token
    if style == "sentencepiece":
        match = _BYTE_PIECE.match(token)
        if match:
            byte = int(match.group(1), 16)
            return chr(byte) if byte < 0x80 else token
        return token.replace("▁", " ")
    return token


def show_whitespace(text: str) -> str:
    return "".join(VISIBLE_WHITESPACE.get(char, char) for char in text)


def special_ids(tokenizer) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    for index, token in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items():
        if getattr(token, "special", False):
            ids.add(int(index))
    return ids


def tokenize(tokenizer, text: str, add_special_tokens: bool = True) -> list[TokenPiece]:
    """The tokenizer's own ids, tokens and offsets for ``text``, one :class:`TokenPiece` each."""
    encoded = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True,
                        return_special_tokens_mask=True, verbose=False)
    ids = list(encoded["input_ids"])
    tokens = tokenizer.convert_ids_to_tokens(ids)
    specials = special_ids(tokenizer)
    style = vocabulary_style(tokenizer)
    pieces = []
    for index, (token_id, token, (start, end), mask) in enumerate(
            zip(ids, tokens, encoded["offset_mapping"], encoded["special_tokens_mask"])):
        special = bool(mask) or token_id in specials
        text_of = token if special else show_whitespace(readable(token, style))
        pieces.append(TokenPiece(index, int(token_id), token, text_of, int(start), int(end), special))
    return pieces


# --- where two tokenizers split differently --------------------------------------------------------


def boundaries(pieces: list[TokenPiece], text: str) -> set[int]:
    """Character offsets where a token covering text starts or ends, whitespace trimmed off
    (tokens the tokenizer inserted, ``[CLS]`` and the like, cover no text and are skipped)."""
    cuts: set[int] = set()
    for piece in pieces:
        start, end = piece.start, piece.end
        if end <= start:
            continue
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            cuts.update((start, end))
    return cuts


def _pieces_over(pieces: list[TokenPiece], start: int, end: int) -> list[str]:
    return [piece.text for piece in pieces if piece.start < end and piece.end > start and piece.end > piece.start]


def split_differences(text: str, pieces: list[TokenPiece], other: list[TokenPiece]) -> list[SplitDifference]:
    """Stretches of ``text`` between shared boundaries inside which only one tokenizer cuts."""
    mine, theirs = boundaries(pieces, text), boundaries(other, text)
    shared = sorted(mine & theirs | {0, len(text)})
    differing = sorted(mine ^ theirs)
    regions: list[list[int]] = []
    for cut in differing:
        low = max(c for c in shared if c < cut) if any(c < cut for c in shared) else 0
        high = min(c for c in shared if c > cut) if any(c > cut for c in shared) else len(text)
        if regions and low < regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], high)
        else:
            regions.append([low, high])
    return [SplitDifference(low, high, text[low:high], _pieces_over(pieces, low, high), _pieces_over(other, low, high))
            for low, high in regions]


# --- chat ----------------------------------------------------------------------------------------


def supports_generation_mask(tokenizer, chat_template: str | None = None, tools=None) -> bool:
    """Whether the chat template marks assistant text with ``{% generation %}``."""
    template = tokenizer.get_chat_template(chat_template, tools)
    return bool(_GENERATION_TAG.search(template))


def _contents(message) -> list[str]:
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [part.get("text") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
    return []


def _role(message) -> str | None:
    return message.get("role") if isinstance(message, dict) else getattr(message, "role", None)


def assistant_spans(text: str, messages: list) -> list[tuple[int, int]]:
    """Character spans of the assistant messages' contents in the rendered ``text``, found in
    message order (each search starts after the previous message's content, so a user message
    with the same words is not taken for the assistant's). Templates that trim are matched too."""
    spans, cursor = [], 0
    for message in messages:
        for content in _contents(message):
            for wanted in (content, content.strip()):
                position = text.find(wanted, cursor) if wanted else -1
                if position >= 0:
                    break
            if position < 0:
                continue
            cursor = position + len(wanted)
            if _role(message) == "assistant":
                spans.append((position, cursor))
    return spans


def chat_view(tokenizer, messages: list, tools=None, chat_template: str | None = None,
              add_generation_prompt: bool = False, **template_kwargs) -> ChatView:
    """Render ``messages`` with the chat template, tokenize the result as ``apply_chat_template``
    does (no special tokens added) and mark the assistant tokens: by the template's
    ``{% generation %}`` mask when it has one, otherwise by where the assistant contents sit."""
    options = dict(tools=tools, chat_template=chat_template, add_generation_prompt=add_generation_prompt,
                   **template_kwargs)
    text = tokenizer.apply_chat_template(messages, tokenize=False, **options)
    pieces = tokenize(tokenizer, text, add_special_tokens=False)
    if supports_generation_mask(tokenizer, chat_template, tools):
        encoded = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True,
                                                **options)
        if list(encoded["input_ids"]) != [piece.id for piece in pieces]:
            raise ValueError("The chat template rendered differently twice (does it read the time?); "
                             "cannot line the assistant mask up with the tokens.")
        for piece, flag in zip(pieces, encoded["assistant_masks"]):
            piece.assistant = bool(flag)
        return ChatView(text, pieces, "generation")
    spans = assistant_spans(text, messages)
    for piece in pieces:
        piece.assistant = any(piece.start < end and piece.end > start for start, end in spans)
    return ChatView(text, pieces, "offsets", spans)


# --- HTML ----------------------------------------------------------------------------------------

STYLE = """
.wb-tok{font-family:system-ui,sans-serif;font-size:12px}
.wb-tok .toks{line-height:2.3em}
.wb-tok .tk{display:inline-block;margin:1px;padding:0 3px;border-radius:3px;font-family:monospace;
 white-space:pre;line-height:1.2em;text-align:center;vertical-align:top}
.wb-tok .tk sub{display:block;font-size:9px;color:#555}
.wb-tok .tk.sp{background:#eeeeee !important;border:1px dashed #888;font-style:italic}
.wb-tok .tk.diff{border-bottom:2px solid #d32f2f}
.wb-tok .tk.as{background:#b9e4c0 !important;outline:1px solid #2e7d32}
.wb-tok .tk.na{opacity:.55}
.wb-tok table{border-collapse:collapse;margin-top:4px}
.wb-tok th,.wb-tok td{border:1px solid #ddd;padding:1px 6px;font-family:monospace;text-align:left}
.wb-tok .cols{display:flex;gap:16px;align-items:flex-start}
.wb-tok .cols>div{flex:1;min-width:0}
"""


def pieces_html(pieces: list[TokenPiece], show_ids: bool = True, flagged: set[int] | None = None,
                chat: bool = False) -> str:
    """Tokens as coloured spans, each with its id under it and its details in the tooltip."""
    flagged = flagged or set()
    spans = []
    for piece in pieces:
        classes = ["tk"]
        if piece.special:
            classes.append("sp")
        if piece.index in flagged:
            classes.append("diff")
        if chat:
            classes.append("as" if piece.assistant else "na")
        tip = f"#{piece.index}  id {piece.id}  {piece.token!r}  chars {piece.start}-{piece.end}"
        if piece.special:
            tip += "  (special)"
        sub = f"<sub>{piece.id}</sub>" if show_ids else ""
        colour = PALETTE[piece.index % len(PALETTE)]
        spans.append(f'<span class="{" ".join(classes)}" style="background:{colour}" title="{escape(tip)}">'
                     f"{escape(piece.text) or '&#8203;'}{sub}</span>")
        if piece.text.endswith("↵") and not piece.special:
            spans.append("<br>")
    return f'<div class="toks">{"".join(spans)}</div>'


def pieces_table(pieces: list[TokenPiece], chat: bool = False) -> str:
    head = "<tr><th>#</th><th>token</th><th>text</th><th>id</th><th>start</th><th>end</th><th>special</th>"
    head += "<th>assistant</th></tr>" if chat else "</tr>"
    rows = []
    for p in pieces:
        cells = [p.index, escape(p.token), escape(p.text), p.id, p.start, p.end, "yes" if p.special else ""]
        if chat:
            cells.append("yes" if p.assistant else "")
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return f"<details><summary>table of {len(pieces)} tokens</summary><table>{head}{''.join(rows)}</table></details>"


def differences_html(differences: list[SplitDifference], name: str, other_name: str) -> str:
    if not differences:
        return "<div>Both tokenizers cut this text at the same places (whitespace aside).</div>"
    head = f"<tr><th>text</th><th>{escape(name)}</th><th>{escape(other_name)}</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(show_whitespace(d.text))}</td><td>{escape(' | '.join(d.tokens))}</td>"
        f"<td>{escape(' | '.join(d.other_tokens))}</td></tr>" for d in differences)
    return f"<div>{len(differences)} places split differently:</div><table>{head}{rows}</table>"


# --- JSON (the JupyterLab renderer's input) ------------------------------------------------------


def tokens_json(name: str, text: str, pieces: list[TokenPiece], *, other_name: str | None = None,
                other_pieces: list[TokenPiece] | None = None, differences: list[SplitDifference] | None = None,
                chat: ChatView | None = None, show_ids: bool = True) -> dict:
    """The ``application/vnd.workbench.tokens+json`` payload, schema ``workbench.tokens`` version 1::

        {"schema": "workbench.tokens", "version": 1, "name", "text", "show_ids",
         "tokens": [{"index", "id", "token", "text", "start", "end", "special", "assistant"}, ...],
         "other": {"name", "tokens"} | null, "differences": [{"start", "end", "text", "tokens",
         "other_tokens"}, ...], "chat": {"method", "text", "tokens"} | null}
    """
    def listing(items):
        return [dataclasses.asdict(item) for item in items]

    return {
        "schema": "workbench.tokens", "version": 1, "name": name, "text": text, "show_ids": show_ids,
        "tokens": listing(pieces),
        "other": None if other_pieces is None else {"name": other_name, "tokens": listing(other_pieces)},
        "differences": listing(differences or []),
        "chat": None if chat is None else {"method": chat.method, "text": chat.text, "tokens": listing(chat.pieces)},
    }
