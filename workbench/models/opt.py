"""OPT, Meta's open pre-trained decoders (https://arxiv.org/abs/2205.01068).

    input_ids ─► embed_tokens (word_embed_proj_dim) ─► project_in? ─► + embed_positions(position + 2)
              ─► num_hidden_layers × [ x + attn(ln(x)) ─► x + fc2(act(fc1(ln(x)))) ]
                 (pre-norm; with do_layer_norm_before=False, as in opt-350m, each norm comes after its sum)
              ─► final_layer_norm (pre-norm models) ─► project_out? ─► (lm_head tied to embed_tokens | score | qa_outputs)

Module names equal the checkpoint keys (``model.decoder.layers.0.self_attn.q_proj``). Positions
count the real tokens of each row (padding gets position -1), offset by 2 into the position table,
so a left-padded prompt sees the positions it would see unpadded. Queries are scaled before the
product with the keys, in the original's order.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import MultiHeadAttention, causal_mask
from ..nn.cache import as_decoder_cache
from ..nn.layers import output_flags, run_layers
from ..nn.linear import Linear
from ..nn.logits import keep_positions, last_token_rows
from ..nn.positions import OffsetPositionalEmbedding
from ..nn.losses import causal_lm_loss, sequence_classification_loss, span_loss
from ..outputs import (
    BaseModelOutputWithPast,
    CausalLMOutputWithPast,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutputWithPast,
)

class OPTConfig(PretrainedConfig):
    model_type = "opt"
    attribute_map = {"initializer_range": "init_std"}  # what the shared _init_weights reads
    defaults = {
        "vocab_size": 50272,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "ffn_dim": 3072,
        "max_position_embeddings": 2048,
        "do_layer_norm_before": True,
        "_remove_final_layer_norm": False,
        "word_embed_proj_dim": None,  # None: hidden_size
        "dropout": 0.1,
        "attention_dropout": 0.0,
        "num_attention_heads": 12,
        "activation_function": "relu",
        "layerdrop": 0.0,
        "init_std": 0.02,
        "use_cache": True,
        "pad_token_id": 1,
        "bos_token_id": 2,
        "eos_token_id": 2,
        "enable_bias": True,
        "layer_norm_elementwise_affine": True,
        "tie_word_embeddings": True,
    }

    def __post_init__(self) -> None:
        if self.word_embed_proj_dim is None:
            self.word_embed_proj_dim = self.hidden_size
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                             f"({self.num_attention_heads}): fix one of them in the config.")


class OPTAttention(MultiHeadAttention):  # k_proj, v_proj, q_proj, out_proj; queries scaled first
    def __init__(self, config: PretrainedConfig, layer_idx: int) -> None:
        super().__init__(config.hidden_size, config.num_attention_heads, layer_idx, causal=True,
                         bias=config.enable_bias, dropout=config.attention_dropout, scale_queries=True)


class OPTDecoderLayer(nn.Module):
    def __init__(self, config: PretrainedConfig, layer_idx: int) -> None:
        super().__init__()
        width, affine = config.hidden_size, config.layer_norm_elementwise_affine
        self.self_attn = OPTAttention(config, layer_idx)
        self.pre_norm = config.do_layer_norm_before
        self.self_attn_layer_norm = nn.LayerNorm(width, elementwise_affine=affine)
        self.fc1 = Linear(width, config.ffn_dim, bias=config.enable_bias)
        self.fc2 = Linear(config.ffn_dim, width, bias=config.enable_bias)
        self.final_layer_norm = nn.LayerNorm(width, elementwise_affine=affine)
        self.activation_fn = get_activation(config.activation_function)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden_states, mask, cache, eager):
        attended, weights = self.self_attn(self.self_attn_layer_norm(hidden_states) if self.pre_norm else hidden_states,
                                           mask, eager, cache)
        hidden_states = hidden_states + self.dropout(attended)
        if not self.pre_norm:
            hidden_states = self.self_attn_layer_norm(hidden_states)
        inner = self.final_layer_norm(hidden_states) if self.pre_norm else hidden_states
        hidden_states = hidden_states + self.dropout(self.fc2(self.activation_fn(self.fc1(inner))))
        if not self.pre_norm:
            hidden_states = self.final_layer_norm(hidden_states)
        return hidden_states, weights


class OPTPreTrainedModel(PreTrainedModel):
    config_class = OPTConfig
    base_model_prefix = "model"


class OPTDecoder(OPTPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        width, words = config.hidden_size, config.word_embed_proj_dim
        self.embed_tokens = nn.Embedding(config.vocab_size, words, config.pad_token_id)
        self.embed_positions = OffsetPositionalEmbedding(config.max_position_embeddings, width, offset=2)
        self.project_in = Linear(words, width, bias=False) if words != width else None
        self.project_out = Linear(width, words, bias=False) if words != width else None
        if config.do_layer_norm_before and not config._remove_final_layer_norm:
            self.final_layer_norm = nn.LayerNorm(width, elementwise_affine=config.layer_norm_elementwise_affine)
        else:
            self.final_layer_norm = None
        self.layers = nn.ModuleList(OPTDecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, inputs_embeds=None, position_ids=None,
                use_cache=None, output_attentions=None, output_hidden_states=None, return_dict=None, **kwargs):
        config = self.config
        output_attentions, output_hidden_states, eager = output_flags(config, output_attentions, output_hidden_states)
        use_cache = config.use_cache if use_cache is None else use_cache
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        past_key_values = as_decoder_cache(past_key_values, use_cache)

        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)  # (B, T, word_embed_proj_dim)
        batch, length = inputs_embeds.shape[:2]
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:  # the count of real tokens so far, -1 on padding
            seen = attention_mask if attention_mask is not None else torch.ones(batch, past + length, device=inputs_embeds.device)
            position_ids = ((seen.cumsum(1) * seen) - 1).long()[:, past:]
        if self.project_in is not None:
            inputs_embeds = self.project_in(inputs_embeds)
        hidden = self.dropout(inputs_embeds + self.embed_positions(position_ids))

        mask = causal_mask(attention_mask, length, past + length, hidden.dtype, hidden.device)
        stack = run_layers(self.layers, hidden, mask, past_key_values, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, layerdrop=config.layerdrop, final=self._final)
        out = BaseModelOutputWithPast(last_hidden_state=stack.last_hidden_state, hidden_states=stack.hidden_states,
                                      past_key_values=past_key_values if use_cache else None,
                                      attentions=stack.attentions)
        return self._finish(out, return_dict)

    def _final(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.final_layer_norm is not None:
            hidden = self.final_layer_norm(hidden)
        return self.project_out(hidden) if self.project_out is not None else hidden


class OPTModel(OPTPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.decoder = OPTDecoder(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.decoder.embed_tokens

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.decoder.embed_tokens = embeddings

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, inputs_embeds=None, position_ids=None,
                use_cache=None, return_dict=None, **kwargs):
        kwargs.pop("return_dict", None)
        out = self.decoder(input_ids=input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                           inputs_embeds=inputs_embeds, position_ids=position_ids, use_cache=use_cache,
                           return_dict=True, **kwargs)
        return self._finish(out, return_dict)


class _OPTHead(OPTPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.model = OPTModel(config)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.model.decoder.embed_tokens

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.model.decoder.embed_tokens = embeddings

    def _decode(self, kwargs: dict) -> BaseModelOutputWithPast:
        kwargs.pop("return_dict", None)
        return self.model(**kwargs, return_dict=True)


class OPTForCausalLM(_OPTHead):
    """OPT with its language-model head (``lm_head``, tied to ``model.decoder.embed_tokens``).

    >>> from workbench.models.opt import OPTConfig, OPTForCausalLM
    >>> model = OPTForCausalLM.from_config(OPTConfig(hidden_size=32, ffn_dim=37, num_hidden_layers=2,
    ...                                              num_attention_heads=4, vocab_size=99))
    >>> ids = torch.tensor([[5, 6, 7]])
    >>> model(ids, labels=ids).logits.shape
    torch.Size([1, 3, 99])
    """

    _tied_weights_keys = {"lm_head.weight": "model.decoder.embed_tokens.weight"}
    is_generative = True

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.lm_head = nn.Linear(config.word_embed_proj_dim, config.vocab_size, bias=False)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    def set_output_embeddings(self, embeddings: nn.Linear) -> None:
        self.lm_head = embeddings

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, inputs_embeds=None, labels=None,
                use_cache=None, position_ids=None, logits_to_keep=0, return_dict=None, **kwargs):
        out = self._decode(dict(kwargs, input_ids=input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                                inputs_embeds=inputs_embeds, use_cache=use_cache, position_ids=position_ids))
        logits = self.lm_head(keep_positions(out.last_hidden_state, logits_to_keep))  # (B, T', V)
        loss = causal_lm_loss(logits, labels) if labels is not None else None
        result = CausalLMOutputWithPast(loss, logits, out.past_key_values, out.hidden_states, out.attentions)
        return self._finish(result, return_dict)


class OPTForSequenceClassification(_OPTHead):
    """Scores the last token that is not ``pad_token_id`` (left or right padding both work)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.score = nn.Linear(config.word_embed_proj_dim, config.num_labels, bias=False)

    def forward(self, input_ids=None, attention_mask=None, past_key_values=None, inputs_embeds=None, labels=None,
                use_cache=None, position_ids=None, return_dict=None, **kwargs):
        out = self._decode(dict(kwargs, input_ids=input_ids, attention_mask=attention_mask, past_key_values=past_key_values,
                                inputs_embeds=inputs_embeds, use_cache=use_cache, position_ids=position_ids))
        logits = self.score(out.last_hidden_state)  # (B, T, num_labels)
        pooled = last_token_rows(logits, input_ids, self.config.pad_token_id, type(self).__name__)  # (B, num_labels)
        loss = sequence_classification_loss(pooled, labels, self.config) if labels is not None else None
        result = SequenceClassifierOutputWithPast(loss, pooled, out.past_key_values, out.hidden_states, out.attentions)
        return self._finish(result, return_dict)


class OPTForQuestionAnswering(_OPTHead):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.qa_outputs = nn.Linear(config.word_embed_proj_dim, 2)

    def forward(self, start_positions=None, end_positions=None, return_dict=None, **kwargs):
        kwargs.setdefault("use_cache", False)  # the output has no place for a cache
        out = self._decode(kwargs)
        start_logits, end_logits = (t.squeeze(-1).contiguous() for t in self.qa_outputs(out.last_hidden_state).split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            loss = span_loss(start_logits, end_logits, start_positions, end_positions)
        return self._finish(QuestionAnsweringModelOutput(loss, start_logits, end_logits, out.hidden_states, out.attentions),
                            return_dict)
