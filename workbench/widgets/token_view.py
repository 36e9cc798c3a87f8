"""What the tokenizer inspector shows, computed without any UI: tokens with ids, offsets, the
source text they cover and readable text, the characters that byte pieces spell together, where
tokenizers split a text differently, which tokens of a chat are the assistant's, and each
token's log-probability under a causal LM. The HTML and JSON views are in :mod:`.token_html`.

Readable pieces. Vocabularies spell bytes in their own ways; each token is shown as the text it
stands for, with whitespace made visible (``·`` space, ``↵`` newline, ``⇥`` tab, ``⍽`` no-break
space):

- byte-level BPE (GPT-2, Llama 3, SmolLM2): ``Ġ`` is a space and ``Ċ`` a newline, every character
  one byte through GPT-2's ``bytes_to_unicode`` table;
- sentencepiece (Metaspace): ``▁`` is a space, byte-fallback pieces ``<0x0A>`` are the byte;
- WordPiece keeps its ``##`` continuation prefix; special tokens are shown as written.

A piece holding only part of a UTF-8 character (an emoji's first two bytes ``ðŁ``, or
``<0xF0>``) shows those bytes as ``⟨F0 9F⟩``; the consecutive pieces that together spell whole
characters form a :class:`CharGroup`, shown as the characters with the pieces under them.

Split differences. A *boundary* is a UTF-8 *byte* offset of the text where a token starts or
ends, after trimming whitespace off each token's span (WordPiece drops spaces, byte-level BPE
glues them to the next word: that is not a different split). Bytes, not characters: the pieces
of one emoji all carry the same character offsets, so two tokenizers that cut an emoji's four
bytes differently look alike in characters. Where two boundary sets differ, the text between the
nearest shared boundaries, widened to whole characters, is a :class:`SplitDifference`.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import re
from dataclasses import dataclass, field

TOKENS_MIME = "application/vnd.workbench.tokens+json"
VISIBLE_WHITESPACE = {" ": "·", "\n": "↵", "\t": "⇥", "\r": "␍", "\u00a0": "⍽"}
_VISIBLE_MARKS = set(VISIBLE_WHITESPACE.values())
_GENERATION_TAG = re.compile(r"\{%-?\s*generation\s*-?%\}")
_BYTE_PIECE = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")
LONGEST_CHARACTER = 8  # pieces searched for the end of a character before giving up on grouping


@dataclass
class TokenPiece:
    """One token of an encoded text."""

    index: int
    id: int
    token: str  # as the vocabulary spells it ("Ġworld", "##ization", "<0x0A>")
    text: str  # what it stands for ("·world", "ization", "⟨F0 9F⟩"), whitespace made visible
    start: int  # character offsets into the text
    end: int
    special: bool = False
    assistant: bool = False  # chat view: produced by an assistant message
    source: str = ""  # the text its offsets cover (what became "[UNK]"), whitespace made visible
    hex: str = ""  # its bytes ("F0 9F") when it holds part of a UTF-8 character
    group: int | None = None  # index into the tokenization's CharGroup list
    logprob: float | None = None  # log p(token | tokens before it) under a causal LM, in nats


@dataclass
class CharGroup:
    """Consecutive pieces (``first`` .. ``last``) whose bytes together spell whole characters."""

    first: int
    last: int
    text: str  # the characters, whitespace made visible ("·👋")
    hex: str  # all their bytes ("20 F0 9F 91 8B")


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
    groups: list[CharGroup] = field(default_factory=list)

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


def piece_bytes(token: str, style: str) -> bytes:
    """The UTF-8 bytes a vocabulary piece stands for (``Ġ`` -> space, ``<0xF0>`` -> 0xF0)."""
    if style == "byte_level":
        table = _byte_level_decoder()
        if token and all(char in table for char in token):
            return bytes(table[char] for char in token)
    if style == "sentencepiece":
        match = _BYTE_PIECE.match(token)
        if match:
            return bytes([int(match.group(1), 16)])
        return token.replace("▁", " ").encode()
    return token.encode()


def spell(raw: bytes, visible: bool = False) -> str:
    """``raw`` as text, with bytes that are not (yet) a whole character written ``⟨F0 9F⟩``
    (``visible``: whitespace made visible, the bytes' spaces left alone)."""
    shown = show_whitespace if visible else str
    try:
        return shown(raw.decode())
    except UnicodeDecodeError:
        pass
    parts, stray, position = [], [], 0
    while position < len(raw):
        for size in (1, 2, 3, 4):
            try:
                char = raw[position:position + size].decode()
            except UnicodeDecodeError:
                continue
            if stray:
                parts.append(f"⟨{' '.join(stray)}⟩")
                stray = []
            parts.append(shown(char))
            position += size
            break
        else:
            stray.append(f"{raw[position]:02X}")
            position += 1
    if stray:
        parts.append(f"⟨{' '.join(stray)}⟩")
    return "".join(parts)


def readable(token: str, style: str) -> str:
    """The text a vocabulary piece stands for (whitespace not yet made visible)."""
    if style in ("byte_level", "sentencepiece"):
        return spell(piece_bytes(token, style))
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
        piece = TokenPiece(index, int(token_id), token, token, int(start), int(end), special,
                           source=show_whitespace(text[start:end]))
        if not special:
            raw = piece_bytes(token, style) if style in ("byte_level", "sentencepiece") else token.encode()
            piece.text = spell(raw, visible=True)
            if "⟨" in piece.text and "⟨" not in token:
                piece.hex = " ".join(f"{byte:02X}" for byte in raw)
        pieces.append(piece)
    return pieces


def char_groups(tokenizer, pieces: list[TokenPiece]) -> list[CharGroup]:
    """Runs of consecutive pieces that hold parts of characters and together spell whole ones
    (an emoji in byte-level pieces or ``<0xF0><0x9F>...`` byte-fallback pieces). Sets each
    member's ``group``. A run that never completes a character stays ungrouped."""
    style = vocabulary_style(tokenizer)
    if style not in ("byte_level", "sentencepiece"):
        return []
    groups: list[CharGroup] = []
    index = 0
    while index < len(pieces):
        if not pieces[index].hex:
            index += 1
            continue
        raw, last = b"", None
        for member in pieces[index:index + LONGEST_CHARACTER]:
            if member.special:
                break
            raw += piece_bytes(member.token, style)
            try:
                raw.decode()
            except UnicodeDecodeError:
                continue
            last = member.index
            break
        if last is None or last == index:
            index += 1
            continue
        for member in pieces[index:last + 1]:
            member.group = len(groups)
        groups.append(CharGroup(index, last, show_whitespace(raw.decode()), " ".join(f"{b:02X}" for b in raw)))
        index = last + 1
    return groups


# --- where two tokenizers split differently --------------------------------------------------------


def _byte_offsets(text: str) -> list[int]:
    """``offsets[i]`` = UTF-8 byte offset of character ``i`` (one more entry for the end)."""
    offsets = [0]
    for char in text:
        offsets.append(offsets[-1] + len(char.encode()))
    return offsets


def _share_out(run: list[TokenPiece], lengths: list[int], low: int, high: int) -> list[tuple[int, int]] | None:
    """Consecutive byte spans for the pieces of one overlapping run over bytes ``low..high``, or
    None when their lengths do not fit. Leading pieces that are only whitespace the text does not
    hold there (Metaspace's prepended ``▁``, carrying the first letter's offsets) get empty spans."""
    excess = sum(lengths) - (high - low)
    spans = []
    for piece, length in zip(run, lengths):
        if excess > 0 and length <= excess and all(char in _VISIBLE_MARKS for char in piece.text):
            spans.append((low, low))
            excess -= length
            continue
        spans.append((low, low + length))
        low += length
    return spans if excess == 0 and low == high else None


def byte_spans(pieces: list[TokenPiece], text: str, byte_lengths: list[int]) -> list[tuple[int, int]]:
    """Each piece's span in the text's UTF-8 bytes. Pieces whose character spans overlap (the
    byte pieces of one character all carry that character's offsets) share out the bytes of
    their joint span in order, when their byte lengths add up to it; otherwise (a normalizer
    changed the text) each keeps the bytes of its character span."""
    at = _byte_offsets(text)
    spans = [(at[p.start], at[p.end]) for p in pieces]
    run: list[int] = []
    for index, piece in enumerate([*pieces, None]):
        overlaps = (piece is not None and piece.end > piece.start and run
                    and piece.start < max(pieces[i].end for i in run))
        if overlaps:
            run.append(index)
            continue
        if len(run) > 1:
            low, high = at[min(pieces[i].start for i in run)], at[max(pieces[i].end for i in run)]
            shared = _share_out([pieces[i] for i in run], [byte_lengths[i] for i in run], low, high)
            for i, span in zip(run, shared or []):
                spans[i] = span
        run = [index] if piece is not None and piece.end > piece.start else []
    return spans


def _whitespace_bytes(text: str) -> list[bool]:
    return [char.isspace() for char in text for _ in char.encode()]


def boundaries(pieces: list[TokenPiece], text: str, byte_lengths: list[int] | None = None) -> set[int]:
    """UTF-8 byte offsets where a token covering text starts or ends, whitespace trimmed off
    (tokens the tokenizer inserted, ``[CLS]`` and the like, cover no text and are skipped)."""
    if byte_lengths is None:  # each piece its character span's bytes
        byte_lengths = [len(text[p.start:p.end].encode()) for p in pieces]
    white = _whitespace_bytes(text)
    cuts: set[int] = set()
    for piece, (start, end) in zip(pieces, byte_spans(pieces, text, byte_lengths)):
        if end <= start or piece.end <= piece.start:
            continue
        while start < end and white[start]:
            start += 1
        while end > start and white[end - 1]:
            end -= 1
        if start < end:
            cuts.update((start, end))
    return cuts


def _regions(mine: set[int], theirs: set[int], at: list[int]) -> list[tuple[int, int]]:
    """Character spans around each cut only one side makes, between shared cuts, merged."""
    shared = sorted(mine & theirs | {0, at[-1]})
    regions: list[list[int]] = []
    for cut in sorted((mine ^ theirs) - {0, at[-1]}):  # the text's ends are no split
        low = shared[bisect.bisect_left(shared, cut) - 1]
        high = shared[bisect.bisect_right(shared, cut)]
        # widened to whole characters: a cut inside an emoji shows the emoji
        first, last = bisect.bisect_right(at, low) - 1, bisect.bisect_left(at, high)
        if regions and first < regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], last)
        else:
            regions.append([first, last])
    return [(low, high) for low, high in regions]


