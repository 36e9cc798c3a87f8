"""SigLIP, CLIP trained with a sigmoid loss (https://arxiv.org/abs/2303.15343).

    input_ids ─► token_embedding + position_embedding ─► N × pre-norm layer (padding mask, not causal)
              ─► final_layer_norm ─► the last position's state ─► head (linear) ─► text features
    pixel_values ─► patch_embedding (conv with bias) + position_embedding (no class token)
              ─► N × pre-norm layer ─► post_layernorm ─► attention-pooling head ─► image features
    logits_per_text (T, I) = exp(logit_scale) · cos(text, image) + logit_bias

The layers and embeddings are CLIP's (:mod:`workbench.models.clip`). The text tower pools the last
position, padding or not: SigLIP's tokenizers pad every text to the same length (64), so feed it
text padded the way its processor pads (``padding="max_length"``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import PretrainedConfig
from ..modeling import PreTrainedModel
from ..nn.attention import MultiHeadAttention
from ..nn.contrastive import sigmoid_loss, similarity_logits
from ..nn.layers import output_flags
from ..nn.losses import sequence_classification_loss
from ..nn.mlp import FeedForward
from ..outputs import BaseModelOutputWithPooling, ImageClassifierOutput
from .clip import (CLIPEncoder, CLIPOutput, CLIPPreTrainedModel, CLIPTextEmbeddings, CLIPTextModel,
                   CLIPVisionEmbeddings)


class SiglipTextConfig(PretrainedConfig):
    """The text tower; its ``head`` maps to ``projection_size`` features (the hidden size by default)."""

    model_type = "siglip_text_model"
    base_config_key = "text_config"
    defaults = {
        "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
        "num_attention_heads": 12, "max_position_embeddings": 64, "hidden_act": "gelu_pytorch_tanh",
        "layer_norm_eps": 1e-6, "attention_dropout": 0.0, "pad_token_id": 1, "bos_token_id": 49406,
        "eos_token_id": 49407, "projection_size": None,
    }

    def __post_init__(self) -> None:
        if self.projection_size is None:
            self.projection_size = self.hidden_size


class SiglipVisionConfig(PretrainedConfig):
    """The vision tower; ``vision_use_head`` adds the attention-pooling head (the pooled features)."""

    model_type = "siglip_vision_model"
    base_config_key = "vision_config"
    defaults = {
        "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
        "num_channels": 3, "image_size": 224, "patch_size": 16, "hidden_act": "gelu_pytorch_tanh",
        "layer_norm_eps": 1e-6, "attention_dropout": 0.0, "vision_use_head": True,
    }


class SiglipConfig(PretrainedConfig):
    model_type = "siglip"
    sub_configs = {"text_config": SiglipTextConfig, "vision_config": SiglipVisionConfig}
    defaults = {"text_config": None, "vision_config": None, "initializer_factor": 1.0}


class SiglipOutput(CLIPOutput):
    """CLIP's fields; the logits carry SigLIP's bias, the loss is the sigmoid one."""


class SiglipMultiheadAttentionPoolingHead(nn.Module):
    """(B, N, D) -> (B, D): a learned ``probe`` query attends over the tokens (one
    ``nn.MultiheadAttention``, as the checkpoints store it: ``attention.in_proj_weight``), then a
    residual MLP behind a layer norm."""

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__()
        self.probe = nn.Parameter(torch.empty(1, 1, config.hidden_size))
        self.attention = nn.MultiheadAttention(config.hidden_size, config.num_attention_heads, batch_first=True)
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = FeedForward(config.hidden_size, config.intermediate_size, config.hidden_act)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        probe = self.probe.expand(hidden.shape[0], -1, -1)  # (B, 1, D)
        pooled = self.attention(probe, hidden, hidden)[0]
        return (pooled + self.mlp(self.layernorm(pooled)))[:, 0]


def _lecun_normal(tensor: torch.Tensor) -> None:
    """Truncated normal (at two standard deviations) of variance 1 / fan_in, as JAX's lecun_normal."""
    fan_in = tensor[0].numel() if tensor.dim() > 1 else tensor.shape[0]
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978  # the truncation's loss of variance made up
    nn.init.trunc_normal_(tensor, std=std, a=-2.0 * std, b=2.0 * std)


class SiglipPreTrainedModel(CLIPPreTrainedModel):
    config_class = SiglipConfig
    base_model_prefix = "siglip"

    def _init_weights(self, module: nn.Module) -> None:
        """big_vision's init: xavier-uniform attention and MLP weights, lecun-normal linears, zero
        ``logit_scale`` and ``logit_bias``. Runs on children before parents."""
        PreTrainedModel._init_weights(self, module)
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            _lecun_normal(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=module.embedding_dim**-0.5)
        if isinstance(module, CLIPVisionEmbeddings):
            nn.init.normal_(module.position_embedding.weight, std=module.patch_embedding.out_channels**-0.5)
        elif isinstance(module, FeedForward):
            for linear in (module.fc1, module.fc2):
                nn.init.xavier_uniform_(linear.weight)
                nn.init.normal_(linear.bias, std=1e-6)
        elif isinstance(module, SiglipMultiheadAttentionPoolingHead):
            nn.init.xavier_uniform_(module.probe)
            nn.init.xavier_uniform_(module.attention.in_proj_weight)
            nn.init.zeros_(module.attention.in_proj_bias)
        elif isinstance(module, SiglipModel):
            nn.init.zeros_(module.logit_scale)
            nn.init.zeros_(module.logit_bias)
        elif isinstance(module, SiglipForImageClassification):
            nn.init.normal_(module.classifier.weight, std=module.classifier.in_features**-0.5 * self.config.initializer_factor)
        elif isinstance(module, MultiHeadAttention):
            for linear in (module.q_proj, module.k_proj, module.v_proj, module.out_proj):
                nn.init.xavier_uniform_(linear.weight)
                nn.init.zeros_(linear.bias)


