"""GPT-2 (https://cdn.openai.com/better-language-models/language_models_are_unsupervised_multitask_learners.pdf).

    input_ids ─► wte + wpe (+ wte(token_type_ids)) ─► dropout
              ─► n_layer × [ x + attn(ln_1(x)) ─► x + mlp(ln_2(x)) ]     (pre-norm blocks)
              ─► ln_f ─► last_hidden_state ─► (lm_head tied to wte | score | classifier | qa_outputs)

Module names equal the checkpoint keys (``transformer.h.0.attn.c_attn``). The projections are
``Conv1D`` layers whose weights are stored (in, out), so checkpoints load and save unchanged.
Older checkpoints carry ``attn.bias`` / ``attn.masked_bias`` buffers (a precomputed causal
mask): they are ignored, the mask is built per call.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import multi_head_attention, causal_mask, padding_mask, split_heads
from ..nn.cache import as_decoder_cache, as_encoder_decoder_cache
from ..nn.conv1d import Conv1D
from ..nn.layers import output_flags, run_layers
from ..outputs import BaseModelOutputWithPastAndCrossAttentions
from .decoder_heads import (DecoderForCausalLM, DecoderForQuestionAnswering, DecoderForSequenceClassification,
                            DecoderForTokenClassification)


class GPT2Config(PretrainedConfig):
    model_type = "gpt2"
    attribute_map = {
        "hidden_size": "n_embd",
        "max_position_embeddings": "n_positions",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    }
    defaults = {
        "vocab_size": 50257,
        "n_positions": 1024,
        "n_embd": 768,
        "n_layer": 12,
        "n_head": 12,
        "n_inner": None,  # None: 4 * n_embd
        "activation_function": "gelu_new",
        "resid_pdrop": 0.1,
        "embd_pdrop": 0.1,
        "attn_pdrop": 0.1,
        "layer_norm_epsilon": 1e-5,
        "initializer_range": 0.02,
        # read by the reference's GPT2DoubleHeadsModel only; kept so config.json round-trips
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "summary_activation": None,
        "summary_proj_to_labels": True,
        "summary_first_dropout": 0.1,
        "scale_attn_weights": True,
        "use_cache": True,
        "bos_token_id": 50256,
        "eos_token_id": 50256,
        "pad_token_id": None,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "add_cross_attention": False,
        "tie_word_embeddings": True,
    }



class GPT2Attention(nn.Module):
    """Causal multi-head self-attention with one fused q/k/v projection (``c_attn``); or, with
    ``cross=True`` (``add_cross_attention``: GPT-2 as the decoder of an encoder-decoder), attention over the
    encoder's states: queries from ``q_attn``, keys and values from ``c_attn`` (fused k/v), computed on the
    first step and then read from the :class:`~workbench.nn.cache.EncoderDecoderCache`."""

    def __init__(self, config: PretrainedConfig, layer_idx: int, cross: bool = False) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(
                f"n_embd ({config.n_embd}) must be a multiple of n_head ({config.n_head}): fix one of them in the config."
            )
        self.num_heads = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.layer_idx = layer_idx
        self.scaling = self.head_dim ** -0.5 if config.scale_attn_weights else 1.0
        if config.scale_attn_by_inverse_layer_idx:  # deeper layers get softer attention (Mistral's GPT-2 runs)
            self.scaling /= layer_idx + 1
        self.upcast = config.reorder_and_upcast_attn
        self.cross = cross
        self.c_attn = Conv1D((2 if cross else 3) * config.n_embd, config.n_embd)
        if cross:
            self.q_attn = Conv1D(config.n_embd, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states, mask, cache, eager, encoder_states=None):
        width = hidden_states.shape[-1]
        if self.cross:
            query = split_heads(self.q_attn(hidden_states), self.head_dim)
            key, value = self._cross_keys_values(encoder_states, cache)
            cache = None  # the encoder's keys and values are stored once, not appended to
        else:
            query, key, value = (split_heads(t, self.head_dim) for t in self.c_attn(hidden_states).split(width, dim=2))
        out, weights = multi_head_attention(query, key, value, mask, cache=cache, layer_idx=self.layer_idx,
                                            causal=not self.cross, scale=self.scaling, eager=eager,
                                            upcast=self.upcast, dropout=self.attn_dropout.p if self.training else 0.0)
        return self.resid_dropout(self.c_proj(out)), weights

    def _cross_keys_values(self, encoder_states, cache):
        """(B, S, C) encoder states -> keys, values (B, H, S, D), from the cache after the first step."""
        cached = cache.cross_attention(self.layer_idx) if cache is not None else None
        if cached is not None:
            return cached
        width = encoder_states.shape[-1]
        key, value = (split_heads(t, self.head_dim) for t in self.c_attn(encoder_states).split(width, dim=2))
        if cache is not None:
            cache.store_cross_attention(key, value, self.layer_idx)
        return key, value


class GPT2MLP(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        inner = config.n_inner if config.n_inner is not None else 4 * config.n_embd
        self.c_fc = Conv1D(inner, config.n_embd)
        self.c_proj = Conv1D(config.n_embd, inner)
        self.act = get_activation(config.activation_function)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(hidden_states))))


class GPT2Block(nn.Module):
    # a family of this shape with other projections (GPTBigCode's nn.Linear, multi-query) swaps these
    attention_class, mlp_class = GPT2Attention, GPT2MLP

    def __init__(self, config: PretrainedConfig, layer_idx: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = self.attention_class(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = self.mlp_class(config)
        if getattr(config, "add_cross_attention", False):  # x + crossattention(ln_cross_attn(x)) after self-attention
            self.crossattention = self.attention_class(config, layer_idx, cross=True)
            self.ln_cross_attn = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def forward(self, hidden_states, mask, cache, eager, encoder_states=None, encoder_mask=None):
        """-> (hidden, self-attention weights), and the cross-attention weights when ``encoder_states`` are given."""
        attended, weights = self.attn(self.ln_1(hidden_states), mask, cache, eager)
        hidden_states = hidden_states + attended
        if encoder_states is None:
            return hidden_states + self.mlp(self.ln_2(hidden_states)), weights
        if "crossattention" not in self._modules:
            raise ValueError("encoder_hidden_states were given, but this GPT-2 has no cross-attention: build it with "
                             "add_cross_attention=True (VisionEncoderDecoderModel does).")
        crossed, cross_weights = self.crossattention(self.ln_cross_attn(hidden_states), encoder_mask, cache, eager,
                                                     encoder_states)
        hidden_states = hidden_states + crossed
        return hidden_states + self.mlp(self.ln_2(hidden_states)), weights, cross_weights


class GPT2PreTrainedModel(PreTrainedModel):
    config_class = GPT2Config
    base_model_prefix = "transformer"
    # causal-mask buffers that checkpoints written before transformers 4.x/5 still hold
    _ignore_unexpected = (r"\.attn\.(masked_)?bias$", r"\.crossattention\.(masked_)?bias$")

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, Conv1D):
            nn.init.normal_(module.weight, std=std)
            nn.init.zeros_(module.bias)
        if isinstance(module, (GPT2Attention, GPT2MLP)):
            # GPT-2 scales the init of the projections that write into the residual stream by
            # 1/sqrt(number of residual additions), two per block
            nn.init.normal_(module.c_proj.weight, std=std / (2 * self.config.n_layer) ** 0.5)


class GPT2Model(GPT2PreTrainedModel):
    block_class = GPT2Block

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(self.block_class(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.wte

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.wte = embeddings

    def forward(self, input_ids=None, past_key_values=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None,
                encoder_hidden_states=None, encoder_attention_mask=None, **kwargs):
        """``encoder_hidden_states`` (B, S, C): an encoder's output for the cross-attention blocks (a model built
        with ``add_cross_attention``), ``encoder_attention_mask`` (B, S) its padding; the cache then holds the
        cross-attention keys and values too (an ``EncoderDecoderCache``)."""
        config = self.config
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        use_cache = config.use_cache if use_cache is None else use_cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        crossing = bool(getattr(config, "add_cross_attention", False))
        past_key_values = (as_encoder_decoder_cache if crossing else as_decoder_cache)(past_key_values, use_cache)

        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)  # (B, T, C)
        length = inputs_embeds.shape[1]
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:  # continue after the cached positions
            position_ids = torch.arange(past, past + length, device=inputs_embeds.device)[None]
        hidden = inputs_embeds + self.wpe(position_ids)
        if token_type_ids is not None:  # GPT-2 has no token-type table: types index the word embeddings
            hidden = hidden + self.wte(token_type_ids)
        hidden = self.drop(hidden)

        mask = causal_mask(attention_mask, length, past + length, hidden.dtype, hidden.device)
        cross = {}
        if encoder_hidden_states is not None:  # (B, 1, 1, S) mask of the encoder's padding
            cross = {"encoder_states": encoder_hidden_states,
                     "encoder_mask": padding_mask(encoder_attention_mask, hidden.dtype)}
        stack = run_layers(self.h, hidden, mask, past_key_values, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, cross_attentions=bool(cross), final=self.ln_f, **cross)
        out = BaseModelOutputWithPastAndCrossAttentions(
            last_hidden_state=stack.last_hidden_state,
            past_key_values=past_key_values if use_cache else None,
            hidden_states=stack.hidden_states,
            attentions=stack.attentions,
            cross_attentions=stack.cross_attentions,
        )
        return self._finish(out, return_dict)


# ---------------------------------------------------------------------------------------------
# heads. Families whose heads are GPT-2's over another base model (``transformer.*`` keys: BLOOM, Falcon,
# MPT, GPTBigCode) subclass them with their ``config_class`` and ``base_model_class``; the
# classification and QA heads are workbench/models/decoder_heads.py's.


class GPT2LMHeadModel(DecoderForCausalLM, GPT2PreTrainedModel):
    """GPT-2 with its language-model head (``lm_head``, tied to ``transformer.wte``).

    >>> from workbench.models.gpt2 import GPT2Config, GPT2LMHeadModel
    >>> model = GPT2LMHeadModel.from_config(GPT2Config(n_embd=32, n_layer=2, n_head=4, vocab_size=99))
    >>> ids = torch.tensor([[5, 6, 7]])
    >>> model(ids, labels=ids).logits.shape
    torch.Size([1, 3, 99])
    """

    _tied_weights_keys = {"lm_head.weight": "transformer.wte.weight"}
    base_model_class = GPT2Model


class GPT2ForSequenceClassification(DecoderForSequenceClassification, GPT2PreTrainedModel):
    base_model_class = GPT2Model


class GPT2ForTokenClassification(DecoderForTokenClassification, GPT2PreTrainedModel):
    base_model_class = GPT2Model
    token_classifier = "classifier"


class GPT2ForQuestionAnswering(DecoderForQuestionAnswering, GPT2PreTrainedModel):
    base_model_class = GPT2Model
