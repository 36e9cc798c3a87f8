"""ModernBERT (https://arxiv.org/abs/2412.13663): a pre-norm encoder with rotary positions, GeGLU
feed-forwards, no biases, and global attention every few layers, local in between.

    input_ids ─► tok_embeddings ─► norm
              ─► N × [ x + Wo(attention(RoPE(Wqkv(attn_norm(x))))) ; x + mlp(mlp_norm(x)) ]
              ─► final_norm ─► last_hidden_state

* ``layer_types`` (or the older ``global_attn_every_n_layers``) says which layers attend globally
  ("full_attention") and which locally ("sliding_attention": a query sees keys at most
  ``local_attention // 2`` positions away, on either side);
* each kind has its own RoPE (``rope_parameters[layer_type]``; the older ``global_rope_theta`` and
  ``local_rope_theta``);
* layer 0 has no ``attn_norm`` (the embeddings' norm comes right before it);
* the feed-forward is GeGLU: ``Wi`` projects to twice ``intermediate_size``, halves ``act(input) * gate``;
* heads put a ``head`` (dense ─► activation ─► norm) before the decoder or classifier; classifiers
  pool the first token or the mean over real tokens (``classifier_pooling``).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.activations import get_activation
from ..nn.attention import attention, padding_mask
from ..nn.layers import output_flags, run_layers
from ..nn.losses import sequence_classification_loss, token_classification_loss
from ..nn.rope import RotaryEmbedding, apply_rotary
from ..outputs import (
    BaseModelOutput,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from .bert import check_inputs
from .encoder_heads import EncoderHeadMixin, QuestionAnsweringHead

DEFAULT_THETA = {"full_attention": 160_000.0, "sliding_attention": 10_000.0}


class ModernBertConfig(PretrainedConfig):
    model_type = "modernbert"
    defaults = {
        "vocab_size": 50368, "hidden_size": 768, "intermediate_size": 1152, "num_hidden_layers": 22,
        "num_attention_heads": 12, "hidden_activation": "gelu", "max_position_embeddings": 8192,
        "initializer_range": 0.02, "initializer_cutoff_factor": 2.0, "norm_eps": 1e-5, "norm_bias": False,
        "pad_token_id": 50283, "eos_token_id": 50282, "bos_token_id": 50281, "cls_token_id": 50281,
        "sep_token_id": 50282, "attention_bias": False, "attention_dropout": 0.0, "layer_types": None,
        "rope_parameters": None, "local_attention": 128, "embedding_dropout": 0.0, "mlp_bias": False,
        "mlp_dropout": 0.0, "decoder_bias": True, "classifier_pooling": "cls", "classifier_dropout": 0.0,
        "classifier_bias": False, "classifier_activation": "gelu", "deterministic_flash_attn": False,
        "sparse_prediction": False, "sparse_pred_ignore_index": -100, "tie_word_embeddings": True,
    }

    def __post_init__(self) -> None:
        if self.layer_types is None:  # older configs: every n-th layer (from 0) global
            every = self.__dict__.get("global_attn_every_n_layers", 3)
            self.layer_types = ["sliding_attention" if i % every else "full_attention"
                                for i in range(self.num_hidden_layers)]
        thetas = {"full_attention": self.__dict__.pop("global_rope_theta", None),
                  "sliding_attention": self.__dict__.pop("local_rope_theta", None)}
        scaling = self.__dict__.pop("rope_scaling", None)
        params = {kind: dict(p) for kind, p in (self.rope_parameters or {}).items() if p is not None}
        for kind in ("full_attention", "sliding_attention"):
            params.setdefault(kind, {"rope_type": "default"})
            params[kind].update(scaling or {})
            theta = thetas[kind] if thetas[kind] is not None else DEFAULT_THETA[kind]
            params[kind].setdefault("rope_theta", theta)
        self.rope_parameters = params

    @property
    def sliding_window(self) -> int:
        """How far a local layer's query sees on each side: half of ``local_attention``."""
        return self.local_attention // 2

    @sliding_window.setter
    def sliding_window(self, value: int) -> None:
        self.local_attention = value * 2


def window_mask(attention_mask: torch.Tensor | None, length: int, window: int, dtype: torch.dtype,
                device: torch.device) -> torch.Tensor:
    """Additive (B or 1, 1, T, T) mask: a query sees the keys at most ``window`` positions away on
    either side, padding excluded."""
    position = torch.arange(length, device=device)
    allowed = ((position[:, None] - position[None, :]).abs() <= window)[None, None]
    if attention_mask is not None:
        allowed = allowed & attention_mask[:, None, None, :].bool()
    return torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill(~allowed, torch.finfo(dtype).min)


class ModernBertEmbeddings(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)
        self.drop = nn.Dropout(config.embedding_dropout)

    def forward(self, input_ids=None, inputs_embeds=None) -> torch.Tensor:
        return self.drop(self.norm(self.tok_embeddings(input_ids) if inputs_embeds is None else inputs_embeds))


