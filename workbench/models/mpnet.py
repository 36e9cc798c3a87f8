"""MPNet (https://arxiv.org/abs/2004.09297): a BERT-shaped encoder with a relative position bias.

    input_ids ─► word + position embeddings (RoBERTa's positions, no token types) ─► LayerNorm
              ─► N × [ attention (scores + relative position bias) ─► add & LayerNorm
                       ─► feed-forward ─► add & LayerNorm ] ─► last_hidden_state ─► (pooler)

What differs from ``bert.py`` and ``roberta.py``:

* one table ``encoder.relative_attention_bias`` (buckets × heads) gives every layer the same
  additive bias, bucketed as T5 does (:mod:`workbench.nn.relative_position`), always with 32
  buckets reaching 128 tokens (the reference's fixed values);
* positions count real tokens as RoBERTa does, from padding index 1 whatever ``pad_token_id``;
* a layer's attention is ``attention.attn.{q, k, v, o}`` with ``attention.LayerNorm`` after it;
* the heads are RoBERTa's (``lm_head``, ``classifier.{dense, out_proj}``) with ``hidden_dropout_prob``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import PretrainedConfig
from ..nn.attention import multi_head_attention, split_heads
from ..nn.layers import run_layers
from ..nn.relative_position import relative_position_bucket
from .bert import BertConfig, BertIntermediate, BertModel, BertSelfOutput
from .encoder_heads import (
    EncoderHeadMixin,
    FirstTokenClassificationHead,
    LMHeadMixin,
    MaskedLMHead,
    MultipleChoiceHead,
    QuestionAnsweringHead,
    TokenClassificationHead,
    tied_lm_keys,
)
from .roberta import RobertaClassificationHead, RobertaLMHead, RobertaPreTrainedModel, positions_after_padding

# the reference's position bias ignores config.relative_attention_num_buckets and uses these
NUM_BUCKETS, MAX_DISTANCE = 32, 128
PADDING_IDX = 1  # MPNet's embeddings fix it, whatever config.pad_token_id says


class MPNetConfig(PretrainedConfig):
    model_type = "mpnet"
    defaults = {
        **{k: v for k, v in BertConfig.defaults.items() if k not in ("type_vocab_size", "classifier_dropout")},
        "vocab_size": 30527,
        "relative_attention_num_buckets": 32,
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
    }


class MPNetEmbeddings(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=PADDING_IDX)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size,
                                                padding_idx=PADDING_IDX)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None) -> torch.Tensor:
        """``token_type_ids`` are accepted and ignored: MPNet has no token types."""
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if position_ids is None:
            position_ids = positions_after_padding(input_ids, PADDING_IDX, inputs_embeds.shape[1], inputs_embeds.device)
        return self.dropout(self.LayerNorm(inputs_embeds + self.position_embeddings(position_ids)))


class MPNetSelfAttention(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.q = nn.Linear(config.hidden_size, config.hidden_size)
        self.k = nn.Linear(config.hidden_size, config.hidden_size)
        self.v = nn.Linear(config.hidden_size, config.hidden_size)
        self.o = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_prob = config.attention_probs_dropout_prob

    def forward(self, hidden_states, mask, eager):
        """``mask``: the (B or 1, H, T, T) position bias plus the padding mask."""
        query, key, value = (split_heads(m(hidden_states), self.head_dim) for m in (self.q, self.k, self.v))
        out, weights = multi_head_attention(query, key, value, mask, eager=eager,
                                            dropout=self.dropout_prob if self.training else 0.0)
        return self.o(out), weights


class MPNetAttention(nn.Module):
    """LayerNorm(x + dropout(attn(x)))."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attn = MPNetSelfAttention(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, mask, eager):
        attended, weights = self.attn(hidden_states, mask, eager)
        return self.LayerNorm(self.dropout(attended) + hidden_states), weights


class MPNetLayer(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.attention = MPNetAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertSelfOutput(config, in_features=config.intermediate_size)

    def forward(self, hidden_states, mask, eager):
        attended, weights = self.attention(hidden_states, mask, eager)
        return self.output(self.intermediate(attended), attended), weights


class MPNetEncoder(nn.Module):
    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(MPNetLayer(config) for _ in range(config.num_hidden_layers))
        self.relative_attention_bias = nn.Embedding(config.relative_attention_num_buckets, config.num_attention_heads)

    def position_bias(self, length: int) -> torch.Tensor:
        """(1, H, T, T) bias added to every layer's attention scores."""
        positions = torch.arange(length, device=self.relative_attention_bias.weight.device)
        relative = positions[None, :] - positions[:, None]  # key - query, (T, T)
        buckets = relative_position_bucket(relative, bidirectional=True, num_buckets=NUM_BUCKETS,
                                           max_distance=MAX_DISTANCE)
        return self.relative_attention_bias(buckets).permute(2, 0, 1)[None]  # (T, T, H) -> (1, H, T, T)

    def forward(self, hidden_states, mask, eager, output_hidden_states, output_attentions):
        bias = self.position_bias(hidden_states.shape[1]).to(hidden_states.dtype)
        mask = bias if mask is None else bias + mask  # (B or 1, H, T, T)
        stack = run_layers(self.layer, hidden_states, mask, eager, output_hidden_states=output_hidden_states,
                           output_attentions=output_attentions)
        return stack.last_hidden_state, stack.hidden_states, stack.attentions


class MPNetPreTrainedModel(RobertaPreTrainedModel):
    config_class = MPNetConfig
    base_model_prefix = "mpnet"


class MPNetModel(MPNetPreTrainedModel, BertModel):
    embeddings_class = MPNetEmbeddings
    encoder_class = MPNetEncoder


class MPNetHead(EncoderHeadMixin):
    base_model_class = MPNetModel

    def _dropout_probability(self) -> float:
        return self.config.hidden_dropout_prob  # MPNet's heads have no classifier_dropout


class MPNetForMaskedLM(LMHeadMixin, MaskedLMHead, MPNetHead, MPNetPreTrainedModel):
    lm_path = "lm_head"
    _tied_weights_keys = tied_lm_keys("mpnet", "lm_head")

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.mpnet = self._new_base_model(config, pooling=False)
        self.lm_head = RobertaLMHead(config)


class MPNetForSequenceClassification(FirstTokenClassificationHead, MPNetHead, MPNetPreTrainedModel):
    def _classifier(self, config: PretrainedConfig) -> nn.Module:
        return RobertaClassificationHead(config, dropout=config.hidden_dropout_prob)


class MPNetForTokenClassification(TokenClassificationHead, MPNetHead, MPNetPreTrainedModel):
    pass


class MPNetForQuestionAnswering(QuestionAnsweringHead, MPNetHead, MPNetPreTrainedModel):
    pass


class MPNetForMultipleChoice(MultipleChoiceHead, MPNetHead, MPNetPreTrainedModel):
    pass
