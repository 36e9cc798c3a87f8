"""A deterministic corpus of awkward strings for tokenizer parity tests, and the comparison helpers.

``corpus()`` returns 1,100+ strings mixing scripts, CJK, emoji (with ZWJ sequences, skin tones and
flags), composed and decomposed accents, whitespace runs, control characters, punctuation, numbers,
code, strings that look like special tokens, empty strings and texts far longer than any
``model_max_length``. The same seed always gives the same list.
"""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import torch

SEED = 20240611

WORDS = (
    "the quick brown fox jumps over lazy dog tokenizer transformer attention embedding gradient "
    "Paris France capital question answer model weights layer norm softmax probability sentence "
    "unbelievable antidisestablishmentarianism don't can't it's we're they've I'm hello world "
    "New York San Francisco GPU CPU TPU HuggingFace PyTorch BERT GPT-2 LLaMA SmolLM WordPiece BPE"
).split()

SCRIPTS = (
    "Привет, мир! Как дела?",
    "Καλημέρα κόσμε, τι κάνεις;",
    "مرحبا بالعالم، كيف حالك؟",
    "שלום עולם! מה שלומך?",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "สวัสดีชาวโลก วันนี้อากาศดี",
    "안녕하세요 세계! 잘 지내요?",
    "こんにちは世界、カタカナとひらがな。",
    "你好，世界！今天天气很好。我们去公园吧。",
    "繁體中文測試：電腦、網際網路。",
    "გამარჯობა მსოფლიო",
    "Բարեւ աշխարհ",
    "வணக்கம் உலகம்",
    "ওহে বিশ্ব",
    "ሰላም ልዑል",
    "བཀྲ་ཤིས་བདེ་ལེགས།",
    "Xin chào thế giới, Tiếng Việt có dấu",
    "Zażółć gęślą jaźń",
    "Größenwahn und Straße",
    "∑∫√∞≈≠≤≥ ∀x∈ℝ: x²≥0",
    "┌──┐ │░▒▓│ └──┘",
    "€100 £50 ¥1000 ₹500 ₿0.5 $9.99",
)

EMOJI = (
    "😀", "😂🤣", "👍🏽", "👋🏿", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🧑🏿‍💻", "👩‍🔬", "🇫🇷🇯🇵🇧🇷", "❤️", "❤️‍🔥",
    "1️⃣", "#️⃣", "🫶🏼", "🐈‍⬛", "✌🏻", "🤷‍♀️", "🙇🏾‍♂️",
)  # fmt: skip

ACCENTED = ("café", "naïve", "résumé", "Ångström", "Dvořák", "São Paulo", "crème brûlée", "Ñandú", "façade", "Łódź")

WHITESPACE = (" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u2003", "\u200b", "\u3000", " \t\n")

PUNCTUATION = (
    ".", ",", ";", ":", "!", "?", "...", "—", "–", "«»", "“quoted”", "‘single’", "(parens)", "[brackets]",
    "{braces}", "<angle>", "/", "\\", "|", "@", "#hashtag", "$", "%", "^", "&", "*", "-", "_", "=", "+",
    "~", "`", "''", '"', "!?!", "..",
)  # fmt: skip

NUMBERS = (
    "3.14159", "1,000,000", "2024-01-01", "0x1F", "1e-9", "-42", "½", "x²", "١٢٣٤", "１２３", "10:30pm",
    "+1 (555) 123-4567", "99.9%", "v2.13.0", "007", "1/3",
)  # fmt: skip

TOKEN_LOOKALIKES = (
    "[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "<|endoftext|>", "<|im_start|>", "<|im_end|>",
    "<s>", "</s>", "<unk>", "<|startoftranscript|>", "[cls]", "<|endoftext", "[MASK][MASK]",
)  # fmt: skip

CONTROL = ("\x00", "\x07", "\x1b[31m", "\ufffd", "\ufeff", "\u202e", "\x7f", "\u0301")

FIXED = (
    "",
    " ",
    "Hello world",
    "Hello, World!",
    "HELLO WORLD",
    "hello world",
    "Don't stop believing, it's what we're told.",
    "def f(x):\n\treturn x ** 2  # square\n",
    "https://huggingface.co/docs/transformers?x=1&y=2#section",
    "mail me at someone@example.com!",
    "    leading and trailing spaces    ",
    "tab\tseparated\tvalues\n1\t2\t3",
    "line one\r\nline two\r\n",
    "Ｆｕｌｌｗｉｄｔｈ　ｌｅｔｔｅｒｓ",
    "ﬁﬂ ligatures and ① circled",
    "a" * 300,
    "ab " * 150,
    "🙂" * 40,
    "混合 mixed 言語 languages 😀 and العربية",
    "What is the capital of France?",
    "The capital of France is Paris.",
)