def pieces_over(pieces: list[TokenPiece], spans: list[tuple[int, int]]) -> list[list[TokenPiece]]:
    """For each character span, the pieces covering text that overlap it, in order (one sorted
    pass per span: texts of thousands of tokens with hundreds of differences stay fast)."""
    covering = sorted((p for p in pieces if p.end > p.start), key=lambda p: (p.start, p.index))
    starts = [p.start for p in covering]
    reach = list(itertools.accumulate((p.end for p in covering), max))  # furthest end so far
    found = []
    for start, end in spans:
        high = bisect.bisect_left(starts, end)  # pieces from here on start at or after the span's end
        low = bisect.bisect_right(reach, start)  # pieces before this one all end by the span's start
        found.append([p for p in covering[low:high] if p.end > start])
    return found


def split_differences(text: str, pieces: list[TokenPiece], other: list[TokenPiece],
                      byte_lengths: tuple[list[int], list[int]] | None = None) -> list[SplitDifference]:
    """Stretches of ``text`` between shared boundaries inside which only one tokenizer cuts.
    ``byte_lengths``: each piece's length in bytes, for both sides (from :func:`piece_lengths`)."""
    mine_lengths, their_lengths = byte_lengths or (None, None)
    mine, theirs = boundaries(pieces, text, mine_lengths), boundaries(other, text, their_lengths)
    regions = _regions(mine, theirs, _byte_offsets(text))
    return [SplitDifference(low, high, text[low:high], [p.text for p in ours], [p.text for p in their])
            for (low, high), ours, their in zip(regions, pieces_over(pieces, regions), pieces_over(other, regions))]


