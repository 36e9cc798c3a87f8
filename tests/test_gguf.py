"""GGUF loading: SmolLM2-135M-Instruct (Q4_1, from a PyPI package) against the reference's own
GGUF loader, tiny GGUF files written here against reference models built from a config, and the
errors a wrong file gives."""

import os

import gguf
import numpy as np
import pytest
import torch
import transformers

from reference import build_reference_model
from tolerance import assert_close_scaled
from workbench import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM
from workbench.errors import CheckpointError, CheckpointNotFoundError, UnsupportedModelError
from workbench.gguf import ARCHITECTURES, read_gguf_tokenizer_metadata

# The prompt SmolLM2's chat template (in the GGUF metadata) renders for one user message with
# add_generation_prompt=True: a default system turn, the user turn, then the assistant header.
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
CHAT_PROMPT = (
    f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    "<|im_start|>assistant\n"
)


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf_path):
    """(folder, file name) of the GGUF file."""
    return os.path.dirname(smollm2_gguf_path), os.path.basename(smollm2_gguf_path)


@pytest.fixture(scope="module")
def model(smollm2):
    folder, name = smollm2
    return AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)


@pytest.fixture(scope="module")
def reference_model(smollm2):
    folder, name = smollm2
    return transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval()


@pytest.fixture(scope="module")
def reference_tokenizer(smollm2):
    folder, name = smollm2
    return transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)


# ---------------------------------------------------------------------------------------------
# SmolLM2 against the reference


def test_config_matches_the_reference(smollm2, smollm2_gguf_path):
    folder, name = smollm2
    ours = AutoConfig.from_pretrained(folder, gguf_file=name)
    theirs = transformers.AutoConfig.from_pretrained(folder, gguf_file=name)
    assert type(ours) is LlamaConfig and theirs.model_type == "llama"
    for key in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "rope_parameters",
                "tie_word_embeddings", "hidden_act", "bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(ours, key) == getattr(theirs, key), key
    # the .gguf path on its own, through the family's config class
    assert LlamaConfig.from_pretrained(smollm2_gguf_path).to_dict() == ours.to_dict()


def test_every_tensor_equals_the_reference(model, reference_model):
    assert model.dtype == reference_model.dtype == torch.float32  # dtype="auto" on a quantized file
    ours, theirs = model.state_dict(), reference_model.state_dict()
    assert set(ours) == set(theirs)
    differing = [k for k in theirs if not torch.equal(ours[k], theirs[k])]  # same dequantizer: none expected
    assert all((ours[k] - theirs[k]).abs().max() <= 1e-6 for k in differing), differing
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied: the file has no output.weight


def test_logits_match_the_reference(model, reference_model, reference_tokenizer):
    ids = reference_tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        # 30 layers of residual sums: near-zero logits carry the rounding of logits of ~27 (8.7e-5 seen)
        assert_close_scaled(model(ids).logits, reference_model(ids).logits, per_tensor=True)


def test_greedy_decode_with_the_cache_answers_paris(model, reference_tokenizer, smollm2_gguf_path):
    assert SYSTEM in read_gguf_tokenizer_metadata(smollm2_gguf_path)["chat_template"]
    ids = reference_tokenizer(CHAT_PROMPT, return_tensors="pt").input_ids
    new_tokens = []
    with torch.no_grad():
        out = model(ids, use_cache=True)
        for _ in range(12):
            token = out.logits[:, -1].argmax(-1, keepdim=True)  # (1, 1)
            new_tokens.append(token.item())
            out = model(token, past_key_values=out.past_key_values, use_cache=True)
    answer = reference_tokenizer.decode(new_tokens)
    assert "Paris" in answer, answer


