"""Parallel-block decoders: one config-driven decoder for GPT-NeoX, GPT-J, CodeGen, Phi and StableLM.

    input_ids ─► embed ─► N × block ─► final norm ─► lm head

    block, parallel residual (GPT-J, CodeGen, Phi; GPT-NeoX and StableLM when use_parallel_residual):
        h = h + attention(norm_1(h)) + mlp(norm_2(h) or norm_1(h))
    block, sequential (GPT-NeoX and StableLM otherwise):
        h = h + attention(norm_1(h));  h = h + mlp(norm_2(h))

    attention: q/k/v (separate or fused) ─► optional q/k LayerNorm ─► rotary on the first R channels
               of each head (halves, or interleaved pairs) ─► cache ─► causal attention ─► out

GPT-NeoX: https://arxiv.org/abs/2204.06745, GPT-J: https://github.com/kingoflolz/mesh-transformer-jax,
CodeGen: https://arxiv.org/abs/2203.13474, Phi: https://arxiv.org/abs/2309.05463,
StableLM: https://huggingface.co/stabilityai/stablelm-3b-4e1t. Every norm is a LayerNorm with a bias.

What tells the families apart is read in one place, each config's :meth:`spec`, into a
:class:`Spec` the modules are built from; their module names (the checkpoint keys differ in every
family) are the config class's :class:`Layout`. The fused q/k/v projections stay fused, as stored:
GPT-NeoX's ``query_key_value`` holds ``[q k v]`` per head; CodeGen's ``qkv_proj`` holds 4 blocks
(its model-parallel shards), each ``[q v k]`` for a quarter of the heads. They are sliced at run
time, so checkpoints load and save unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import multi_head_attention
from ..nn.cache import as_decoder_cache, next_positions
from ..nn.decoder_mask import decoder_mask
from ..nn.layers import output_flags, run_layers
from ..nn.linear import Linear, fused_for_inference
from ..nn.mlp import GatedMLP
from ..nn.rope import RotaryEmbedding, head_tables, pair_tables, rotate_heads, rotate_pairs
from ..outputs import BaseModelOutputWithPast
from .decoder_heads import (DecoderForCausalLM, DecoderForQuestionAnswering, DecoderForSequenceClassification,
                            DecoderForTokenClassification)
from .parallel_decoder_config import (  # noqa: F401  (the configs are this family module's public names too)
    CODEGEN_SHARDS,
    CodeGenConfig,
    GPTJConfig,
    GPTNeoXConfig,
    Layout,
    PhiConfig,
    Spec,
    StableLmConfig,
)

# ---------------------------------------------------------------------------------------------
# modules


class PerHeadLayerNorm(nn.Module):
    """One bias-free LayerNorm per head (StableLM's q/k norms: ``norms.<head>.weight``) over (B, T, H, D)."""

    def __init__(self, head_dim: int, heads: int, eps: float) -> None:
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(head_dim, eps=eps, bias=False) for _ in range(heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.stack([norm.weight for norm in self.norms])  # (H, D): one product for every head
        return nn.functional.layer_norm(x, x.shape[-1:], eps=self.norms[0].eps) * weight


class TwoLayerMLP(nn.Module):
    """``out(act(in(x)))`` under the family's names (``fc_in``/``fc_out``, ``fc1``/``fc2``, ...)."""

    def __init__(self, spec: Spec, names: tuple[str, str]) -> None:
        super().__init__()
        self.names = names
        setattr(self, names[0], Linear(spec.hidden, spec.intermediate, bias=spec.mlp_bias))
        setattr(self, names[1], Linear(spec.intermediate, spec.hidden, bias=spec.mlp_bias))
        self.act = get_activation(spec.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, second = (getattr(self, name) for name in self.names)
        return second(self.act(first(x)))


def build_mlp(spec: Spec, names: tuple[str, ...]) -> nn.Module:
    if len(names) == 3:  # StableLM: gate, up, down
        return GatedMLP(spec.hidden, spec.intermediate, spec.activation, bias=spec.mlp_bias, names=names)
    return TwoLayerMLP(spec, names)


class ParallelAttention(nn.Module):
    """Causal self-attention with rotary queries and keys; ``rotary`` is (rotate, cos, sin) from the model."""

    def __init__(self, spec: Spec, layout: Layout, layer_idx: int) -> None:
        super().__init__()
        self.spec, self.layer_idx = spec, layer_idx
        self.qkv_names, self.out_name = layout.qkv, layout.out
        hidden, dim = spec.hidden, spec.head_dim
        if spec.fused_qkv:
            setattr(self, layout.qkv[0], Linear(hidden, 3 * hidden, bias=spec.qkv_bias))
        else:
            for name, heads in zip(layout.qkv, (spec.heads, spec.kv_heads, spec.kv_heads)):
                setattr(self, name, Linear(hidden, heads * dim, bias=spec.qkv_bias))
        setattr(self, layout.out, Linear(spec.heads * dim, hidden, bias=spec.out_bias))
        if spec.qk_norm == "shared":
            self.q_layernorm = nn.LayerNorm(dim, eps=spec.eps)
            self.k_layernorm = nn.LayerNorm(dim, eps=spec.eps)
        elif spec.qk_norm == "per_head":
            self.q_layernorm = PerHeadLayerNorm(dim, spec.heads, spec.eps)
            self.k_layernorm = PerHeadLayerNorm(dim, spec.kv_heads, spec.eps)
        self.resid_dropout = nn.Dropout(spec.attention_out_dropout)

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, C) -> queries (B, T, H, D), keys and values (B, T, Hkv, D)."""
        batch, length, _ = x.shape
        heads, dim = self.spec.heads, self.spec.head_dim
        if self.spec.fused_qkv == "per_head":  # [q k v] for each head in turn
            return getattr(self, self.qkv_names[0])(x).view(batch, length, heads, 3 * dim).chunk(3, dim=-1)
        if self.spec.fused_qkv == "codegen":  # 4 shards, each [q v k] for a quarter of the heads
            shape = (batch, length, CODEGEN_SHARDS, 3, heads // CODEGEN_SHARDS, dim)
            qkv = getattr(self, self.qkv_names[0])(x).view(shape)
            query, value, key = (qkv[:, :, :, i].reshape(batch, length, heads, dim) for i in range(3))
            return query, key, value
        linears = [getattr(self, name) for name in self.qkv_names]
        fused = fused_for_inference(self, "_qkv", linears)
        outputs = fused(x).split(fused.sizes, dim=-1) if fused is not None else [m(x) for m in linears]
        return tuple(t.view(batch, length, -1, dim) for t in outputs)

    def forward(self, hidden_states, rotary, mask, cache, eager, cache_position):
        query, key, value = self._heads(hidden_states)
        if self.spec.qk_norm:
            query, key = self.q_layernorm(query), self.k_layernorm(key)
        rotate, cos, sin = rotary
        query, key = rotate(query, cos, sin).transpose(1, 2), rotate(key, cos, sin).transpose(1, 2)
        # GPT-J and CodeGen compute scores and softmax in float32 (half-precision scores overflow): the explicit path
        eager = eager or (self.spec.upcast_attention and query.dtype != torch.float32)
        out, weights = multi_head_attention(query, key, value.transpose(1, 2), mask, cache=cache,
                                            layer_idx=self.layer_idx, cache_kwargs={"cache_position": cache_position},
                                            causal=True, scale=self.spec.head_dim**-0.5,
                                            eager=eager, upcast=self.spec.upcast_attention,
                                            dropout=self.spec.attention_dropout if self.training else 0.0)
        return self.resid_dropout(getattr(self, self.out_name)(out)), weights


class ParallelBlock(nn.Module):
    def __init__(self, spec: Spec, layout: Layout, layer_idx: int) -> None:
        super().__init__()
        self.parallel = spec.parallel_residual
        self.names = (layout.attn_norm, layout.attention, layout.mlp_norm if spec.mlp_norm else None)
        setattr(self, layout.attn_norm, nn.LayerNorm(spec.hidden, eps=spec.eps))
        if spec.mlp_norm:  # (a sequential block always has one)
            setattr(self, layout.mlp_norm, nn.LayerNorm(spec.hidden, eps=spec.eps))
        setattr(self, layout.attention, ParallelAttention(spec, layout, layer_idx))
        self.mlp = build_mlp(spec, layout.mlp)
        self.mlp_dropout = nn.Dropout(spec.mlp_out_dropout)

    def forward(self, hidden_states, mask, rotary, cache, eager, cache_position):
        attn_norm, attention, mlp_norm = (getattr(self, name) if name else None for name in self.names)
        normed = attn_norm(hidden_states)
        attended, weights = attention(normed, rotary, mask, cache, eager, cache_position)
        if self.parallel:  # both branches read the block's input
            fed = mlp_norm(hidden_states) if mlp_norm is not None else normed
            return hidden_states + attended + self.mlp_dropout(self.mlp(fed)), weights
        hidden_states = hidden_states + attended
        return hidden_states + self.mlp_dropout(self.mlp(mlp_norm(hidden_states))), weights


class ParallelPreTrainedModel(PreTrainedModel):
    # causal-mask and rotary buffers that older checkpoints hold (Pythia's attention.bias, CodeGen's attn.causal_mask)
    _ignore_unexpected = (r"\.(attn|attention)\.(masked_bias|bias|causal_mask)$", r"rotary_emb\.inv_freq$",
                          r"\.embed_positions$")
    _supports_static_cache = True  # the mask covers whatever keys the cache returns (decoder_mask)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        layout = getattr(cls.config_class, "layout", None)
        if layout is not None:  # each family's names, from its config class's Layout
            cls.base_model_prefix, cls.token_classifier = layout.base, layout.token_classifier
            cls.lm_head_name = layout.lm_head
            if cls.is_generative:
                cls._tied_weights_keys = {f"{layout.lm_head}.weight": f"{layout.base}.{layout.embed}.weight"}


class ParallelDecoderModel(ParallelPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        spec, layout = config.spec(), config.layout
        self.spec = spec
        self.embed_name, self.layers_name, self.norm_name = layout.embed, layout.layers, layout.final_norm
        setattr(self, layout.embed, nn.Embedding(config.vocab_size, spec.hidden, padding_idx=spec.embed_padding_idx))
        self.drop = nn.Dropout(spec.embed_dropout)
        blocks = nn.ModuleList(ParallelBlock(spec, layout, i) for i in range(config.num_hidden_layers))
        setattr(self, layout.layers, blocks)
        setattr(self, layout.final_norm, nn.LayerNorm(spec.hidden, eps=spec.eps))
        self.rotary_emb = RotaryEmbedding(spec.rope)

    def get_input_embeddings(self) -> nn.Embedding:
        return getattr(self, self.embed_name)

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        setattr(self, self.embed_name, embeddings)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, past_key_values=None, inputs_embeds=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                token_type_ids=None, cache_position=None, **kwargs):
        """Hidden states of every position; with ``use_cache`` (the config's default) the keys and
        values go into ``past_key_values``. ``attention_mask`` is a (B, past + T) 1/0 padding mask;
        ``position_ids`` default to ``past, past + 1, ...`` (pass them for left-padded batches).
        GPT-J and CodeGen add the embeddings of ``token_type_ids`` (the word table); the others ignore them."""
        config = self.config
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        use_cache = config.use_cache if use_cache is None else use_cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        embed = self.get_input_embeddings()
        hidden = embed(input_ids) if inputs_embeds is None else inputs_embeds  # (B, T, C)
        if token_type_ids is not None and self.spec.token_type_embeddings:
            hidden = hidden + embed(token_type_ids)
        hidden = self.drop(hidden)
        past_key_values = as_decoder_cache(past_key_values, use_cache)
        length = hidden.shape[1]
        if cache_position is None:  # continue after the cached positions
            cache_position = next_positions(past_key_values, length, hidden.device)
        if position_ids is None:
            position_ids = cache_position[None]
        cos, sin = self.rotary_emb(position_ids, hidden.dtype)  # (B or 1, T, R)
        if self.spec.interleaved_rotary:
            rotary = (rotate_pairs, *pair_tables(cos, sin))
        else:
            rotary = (rotate_heads, *head_tables(cos, sin))
        mask = decoder_mask(attention_mask, past_key_values, cache_position, length, hidden.dtype)
        stack = run_layers(getattr(self, self.layers_name), hidden, mask, rotary, past_key_values, eager,
                           cache_position, final=getattr(self, self.norm_name),
                           output_hidden_states=output_hidden_states, output_attentions=output_attentions)
        out = BaseModelOutputWithPast(stack.last_hidden_state, past_key_values if use_cache else None,
                                      stack.hidden_states, stack.attentions)
        return self._finish(out, return_dict)


# ---------------------------------------------------------------------------------------------
# heads: workbench/models/decoder_heads.py's (each family's classes, below, give them their
# config class and base model; the module names come from the config class's Layout)


class ParallelForCausalLM(DecoderForCausalLM, ParallelPreTrainedModel):
    def lm_head_bias(self, config: PretrainedConfig) -> bool:
        return config.spec().lm_head_bias  # GPT-J, CodeGen and Phi have one


class ParallelForSequenceClassification(DecoderForSequenceClassification, ParallelPreTrainedModel):
    pass


class ParallelForTokenClassification(DecoderForTokenClassification, ParallelPreTrainedModel):
    pass


class ParallelForQuestionAnswering(DecoderForQuestionAnswering, ParallelPreTrainedModel):
    pass


# ---------------------------------------------------------------------------------------------
# the families: the same modules under each family's class names (save_pretrained writes the
# class name into config.json's "architectures")


class GPTNeoXModel(ParallelDecoderModel):
    config_class = GPTNeoXConfig


class GPTNeoXForCausalLM(ParallelForCausalLM):
    config_class, base_model_class = GPTNeoXConfig, GPTNeoXModel


class GPTNeoXForSequenceClassification(ParallelForSequenceClassification):
    config_class, base_model_class = GPTNeoXConfig, GPTNeoXModel


class GPTNeoXForTokenClassification(ParallelForTokenClassification):
    config_class, base_model_class = GPTNeoXConfig, GPTNeoXModel


class GPTNeoXForQuestionAnswering(ParallelForQuestionAnswering):
    config_class, base_model_class = GPTNeoXConfig, GPTNeoXModel


class GPTJModel(ParallelDecoderModel):
    config_class = GPTJConfig


class GPTJForCausalLM(ParallelForCausalLM):
    config_class, base_model_class = GPTJConfig, GPTJModel


class GPTJForSequenceClassification(ParallelForSequenceClassification):
    config_class, base_model_class = GPTJConfig, GPTJModel


class GPTJForQuestionAnswering(ParallelForQuestionAnswering):
    config_class, base_model_class = GPTJConfig, GPTJModel


class CodeGenModel(ParallelDecoderModel):
    config_class = CodeGenConfig


class CodeGenForCausalLM(ParallelForCausalLM):
    config_class, base_model_class = CodeGenConfig, CodeGenModel


class PhiModel(ParallelDecoderModel):
    config_class = PhiConfig


class PhiForCausalLM(ParallelForCausalLM):
    config_class, base_model_class = PhiConfig, PhiModel


class PhiForSequenceClassification(ParallelForSequenceClassification):
    config_class, base_model_class = PhiConfig, PhiModel


class PhiForTokenClassification(ParallelForTokenClassification):
    config_class, base_model_class = PhiConfig, PhiModel


class StableLmModel(ParallelDecoderModel):
    config_class = StableLmConfig


class StableLmForCausalLM(ParallelForCausalLM):
    config_class, base_model_class = StableLmConfig, StableLmModel


class StableLmForSequenceClassification(ParallelForSequenceClassification):
    config_class, base_model_class = StableLmConfig, StableLmModel


class StableLmForTokenClassification(ParallelForTokenClassification):
    config_class, base_model_class = StableLmConfig, StableLmModel
