"""The configs of the parallel-block decoders (:mod:`workbench.models.parallel_decoder`): each family's
config.json keys and defaults, its module names (:class:`Layout`) and its ``spec()``, the one place
where its config becomes the facts the modules are built from (:class:`Spec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

from ..config import PretrainedConfig
from ..nn.rope import DEFAULT_THETA, standardize_rope_parameters

CODEGEN_SHARDS = 4  # CodeGen's qkv_proj rows come in 4 blocks, one per model-parallel shard of its training


@dataclass(frozen=True)
class Layout:
    """A family's module names (its checkpoint keys)."""

    base: str  # the base model inside a head model: "gpt_neox", "transformer", "model"
    embed: str
    layers: str
    final_norm: str
    attn_norm: str
    mlp_norm: str | None  # None: the MLP reads the attention's normed input
    attention: str
    qkv: tuple[str, ...]  # (q, k, v), or one fused projection
    out: str
    mlp: tuple[str, ...]  # (in, out), or (gate, up, down) for a gated MLP
    lm_head: str
    token_classifier: str


@dataclass(frozen=True)
class Spec:
    """Everything the modules read from a config, derived once by the config's ``spec()``."""

    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    activation: str
    eps: float
    rope: object  # what RotaryEmbedding reads: the config, or a stand-in giving GPT-J's rotary_dim
    fused_qkv: str | None = None  # None: q/k/v separate; "per_head" (GPT-NeoX) or "codegen" (4 [q v k] blocks)
    interleaved_rotary: bool = False  # turn channel pairs (2i, 2i+1) instead of halves (i, i + R/2)
    qkv_bias: bool = True
    out_bias: bool = True
    mlp_bias: bool = True
    lm_head_bias: bool = False
    # q/k LayerNorms over each head: "shared", one for every head (Phi); "per_head", one per head, no bias (StableLM)
    qk_norm: str | None = None
    parallel_residual: bool = True
    mlp_norm: bool = False  # a second norm before the MLP (layout.mlp_norm; GPT-NeoX has it even when parallel)
    upcast_attention: bool = False  # scores and softmax in float32 whatever the dtype (GPT-J, CodeGen)
    token_type_embeddings: bool = False  # token_type_ids index the word embeddings (GPT-J, CodeGen)
    embed_padding_idx: int | None = None
    embed_dropout: float = 0.0
    attention_dropout: float = 0.0
    attention_out_dropout: float = 0.0
    mlp_out_dropout: float = 0.0

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


# ---------------------------------------------------------------------------------------------
# configs


def _check_heads(config: PretrainedConfig) -> None:
    if config.hidden_size % config.num_attention_heads:
        raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                         f"({config.num_attention_heads}): fix one of them in the config.")


def _fold_partial_rotary(config: PretrainedConfig, default: float, *aliases: str) -> None:
    """Legacy spellings of the rotary fraction (GPT-NeoX's ``rotary_pct``) and base (``rotary_emb_base``)
    become ``rope_parameters`` keys, with the family's default fraction, as the reference reads them."""
    loose = config.__dict__
    for alias in aliases:
        if alias in loose:
            loose.setdefault("partial_rotary_factor", loose.pop(alias))
    if "rotary_emb_base" in loose:
        loose.setdefault("rope_theta", loose.pop("rotary_emb_base"))
    params = loose.get("rope_parameters") or loose.get("rope_scaling") or {}
    if "partial_rotary_factor" not in params:
        loose.setdefault("partial_rotary_factor", default)
    standardize_rope_parameters(config)