def test_saved_folder_loads_in_the_reference(model, reference_tokenizer, tmp_path):
    model.save_pretrained(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["config.json", "generation_config.json", "model.safetensors"]
    reloaded = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    ids = reference_tokenizer("Paris is the capital of", return_tensors="pt").input_ids
    with torch.no_grad():
        assert_close_scaled(reloaded(ids).logits, model(ids).logits, per_tensor=True)


def test_tokenizer_metadata_matches_what_the_reference_extracts(smollm2_gguf_path, reference_tokenizer):
    from transformers.integrations.gguf import get_gguf_tokenizer

    _, theirs, their_config = get_gguf_tokenizer(smollm2_gguf_path)
    ours = read_gguf_tokenizer_metadata(smollm2_gguf_path)
    assert ours["model"] == theirs["tokenizer_type"] == "gpt2"
    assert ours["pre_tokenizer"] == theirs["pre_tokenizer_type"] == "smollm"
    assert ours["tokens"] == list(theirs["tokens"]) and len(ours["tokens"]) == len(reference_tokenizer) == 49152
    assert ours["merges"] == list(theirs["merges"]) and len(ours["merges"]) == 48900
    assert ours["token_types"] == list(theirs["token_type"])
    assert ours["scores"] is None  # a BPE vocabulary carries no scores
    assert ours["chat_template"] == their_config["chat_template"] == reference_tokenizer.chat_template
    assert (ours["bos_token_id"], ours["eos_token_id"], ours["unk_token_id"], ours["pad_token_id"]) == (1, 2, 0, 2)
    assert ours["add_bos_token"] is their_config["add_bos_token"] is False and ours["add_eos_token"] is None


# ---------------------------------------------------------------------------------------------
# tiny GGUF files written here, against the reference model they were written from

TINY = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5)
GGUF_NAMES = {  # HF module -> llama.cpp tensor name ("{}" is the layer)
    "model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output",
    "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
    "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}


def llama_cpp_permute(weight: np.ndarray, heads: int) -> np.ndarray:
    """What llama.cpp's converter does to q/k rows: each head's rotate-half halves -> interleaved pairs."""
    return weight.reshape(heads, 2, weight.shape[0] // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def gguf_tensor_name(hf_name: str) -> str:
    module, _, leaf = hf_name.rpartition(".")
    if module in GGUF_NAMES:
        return f"{GGUF_NAMES[module]}.{leaf}"
    _, _, layer, rest = module.split(".", 3)  # model.layers.N.<rest>
    return f"blk.{layer}.{GGUF_NAMES[rest]}.{leaf}"


def write_gguf(path, arch: str, reference, permute_qk: bool, rope_scaling: dict | None = None):
    """A GGUF file as llama.cpp's converter writes one (F32 tensors, no tokenizer)."""
    config = reference.config
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_vocab_size(config.vocab_size)
    if rope_scaling:
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(rope_scaling["factor"])
        writer.add_rope_scaling_orig_ctx_len(rope_scaling["original_max_position_embeddings"])
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    heads = {"q_proj": config.num_attention_heads, "k_proj": config.num_key_value_heads}
    tied = "lm_head.weight" if config.tie_word_embeddings else None
    for name, tensor in reference.state_dict().items():
        if name == tied:
            continue
        values = tensor.numpy()
        projection = name.split(".")[-2]
        if permute_qk and projection in heads:
            values = llama_cpp_permute(values, heads[projection])
        writer.add_tensor(gguf_tensor_name(name), np.ascontiguousarray(values))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


TINY_CASES = {  # arch: (reference class, extra config, llama.cpp permutes q/k)
    "llama": ("LlamaForCausalLM", {"tie_word_embeddings": True}, True),
    "mistral": ("MistralForCausalLM", {"tie_word_embeddings": False, "sliding_window": None}, True),
    "qwen2": ("Qwen2ForCausalLM", {"tie_word_embeddings": False}, False),  # biases on q, k, v
}


@pytest.mark.parametrize("arch", sorted(TINY_CASES))
def test_tiny_gguf_matches_the_model_it_was_written_from(arch, tmp_path):
    class_name, extra, permute = TINY_CASES[arch]
    reference = build_reference_model(arch, class_name, {**TINY, **extra})
    path = write_gguf(tmp_path / f"tiny-{arch}.gguf", arch, reference, permute)
    model = AutoModelForCausalLM.from_pretrained(path)  # the .gguf path on its own
    assert type(model).__name__ == class_name and model.config.tie_word_embeddings == extra["tie_word_embeddings"]
    ids = torch.tensor([[3, 14, 15, 9, 26, 5, 35]])
    with torch.no_grad():
        assert_close_scaled(model(ids).logits, reference(ids).logits)
    half = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=str(path), dtype=torch.bfloat16)  # absolute
    assert half.dtype == torch.bfloat16


def test_yarn_scaling_and_qwen2_keys_map_to_the_config(tmp_path):
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32, "rope_theta": 10000.0}
    reference = build_reference_model("qwen2", "Qwen2ForCausalLM", {**TINY, "rope_parameters": yarn})
    path = write_gguf(tmp_path / "yarn.gguf", "qwen2", reference, permute_qk=False, rope_scaling=yarn)
    config = AutoConfig.from_pretrained(tmp_path, gguf_file="yarn.gguf")
    assert config.model_type == "qwen2" and config.rope_parameters == yarn
    assert (config.num_key_value_heads, config.bos_token_id, config.eos_token_id) == (2, 1, 2)
    model = AutoModelForCausalLM.from_pretrained(path)
    ids = torch.arange(40)[None] % 64  # past original_max_position_embeddings
    with torch.no_grad():
        assert_close_scaled(model(ids).logits, reference(ids).logits)


# ---------------------------------------------------------------------------------------------
# errors


def test_a_file_that_is_not_gguf(tmp_path):
    (tmp_path / "model.gguf").write_bytes(b'{"not": "a gguf file"}')
    with pytest.raises(CheckpointError, match=r"model\.gguf is not a GGUF file: it starts with b'\{\"no'"):
        AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="model.gguf")


def test_a_missing_gguf_file_names_the_ones_there(smollm2):
    folder, name = smollm2
    with pytest.raises(CheckpointNotFoundError, match=rf"has no GGUF file 'Q8.gguf' \(the GGUF files there are {name}\)"):
        AutoModelForCausalLM.from_pretrained(folder, gguf_file="Q8.gguf")
    with pytest.raises(OSError, match="does not exist"):
        AutoConfig.from_pretrained(folder, gguf_file="/no/such/model.gguf")
    with pytest.raises(CheckpointNotFoundError, match="Cannot find 'model.gguf' of 'someone/model-GGUF'"):
        AutoConfig.from_pretrained("someone/model-GGUF", gguf_file="model.gguf")  # offline in tests


def test_an_unsupported_architecture(tmp_path):
    writer = gguf.GGUFWriter(str(tmp_path / "mamba.gguf"), "mamba")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    supported = ", ".join(sorted(ARCHITECTURES))
    with pytest.raises(UnsupportedModelError, match=rf"architecture 'mamba'.*Supported GGUF architectures: {supported}\."):
        AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="mamba.gguf")


def test_an_unsupported_tensor_type(tmp_path):
    reference = build_reference_model("llama", "LlamaForCausalLM", {**TINY, "num_hidden_layers": 1})
    path = write_gguf(tmp_path / "f64.gguf", "llama", reference.double(), permute_qk=True)
    with pytest.raises(CheckpointError, match=r"Tensor 'token_embd.weight' of .*f64.gguf is stored as F64.*Q4_1"):
        LlamaForCausalLM.from_pretrained(path)