class SiglipTextModel(SiglipPreTrainedModel, CLIPTextModel):
    """The text tower (bidirectional); ``pooler_output`` is the last position's state through ``head``."""

    config_class = SiglipTextConfig
    base_model_prefix = "text_model"
    causal = False

    def __init__(self, config: SiglipTextConfig) -> None:
        super().__init__(config)
        self.head = nn.Linear(config.hidden_size, config.projection_size)

    def pool(self, hidden: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        return self.head(hidden[:, -1])  # the last position, padding or not (texts are padded to one length)


class SiglipVisionModel(SiglipPreTrainedModel):
    """The vision tower: ``last_hidden_state`` layer-normed, ``pooler_output`` from the attention-pooling
    head (None without ``vision_use_head``)."""

    config_class = SiglipVisionConfig
    base_model_prefix = "vision_model"
    main_input_name = "pixel_values"

    def __init__(self, config: SiglipVisionConfig) -> None:
        super().__init__(config)
        self.embeddings = CLIPVisionEmbeddings(config, class_token=False, patch_bias=True)
        self.encoder = CLIPEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.head = SiglipMultiheadAttentionPoolingHead(config) if config.vision_use_head else None

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.embeddings.patch_embedding

    def forward(self, pixel_values=None, interpolate_pos_encoding=False, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        output_attentions, output_hidden_states, eager = output_flags(self.config, output_attentions, output_hidden_states)
        stack = self.encoder(self.embeddings(pixel_values, interpolate_pos_encoding), None, eager,
                             output_hidden_states, output_attentions)
        hidden = self.post_layernorm(stack.last_hidden_state)
        pooled = self.head(hidden) if self.head is not None else None
        return self._finish(BaseModelOutputWithPooling(hidden, pooled, stack.hidden_states, stack.attentions),
                            return_dict)


class SiglipModel(SiglipPreTrainedModel):
    """Both towers, ``logit_scale`` and ``logit_bias``. ``sigmoid(logits_per_image)`` is each label's own
    probability (SigLIP's labels do not compete as in a softmax); ``return_loss=True`` adds the sigmoid loss.
    """

    def __init__(self, config: SiglipConfig) -> None:
        super().__init__(config)
        self.text_model = SiglipTextModel(config.text_config)
        self.vision_model = SiglipVisionModel(config.vision_config)
        self.logit_scale = nn.Parameter(torch.empty(1))
        self.logit_bias = nn.Parameter(torch.empty(1))

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, embeddings: nn.Embedding) -> None:
        self.text_model.set_input_embeddings(embeddings)

    def get_text_features(self, input_ids=None, attention_mask=None, position_ids=None, output_attentions=None,
                          output_hidden_states=None, return_dict=None, **kwargs):
        """The text tower's output; ``pooler_output`` (B, projection_size) are the (unnormalised) features."""
        return self.text_model(input_ids, attention_mask, position_ids, output_attentions, output_hidden_states,
                               return_dict=return_dict)

    def get_image_features(self, pixel_values=None, interpolate_pos_encoding=False, output_attentions=None,
                           output_hidden_states=None, return_dict=None, **kwargs):
        """The vision tower's output; ``pooler_output`` (B, D) are the (unnormalised) features."""
        return self.vision_model(pixel_values, interpolate_pos_encoding, output_attentions, output_hidden_states,
                                 return_dict=return_dict)

    def forward(self, input_ids=None, pixel_values=None, attention_mask=None, position_ids=None, return_loss=None,
                output_attentions=None, output_hidden_states=None, interpolate_pos_encoding=False, return_dict=None,
                **kwargs):
        vision = self.get_image_features(pixel_values, interpolate_pos_encoding, output_attentions,
                                         output_hidden_states, return_dict=True)
        text = self.get_text_features(input_ids, attention_mask, position_ids, output_attentions,
                                      output_hidden_states, return_dict=True)
        text_embeds, image_embeds, logits_per_text = similarity_logits(text.pooler_output, vision.pooler_output,
                                                                       self.logit_scale, self.logit_bias)
        loss = sigmoid_loss(logits_per_text) if return_loss else None
        out = SiglipOutput(loss, logits_per_text.t(), logits_per_text, text_embeds, image_embeds, text, vision)
        return self._finish(out, return_dict)


class SiglipForImageClassification(SiglipPreTrainedModel):
    """The vision tower and a linear classifier over the mean of all tokens' final (layer-normed) states."""

    main_input_name = "pixel_values"

    def __init__(self, config: SiglipConfig) -> None:
        super().__init__(config)
        vision = config.vision_config
        self.vision_model = SiglipVisionModel(vision)
        self.classifier = (nn.Linear(vision.hidden_size, config.num_labels) if config.num_labels > 0
                           else nn.Identity())

    def get_input_embeddings(self) -> nn.Conv2d:
        return self.vision_model.get_input_embeddings()

    def forward(self, pixel_values=None, labels=None, interpolate_pos_encoding=False, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        out = self.vision_model(pixel_values, interpolate_pos_encoding, output_attentions, output_hidden_states,
                                return_dict=True)
        logits = self.classifier(out.last_hidden_state.mean(dim=1))
        loss = sequence_classification_loss(logits, labels, self.config) if labels is not None else None
        return self._finish(ImageClassifierOutput(loss, logits, out.hidden_states, out.attentions), return_dict)