def _fragment(rng: random.Random) -> str:
    kind = rng.randrange(9)
    if kind <= 2:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))
    pools = (SCRIPTS, EMOJI, ACCENTED, PUNCTUATION, NUMBERS, TOKEN_LOOKALIKES)
    if kind - 3 < len(pools):
        return rng.choice(pools[kind - 3])
    return rng.choice(CONTROL)


def _case(text: str, rng: random.Random) -> str:
    return rng.choice((str, str, str.upper, str.lower, str.title, str.swapcase))(text)


def _accents(text: str, rng: random.Random) -> str:
    # decomposed (NFD) and composed (NFC) forms of the same text tokenize differently in some models
    return unicodedata.normalize(rng.choice(("NFC", "NFD", "NFKC", "NFKD")), text) if rng.random() < 0.3 else text


def random_text(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(1, 10)):
        parts.append(_accents(_case(_fragment(rng), rng), rng))
        parts.append(rng.choice(WHITESPACE) if rng.random() < 0.3 else rng.choice(("", " ", " ", " ")))
    return "".join(parts)


def long_text(rng: random.Random, words: int) -> str:
    pieces = [rng.choice(WORDS) if rng.random() < 0.8 else _fragment(rng) for _ in range(words)]
    return " ".join(pieces) + "."


def corpus(size: int = 1100) -> list[str]:
    """``size`` strings (at least the fixed ones), the same on every call."""
    rng = random.Random(SEED)
    texts = list(FIXED)
    texts += list(SCRIPTS) + list(EMOJI) + list(ACCENTED) + [unicodedata.normalize("NFD", t) for t in ACCENTED]
    texts += list(TOKEN_LOOKALIKES) + list(NUMBERS) + list(WHITESPACE)
    texts += [long_text(rng, rng.randint(700, 1500)) for _ in range(12)]
    texts += [""] * 4
    while len(texts) < size:
        texts.append(random_text(rng))
    return texts


def pairs(texts: list[str], count: int, seed: int = 7) -> list[tuple[str, str]]:
    """``count`` (first, second) pairs drawn from ``texts``, the same on every call."""
    rng = random.Random(seed)
    return [(rng.choice(texts), rng.choice(texts)) for _ in range(count)]


def chunks(items: list, size: int) -> list[list]:
    return [items[start : start + size] for start in range(0, len(items), size)]


# --- comparing a workbench output with a reference output ---


def plain(value):
    """A value as comparable Python data, keeping its container kind and dtype."""
    if isinstance(value, torch.Tensor):
        return ("pt", str(value.dtype), tuple(value.shape), value.tolist())
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return ("np-object", [plain(row) for row in value])
        return ("np", str(value.dtype), value.shape, value.tolist())
    return value  # lists (of ints, or of offset tuples) compare exactly with ==


def assert_same(ours, reference, context=""):
    assert list(ours.keys()) == list(reference.keys()), context
    for key in reference:
        assert plain(ours[key]) == plain(reference[key]), f"{key} differs for {context!r}"


def assert_same_rows(ours, reference, texts):
    """Row-by-row comparison of two batch outputs, naming the text of the first differing row."""
    assert list(ours.keys()) == list(reference.keys())
    for key in reference:
        if len(ours[key]) != len(reference[key]):
            raise AssertionError(f"{key}: {len(ours[key])} rows vs {len(reference[key])}")
        for row, (mine, theirs) in enumerate(zip(ours[key], reference[key])):
            text = texts[row] if row < len(texts) else row
            assert plain(mine) == plain(theirs), f"{key} differs for row {row}: {text!r}"


def load_both(path, **kwargs):
    """(workbench, reference) tokenizers loaded from the same folder with the same keyword arguments."""
    import transformers

    from workbench import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, **kwargs), transformers.AutoTokenizer.from_pretrained(str(path), **kwargs)


def assert_same_ids(ours, theirs, texts: list[str], pair_count: int = 50) -> None:
    """Both tokenizers give the same ids for ``texts``, and for pairs of them the same ids and
    token types (where the tokenizers return token types)."""
    assert ours(texts)["input_ids"] == theirs(texts)["input_ids"]
    firsts, seconds = (list(side) for side in zip(*pairs(texts, pair_count)))
    mine, reference = ours(firsts, seconds), theirs(firsts, seconds)
    assert mine["input_ids"] == reference["input_ids"]
    assert mine.get("token_type_ids") == reference.get("token_type_ids")