class GPTNeoXConfig(PretrainedConfig):
    model_type = "gpt_neox"
    layout = Layout(base="gpt_neox", embed="embed_in", layers="layers", final_norm="final_layer_norm",
                    attn_norm="input_layernorm", mlp_norm="post_attention_layernorm", attention="attention",
                    qkv=("query_key_value",), out="dense", mlp=("dense_h_to_4h", "dense_4h_to_h"), lm_head="embed_out",
                    token_classifier="classifier")
    defaults = {
        "vocab_size": 50432, "hidden_size": 6144, "num_hidden_layers": 44, "num_attention_heads": 64,
        "intermediate_size": 24576, "hidden_act": "gelu", "attention_dropout": 0.0, "hidden_dropout": 0.0,
        "classifier_dropout": 0.1, "max_position_embeddings": 2048, "initializer_range": 0.02, "layer_norm_eps": 1e-5,
        "use_cache": True, "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": None, "tie_word_embeddings": False,
        "use_parallel_residual": True, "rope_parameters": None, "attention_bias": True, "is_decoder": False,
    }

    def __post_init__(self) -> None:
        _check_heads(self)
        _fold_partial_rotary(self, 0.25, "rotary_pct")

    def spec(self) -> Spec:
        return Spec(self.hidden_size, self.num_attention_heads, self.num_attention_heads, self.intermediate_size,
                    self.hidden_act, self.layer_norm_eps, self, fused_qkv="per_head", qkv_bias=self.attention_bias,
                    out_bias=self.attention_bias, parallel_residual=self.use_parallel_residual, mlp_norm=True,
                    embed_dropout=self.hidden_dropout, attention_dropout=self.attention_dropout,
                    attention_out_dropout=self.hidden_dropout, mlp_out_dropout=self.hidden_dropout)


class GPTJConfig(PretrainedConfig):
    model_type = "gptj"
    layout = Layout(base="transformer", embed="wte", layers="h", final_norm="ln_f", attn_norm="ln_1", mlp_norm=None,
                    attention="attn", qkv=("q_proj", "k_proj", "v_proj"), out="out_proj", mlp=("fc_in", "fc_out"),
                    lm_head="lm_head", token_classifier="classifier")
    fused_qkv = None  # CodeGen's: "codegen"
    attribute_map = {"max_position_embeddings": "n_positions", "hidden_size": "n_embd",
                     "num_attention_heads": "n_head", "num_hidden_layers": "n_layer"}
    defaults = {
        "vocab_size": 50400, "n_positions": 2048, "n_embd": 4096, "n_layer": 28, "n_head": 16, "rotary_dim": 64,
        "n_inner": None, "activation_function": "gelu_new", "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        "layer_norm_epsilon": 1e-5, "initializer_range": 0.02, "use_cache": True, "bos_token_id": 50256,
        "eos_token_id": 50256, "pad_token_id": None, "tie_word_embeddings": False,
    }

    def __post_init__(self) -> None:
        _check_heads(self)

    def spec(self) -> Spec:
        # rotary_dim counts channels (None: the whole head); a RoPE config whose "head" is those channels
        rotary = self.rotary_dim or self.n_embd // self.n_head
        rope = SimpleNamespace(rope_parameters={"rope_type": "default", "rope_theta": DEFAULT_THETA}, head_dim=rotary,
                               max_position_embeddings=self.n_positions)
        return Spec(self.n_embd, self.n_head, self.n_head, self.n_inner or 4 * self.n_embd, self.activation_function,
                    self.layer_norm_epsilon, rope, fused_qkv=self.fused_qkv,
                    interleaved_rotary=True, qkv_bias=False, out_bias=False, lm_head_bias=True, upcast_attention=True,
                    token_type_embeddings=True, embed_dropout=self.embd_pdrop, attention_dropout=self.attn_pdrop,
                    attention_out_dropout=self.resid_pdrop, mlp_out_dropout=self.resid_pdrop)


