"""Tokenizers out of GGUF files: llama.cpp's vocabulary metadata -> a ``tokenizers.Tokenizer``.

A GGUF file has no tokenizer.json. Its ``tokenizer.ggml.*`` keys hold the pieces to rebuild one
(``workbench.gguf.read_gguf_tokenizer_metadata`` reads them); this module rebuilds the pipeline the
reference's GGUF loader builds from the same keys, so that ids, offsets and decoding match it::

    tokenizer.ggml.model   "gpt2"   byte-level BPE: the vocabulary and merges as stored, split by
                                    the regex that tokenizer.ggml.pre names (GPT-2's by default)
                           "llama"  sentencepiece BPE with byte fallback: "▁" for spaces, merges from
                                    the file or, when it has none, recovered from the token scores
    token types            3 (control) -> special added tokens, 4 (user-defined) -> plain added tokens
    *_token_id             bos / eos / unk / pad tokens
    add_bos / add_eos      the post-processor ([bos] A [eos]); "llama" vocabularies add bos unless told not to
    chat_template          kept as ``tokenizer.chat_template``

Where the reference and llama.cpp disagree, workbench follows the reference: it ignores
``add_space_prefix`` (a sentencepiece vocabulary always gets its "▁" prefix) and splits text for
``smollm``/``starcoder``-style names with GPT-2's regex, which gives llama.cpp's ids for
vocabularies trained with one-digit numbers. One reference quirk is left out: it appends class
default tokens (``<|endoftext|>``, ``<s>``, ``</s>``) a file does not have as new ids past the
model's vocabulary; workbench only marks them special when the vocabulary has them.
"""

from __future__ import annotations

import os

from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers
from tokenizers.models import BPE

from ..errors import CheckpointError, UnsupportedModelError
from ..hub import HubOptions

# llama.cpp token types (tokenizer.ggml.token_type)
CONTROL, USER_DEFINED = 3, 4