class ModernBertMLP(nn.Module):
    """GeGLU: ``Wo(act(input) * gate)`` with ``input, gate`` the halves of ``Wi(x)``."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.Wi = nn.Linear(config.hidden_size, config.intermediate_size * 2, bias=config.mlp_bias)
        self.act = get_activation(config.hidden_activation)
        self.drop = nn.Dropout(config.mlp_dropout)
        self.Wo = nn.Linear(config.intermediate_size, config.hidden_size, bias=config.mlp_bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        inputs, gate = self.Wi(hidden_states).chunk(2, dim=-1)
        return self.Wo(self.drop(self.act(inputs) * gate))


class ModernBertAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        if config.hidden_size % config.num_attention_heads:
            raise ValueError(f"hidden_size ({config.hidden_size}) must be a multiple of num_attention_heads "
                             f"({config.num_attention_heads}): fix one of them in the config.")
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.attention_dropout
        self.Wqkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.attention_bias)
        self.Wo = nn.Linear(config.hidden_size, config.hidden_size, bias=config.attention_bias)
        self.out_drop = nn.Dropout(config.attention_dropout)

    def forward(self, hidden_states, mask, rope, eager: bool):
        batch, length = hidden_states.shape[:2]
        qkv = self.Wqkv(hidden_states).view(batch, length, 3, -1, self.head_dim)  # (B, T, 3, H, D)
        query, key, value = (t.transpose(1, 2) for t in qkv.unbind(dim=2))  # (B, H, T, D) each
        # the rotation runs in float32, as the reference's does
        query, key = (t.to(value.dtype) for t in apply_rotary(query.float(), key.float(), *rope))
        out, weights = attention(query, key, value, mask, eager=eager, dropout=self.dropout if self.training else 0.0)
        return self.out_drop(self.Wo(out.reshape(batch, length, -1))), weights


class ModernBertEncoderLayer(nn.Module):
    def __init__(self, config: PretrainedConfig, layer_idx: int) -> None:
        super().__init__()
        norm = lambda: nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)  # noqa: E731
        self.attn_norm = nn.Identity() if layer_idx == 0 else norm()
        self.attn = ModernBertAttention(config)
        self.mlp_norm = norm()
        self.mlp = ModernBertMLP(config)
        self.attention_type = config.layer_types[layer_idx]

    def forward(self, hidden_states, mask, ropes: dict, eager: bool):
        attended, weights = self.attn(self.attn_norm(hidden_states), mask, ropes[self.attention_type], eager)
        hidden_states = hidden_states + attended
        return hidden_states + self.mlp(self.mlp_norm(hidden_states)), weights


class ModernBertPreTrainedModel(PreTrainedModel):
    config_class = ModernBertConfig
    base_model_prefix = "model"

    def _init_weights(self, module: nn.Module) -> None:
        """Truncated normals (cut at ``initializer_cutoff_factor`` standard deviations); output
        projections scaled down by sqrt(2 * layers), classifiers at hidden_size ** -0.5."""
        super()._init_weights(module)
        config = self.config
        cutoff = config.initializer_cutoff_factor if config.initializer_cutoff_factor is not None else 3
        std_in, std_out = config.initializer_range, config.initializer_range / math.sqrt(2.0 * config.num_hidden_layers)

        def truncated(linear: nn.Module, std: float) -> None:
            nn.init.trunc_normal_(linear.weight, std=std, a=-cutoff * std, b=cutoff * std)
            if isinstance(linear, nn.Linear) and linear.bias is not None:
                nn.init.zeros_(linear.bias)

        if isinstance(module, ModernBertEmbeddings):
            truncated(module.tok_embeddings, std_in)
        elif isinstance(module, ModernBertMLP):
            truncated(module.Wi, std_in)
            truncated(module.Wo, std_out)
        elif isinstance(module, ModernBertAttention):
            truncated(module.Wqkv, std_in)
            truncated(module.Wo, std_out)
        elif isinstance(module, ModernBertPredictionHead):
            truncated(module.dense, std_out)
        elif isinstance(module, ModernBertForMaskedLM):
            truncated(module.decoder, std_out)
        elif isinstance(module, ModernBertHeadMixin):
            truncated(module.classifier, config.hidden_size**-0.5)


class ModernBertModel(ModernBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig, add_pooling_layer: bool = False) -> None:
        super().__init__(config)
        self.embeddings = ModernBertEmbeddings(config)
        self.layers = nn.ModuleList(ModernBertEncoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)
        # one rotary table per kind of layer (no tensors to load)
        self.rotary = {kind: RotaryEmbedding(SimpleNamespace(
            rope_parameters=config.rope_parameters[kind], hidden_size=config.hidden_size,
            num_attention_heads=config.num_attention_heads, max_position_embeddings=config.max_position_embeddings))
            for kind in sorted(set(config.layer_types))}

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.tok_embeddings

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.embeddings.tok_embeddings = embeddings

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, inputs_embeds=None,
                output_attentions=None, output_hidden_states=None, return_dict=None, token_type_ids=None, **kwargs):
        """``token_type_ids`` are accepted and ignored: ModernBERT has no token types."""
        check_inputs(input_ids, inputs_embeds)
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        hidden = self.embeddings(input_ids, inputs_embeds)
        length, device = hidden.shape[1], hidden.device
        if position_ids is None:
            position_ids = torch.arange(length, device=device)[None, :]
        ropes = {kind: rotary(position_ids, hidden.dtype) for kind, rotary in self.rotary.items()}
        by_kind = {"full_attention": padding_mask(attention_mask, hidden.dtype),
                   "sliding_attention": window_mask(attention_mask, length, self.config.sliding_window,
                                                    hidden.dtype, device)}
        masks = [by_kind[layer.attention_type] for layer in self.layers]
        stack = run_layers(self.layers, hidden, masks, ropes, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions, final=self.final_norm)
        return self._finish(BaseModelOutput(stack.last_hidden_state, stack.hidden_states, stack.attentions), return_dict)


# ---------------------------------------------------------------------------------------------
# task heads: each puts ModernBertPredictionHead between the encoder and its output layer


class ModernBertPredictionHead(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, bias=config.classifier_bias)
        self.act = get_activation(config.classifier_activation)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps, bias=config.norm_bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.norm(self.act(self.dense(hidden_states)))


class ModernBertHeadMixin(EncoderHeadMixin):
    """``model`` ─► ``head`` ─► ``drop`` ─► ``classifier`` (``outputs`` wide)."""

    base_model_class = ModernBertModel

    def _build_head(self, config: PretrainedConfig, outputs: int | None = None) -> None:
        self.model = self._new_base_model(config, pooling=False)
        self.head = ModernBertPredictionHead(config)
        self.drop = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels if outputs is None else outputs)

    def _logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.drop(self.head(hidden_states)))

    def _pool(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, first_real: bool) -> torch.Tensor:
        """(B, T, C) -> (B, C): the first token (the first real one when ``first_real``: left
        padding), or the mean over real tokens (``classifier_pooling="mean"``)."""
        rows = torch.arange(hidden_states.shape[0], device=hidden_states.device)
        if self.config.classifier_pooling == "mean":
            if attention_mask is None:
                attention_mask = torch.ones(hidden_states.shape[:2], dtype=torch.bool, device=hidden_states.device)
            keep = attention_mask[..., None]
            return (hidden_states * keep).sum(dim=1) / attention_mask.sum(dim=1, keepdim=True)
        if first_real and attention_mask is not None:
            return hidden_states[rows, attention_mask.argmax(dim=-1)]
        return hidden_states[:, 0]


class ModernBertForMaskedLM(ModernBertHeadMixin, ModernBertPreTrainedModel):
    """``head`` ─► ``decoder`` (tied to the token embeddings). With ``sparse_prediction`` and
    labels, logits come only for the tokens whose label is not ``sparse_pred_ignore_index`` (flat)."""

    _tied_weights_keys = {"decoder.weight": "model.embeddings.tok_embeddings.weight"}

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.model = self._new_base_model(config, pooling=False)
        self.head = ModernBertPredictionHead(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=config.decoder_bias)

    def get_output_embeddings(self) -> nn.Linear:
        return self.decoder

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        hidden = out.last_hidden_state
        if self.config.sparse_prediction and labels is not None:
            labels = labels.reshape(-1)
            kept = labels != self.config.sparse_pred_ignore_index
            hidden, labels = hidden.reshape(labels.shape[0], -1)[kept], labels[kept]
        logits = self.decoder(self.head(hidden))
        loss = token_classification_loss(logits.float(), labels) if labels is not None else None
        return self._finish(MaskedLMOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class ModernBertForSequenceClassification(ModernBertHeadMixin, ModernBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self._build_head(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self._logits(self._pool(out.last_hidden_state, attention_mask, first_real=False))
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(SequenceClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class ModernBertForTokenClassification(ModernBertHeadMixin, ModernBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self._build_head(config)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        out = self._encode(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, **kwargs)
        logits = self._logits(out.last_hidden_state)
        loss = token_classification_loss(logits, labels) if labels is not None else None
        return self._finish(TokenClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)


class ModernBertForQuestionAnswering(ModernBertHeadMixin, QuestionAnsweringHead, ModernBertPreTrainedModel):
    def _span_logits(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self._logits(hidden_states)


class ModernBertForMultipleChoice(ModernBertHeadMixin, ModernBertPreTrainedModel):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self._build_head(config, outputs=1)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, inputs_embeds=None,
                labels=None, return_dict=None, **kwargs):
        num_choices = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        flat = lambda t: None if t is None else t.reshape(-1, t.shape[-1])  # noqa: E731  (B, C, T) -> (B*C, T)
        if inputs_embeds is not None:
            inputs_embeds = inputs_embeds.reshape(-1, *inputs_embeds.shape[-2:])
        attention_mask = flat(attention_mask)
        out = self._encode(flat(input_ids), attention_mask, flat(token_type_ids), flat(position_ids), inputs_embeds, **kwargs)
        logits = self._logits(self._pool(out.last_hidden_state, attention_mask, first_real=True)).view(-1, num_choices)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return self._finish(MultipleChoiceModelOutput(loss, logits, out.hidden_states, out.attentions), return_dict)