class CodeGenConfig(GPTJConfig):
    """GPT-J's block with one fused ``qkv_proj`` (see the module docstring for its layout)."""

    model_type = "codegen"
    layout = Layout(base="transformer", embed="wte", layers="h", final_norm="ln_f", attn_norm="ln_1", mlp_norm=None,
                    attention="attn", qkv=("qkv_proj",), out="out_proj", mlp=("fc_in", "fc_out"), lm_head="lm_head",
                    token_classifier="classifier")
    fused_qkv = "codegen"
    defaults = {**GPTJConfig.defaults, "n_ctx": 2048}
    defaults.pop("pad_token_id")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_head % CODEGEN_SHARDS:
            raise ValueError(f"CodeGen's qkv_proj holds {CODEGEN_SHARDS} blocks of heads: n_head ({self.n_head}) "
                             f"must be a multiple of {CODEGEN_SHARDS}.")


class PhiConfig(PretrainedConfig):
    model_type = "phi"
    layout = Layout(base="model", embed="embed_tokens", layers="layers", final_norm="final_layernorm",
                    attn_norm="input_layernorm", mlp_norm=None, attention="self_attn",
                    qkv=("q_proj", "k_proj", "v_proj"), out="dense", mlp=("fc1", "fc2"), lm_head="lm_head",
                    token_classifier="score")
    defaults = {
        "vocab_size": 51200, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24,
        "num_attention_heads": 32, "num_key_value_heads": None, "resid_pdrop": 0.0, "embd_pdrop": 0.0,
        "attention_dropout": 0.0, "hidden_act": "gelu_new", "max_position_embeddings": 2048, "initializer_range": 0.02,
        "layer_norm_eps": 1e-5, "use_cache": True, "tie_word_embeddings": False, "rope_parameters": None,
        "qk_layernorm": False, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": None,
    }

    def __post_init__(self) -> None:
        _check_heads(self)
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        _fold_partial_rotary(self, 0.5)

    def spec(self) -> Spec:
        return Spec(self.hidden_size, self.num_attention_heads, self.num_key_value_heads, self.intermediate_size,
                    self.hidden_act, self.layer_norm_eps, self, lm_head_bias=True,
                    qk_norm="shared" if self.qk_layernorm else None, embed_padding_idx=self.pad_token_id,
                    embed_dropout=self.embd_pdrop, attention_dropout=self.attention_dropout or 0.0,
                    attention_out_dropout=self.resid_pdrop, mlp_out_dropout=self.resid_pdrop)


class StableLmConfig(PretrainedConfig):
    model_type = "stablelm"
    layout = Layout(base="model", embed="embed_tokens", layers="layers", final_norm="norm", attn_norm="input_layernorm",
                    mlp_norm="post_attention_layernorm", attention="self_attn", qkv=("q_proj", "k_proj", "v_proj"),
                    out="o_proj", mlp=("gate_proj", "up_proj", "down_proj"), lm_head="lm_head",
                    token_classifier="score")
    defaults = {
        "vocab_size": 50304, "intermediate_size": 6912, "hidden_size": 2560, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu", "max_position_embeddings": 4096,
        "initializer_range": 0.02, "layer_norm_eps": 1e-5, "use_cache": True, "tie_word_embeddings": False,
        "rope_parameters": None, "use_qkv_bias": False, "qk_layernorm": False, "use_parallel_residual": False,
        "hidden_dropout": 0.0, "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": None,
    }

    def __post_init__(self) -> None:
        _check_heads(self)
        _fold_partial_rotary(self, 0.25)

    def spec(self) -> Spec:
        return Spec(self.hidden_size, self.num_attention_heads, self.num_key_value_heads, self.intermediate_size,
                    self.hidden_act, self.layer_norm_eps, self, qkv_bias=self.use_qkv_bias, out_bias=False,
                    mlp_bias=False, qk_norm="per_head" if self.qk_layernorm else None,
                    parallel_residual=self.use_parallel_residual, mlp_norm=not self.use_parallel_residual,
                    embed_padding_idx=self.pad_token_id,
                    attention_dropout=self.attention_dropout, mlp_out_dropout=self.hidden_dropout)