# The text splits of byte-level vocabularies, as the models' own tokenizer.json files write them.
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = (  # Llama 3's, one digit at a time
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN35_SPLIT = (  # Qwen2's, with combining marks kept in words
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
    r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_UPPER, _LOWER = r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]", r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]"
_TEKKEN_SPLIT = (  # words split at case changes (Mistral's tekken)
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*"
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_CONTRACTION = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
_GPT4O_SPLIT = (  # tekken's, with contractions kept on the word and numbers in threes
    rf"[^\r\n\p{{L}}\p{{N}}]?{_UPPER}*{_LOWER}+{_CONTRACTION}|[^\r\n\p{{L}}\p{{N}}]?{_UPPER}+{_LOWER}*{_CONTRACTION}"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# tokenizer.ggml.pre -> the regex that splits text before the merges (None: GPT-2's, built into
# the ByteLevel pre-tokenizer). The names are llama.cpp's; the choices are the reference's.
PRE_TOKENIZER_SPLITS: dict[str, str | None] = {
    **dict.fromkeys(("default", "gpt-2", "phi-2", "mpt", "olmo", "smollm", "starcoder", "refact")),
    **dict.fromkeys(("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                     "jina-v5-nano", "dbrx", "smaug-bpe"), _LLAMA3_SPLIT),
    **dict.fromkeys(("qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez"), _QWEN2_SPLIT),
    "qwen35": _QWEN35_SPLIT,
    "tekken": _TEKKEN_SPLIT,
    **dict.fromkeys(("gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"), _GPT4O_SPLIT),
}  # fmt: skip

# Architectures whose "llama" (sentencepiece) vocabulary the reference rebuilds differently
# (respelled space tokens, a normalizer in place of Metaspace); not reproduced here.
_OWN_SENTENCEPIECE = ("gemma", "gemma2", "gemma3", "phi3")


def load_gguf_tokenizer(path_or_repo, gguf_file, options: HubOptions, overrides: dict) -> tuple[dict, dict]:
    """``(settings, {"tokenizer_object": backend})`` for a tokenizer stored in a GGUF file.

    ``gguf_file`` is resolved as the model side resolves it: a file in the folder or Hub repo
    ``path_or_repo``, or a path of its own (or ``path_or_repo`` is the .gguf file itself).
    ``overrides`` (the caller's keyword arguments) win over what the file says.
    """
    from ..gguf import read_gguf_tokenizer_metadata, resolve_gguf_file  # imports torch: only for GGUF files

    path = resolve_gguf_file(path_or_repo, gguf_file, options)
    metadata = read_gguf_tokenizer_metadata(path)
    backend = build_gguf_backend(metadata, path)
    settings = gguf_settings(metadata, path, given=overrides)
    settings.update(overrides)
    return settings, {"tokenizer_object": backend}


def build_gguf_backend(metadata: dict, path: str = "the GGUF file") -> Tokenizer:
    """The ``tokenizers.Tokenizer`` (model, splitting, decoding, added tokens) a GGUF file describes."""
    kind = metadata.get("model")
    if not metadata.get("tokens"):
        raise CheckpointError(
            f"{path} has no tokenizer.ggml.tokens: it holds no vocabulary. Load the tokenizer from the "
            "original model's folder instead (AutoTokenizer.from_pretrained(repo_or_folder))."
        )
    if kind == "gpt2":
        backend, defaults = _byte_level(metadata, path), ("<|endoftext|>",)
    elif kind == "llama" and metadata.get("architecture") not in _OWN_SENTENCEPIECE:
        backend, defaults = _sentencepiece(metadata), ("<unk>", "<s>", "</s>")
    else:
        raise UnsupportedModelError(_unsupported_model_message(metadata, path))
    # the reference's tokenizer classes register their default special tokens; where the vocabulary
    # has them that marks them special (decode skips them) without changing any id
    vocab = backend.get_vocab()
    backend.add_special_tokens([AddedToken(token, special=True) for token in defaults if token in vocab])
    _add_marked_tokens(backend, metadata, byte_level=kind == "gpt2")
    return backend


def gguf_settings(metadata: dict, path: str = "the GGUF file", given: dict | None = None) -> dict:
    """The tokenizer settings a GGUF file states: named special tokens, bos/eos flags, chat template.
    Special tokens in ``given`` (the caller's overrides) are not looked up."""
    tokens = metadata["tokens"]
    # the reference's GGUF loader builds its generic class whatever the architecture
    settings: dict = {"tokenizer_class": "PreTrainedTokenizerFast"}
    for name in ("bos", "eos", "unk", "pad"):
        index = metadata.get(f"{name}_token_id")
        if given and f"{name}_token" in given:
            continue
        if index is not None and not 0 <= index < len(tokens):
            raise CheckpointError(
                f"{path} names token {index} as its {name} token, but its vocabulary has {len(tokens)} tokens. "
                f"The file is damaged; pass {name}_token= the right token to from_pretrained."
            )
        settings[f"{name}_token"] = None if index is None else tokens[index]
    add_bos = metadata.get("add_bos_token")
    if add_bos is None and metadata.get("model") == "llama":
        add_bos = True  # llama.cpp adds bos to a sentencepiece vocabulary that does not say otherwise
    for key, value in (("add_bos_token", add_bos), ("add_eos_token", metadata.get("add_eos_token"))):
        if value is not None:
            settings[key] = bool(value)
    if metadata.get("chat_template") is not None:
        settings["chat_template"] = metadata["chat_template"]
    return settings


# ---------------------------------------------------------------------------------------------
# the two vocabulary kinds


def _byte_level(metadata: dict, path: str) -> Tokenizer:
    if metadata.get("merges") is None:
        raise CheckpointError(
            f"{path} has a byte-level (gpt2) vocabulary but no tokenizer.ggml.merges, so it cannot be "
            "tokenized. Re-convert the model with llama.cpp's convert_hf_to_gguf.py, or load the "
            "tokenizer from the original model's folder."
        )
    alphabet = byte_alphabet()
    letters = set(alphabet.values())
    # tokens are stored in the byte alphabet; one that is not (a llama.cpp added token written as
    # text) is respelled so that the merges, which are in the alphabet, can reach it
    vocab = {
        token if set(token) <= letters else "".join(alphabet[byte] for byte in token.encode("utf-8")): index
        for index, token in enumerate(metadata["tokens"])
    }
    merges = [tuple(merge.split(" ")) for merge in metadata["merges"]]
    model = BPE(vocab=vocab, merges=merges, dropout=None, continuing_subword_prefix="", end_of_word_suffix="",
                fuse_unk=False)  # fmt: skip
    backend = Tokenizer(model)
    backend.pre_tokenizer = _split_then_bytes(metadata.get("pre_tokenizer"), path)
    backend.decoder = decoders.ByteLevel()
    return backend


def _split_then_bytes(name: str | None, path: str):
    name = "default" if name is None else name  # files older than tokenizer.ggml.pre
    if name not in PRE_TOKENIZER_SPLITS:
        raise UnsupportedModelError(
            f"{path} splits text with llama.cpp's {name!r} pre-tokenizer (tokenizer.ggml.pre), which workbench "
            f"cannot rebuild. Supported: {', '.join(sorted(PRE_TOKENIZER_SPLITS))}. Load the tokenizer from the "
            "original model's folder instead (AutoTokenizer.from_pretrained(repo_or_folder))."
        )
    split = PRE_TOKENIZER_SPLITS[name]
    if split is None:
        return pre_tokenizers.ByteLevel(add_prefix_space=False)  # its built-in regex is GPT-2's
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(split), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])  # fmt: skip


def _sentencepiece(metadata: dict) -> Tokenizer:
    """Sentencepiece as BPE: "▁" marks spaces, bytes missing from the vocabulary become <0x..> tokens."""
    tokens = metadata["tokens"]
    vocab = {token: index for index, token in enumerate(tokens)}
    if metadata.get("merges") is not None:
        merges = [tuple(merge.split(" ")) for merge in metadata["merges"]]
    else:
        merges = merges_from_scores(tokens, metadata.get("scores") or [0.0] * len(tokens))
    backend = Tokenizer(BPE(vocab=vocab, merges=merges, fuse_unk=True, byte_fallback=True, dropout=None))
    # "first": "▁" before the text's first word only, not after each special token
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(content=" ", left=1)]
    )
    return backend


def merges_from_scores(tokens: list[str], scores: list[float]) -> list[tuple[str, str]]:
    """BPE merges recovered from a sentencepiece vocabulary: every split of a token into two
    tokens, best-scored token first (then longer left, then longer right pieces first).

    Sentencepiece BPE scores a token by when training created it, so merging the best-scored pair
    first replays training.
    """
    vocab = {token: index for index, token in enumerate(tokens)}
    found = []
    for token, score in dict(zip(tokens, scores)).items():  # a repeated token keeps its last score
        halves = [(token[:cut], token[cut:]) for cut in range(1, len(token))]
        halves = sorted((pair for pair in halves if pair[0] in vocab and pair[1] in vocab),
                        key=lambda pair: (vocab[pair[0]], vocab[pair[1]]))
        found += [(left, right, score) for left, right in halves]
    found.sort(key=lambda merge: (merge[2], len(merge[0]), len(merge[1])), reverse=True)  # stable
    return [(left, right) for left, right, _ in found]


def _add_marked_tokens(backend: Tokenizer, metadata: dict, byte_level: bool) -> None:
    """Control tokens become special added tokens, user-defined ones plain added tokens: either way
    they are matched whole in the text instead of being cut into pieces."""
    types = metadata.get("token_types") or ()
    letters = set(byte_alphabet().values())
    control = [
        AddedToken(token, normalized=False, special=True)
        for token, kind in zip(metadata["tokens"], types)
        # a byte-level vocabulary spells every real token in the byte alphabet: a control token that
        # is not is mislabelled by llama.cpp, and its respelled id is reached by the merges anyway
        if kind == CONTROL and (not byte_level or set(token) <= letters)
    ]
    if control:
        backend.add_special_tokens(control)
    vocab = backend.get_vocab(with_added_tokens=True)
    user_defined = [
        AddedToken(token, normalized=False, special=False)
        for token, kind in zip(metadata["tokens"], types)
        if kind == USER_DEFINED and token in vocab
    ]
    if user_defined:
        backend.add_tokens(user_defined)


def byte_alphabet() -> dict[int, str]:
    """GPT-2's byte -> character map: printable bytes stand for themselves, the other 68 (space,
    control bytes, ...) are moved to the characters from U+0100 on, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    alphabet = {byte: chr(byte) for byte in printable}
    moved = (byte for byte in range(256) if byte not in alphabet)
    alphabet.update({byte: chr(256 + offset) for offset, byte in enumerate(moved)})
    return dict(sorted(alphabet.items()))


def _unsupported_model_message(metadata: dict, path: str) -> str:
    kind, architecture = metadata.get("model"), metadata.get("architecture")
    if kind == "llama":
        what = f"a sentencepiece vocabulary spelled the {architecture!r} way (tokenizer.ggml.model 'llama')"
    else:
        what = f"a tokenizer of kind {kind!r} (tokenizer.ggml.model)"
    return (
        f"{os.fspath(path)} holds {what}, which workbench cannot rebuild from GGUF. Supported: 'gpt2' (byte-level "
        f"BPE) and 'llama' (sentencepiece BPE, except for {', '.join(_OWN_SENTENCEPIECE)}). Load the tokenizer "
        "from the original model's folder instead (AutoTokenizer.from_pretrained(repo_or_folder))."
    )