def piece_lengths(tokenizer, pieces: list[TokenPiece]) -> list[int]:
    """Each piece's length in bytes as its vocabulary spells it (0 for special tokens)."""
    style = vocabulary_style(tokenizer)
    return [0 if p.special else len(piece_bytes(p.token, style)) for p in pieces]


# --- log-probabilities under a causal LM -------------------------------------------------------------


def token_logprobs(model, ids: list[int]) -> list[float | None]:
    """``log p(ids[t] | ids[:t])`` under ``model`` for each position (``None`` for the first:
    nothing comes before it), from one forward pass."""
    import torch

    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab is not None and ids and max(ids) >= vocab:
        raise ValueError(f"token id {max(ids)} is outside the model's vocabulary of {vocab}: "
                         "pass the model that goes with this tokenizer")
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if isinstance(limit, int) and len(ids) > limit:
        raise ValueError(f"{len(ids)} tokens are more than the model's {limit} positions: "
                         "shorten the text to score it")
    if len(ids) < 2:
        return [None] * len(ids)
    device = next(model.parameters()).device
    input_ids = torch.tensor([ids], device=device)
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits[0].float()  # (T, V)
    scores = torch.log_softmax(logits[:-1], dim=-1).gather(1, input_ids[0, 1:, None]).squeeze(1)  # (T-1,)
    return [None, *scores.cpu().tolist()]


def set_logprobs(model, pieces: list[TokenPiece]) -> None:
    for piece, score in zip(pieces, token_logprobs(model, [p.id for p in pieces])):
        piece.logprob = score


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
    groups = char_groups(tokenizer, pieces)
    if supports_generation_mask(tokenizer, chat_template, tools):
        encoded = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True,
                                                **options)
        if list(encoded["input_ids"]) != [piece.id for piece in pieces]:
            raise ValueError("The chat template rendered differently twice (does it read the time?); "
                             "cannot line the assistant mask up with the tokens.")
        for piece, flag in zip(pieces, encoded["assistant_masks"]):
            piece.assistant = bool(flag)
        return ChatView(text, pieces, "generation", groups=groups)
    spans = assistant_spans(text, messages)
    for piece in pieces:
        piece.assistant = any(piece.start < end and piece.end > start for start, end in spans)
    return ChatView(text, pieces, "offsets", spans, groups)

