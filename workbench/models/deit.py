"""DeiT (https://arxiv.org/abs/2012.12877): ViT (``vit.py``) with a second learned prefix token, the
distillation token, which a distilled model trains against a teacher's predictions.

    [CLS, DIST, patch_1 .. patch_N] + positions ─► ViT's encoder ─► LayerNorm
        ├─► cls_classifier(h[:, 0]) ─┐
        └─► distillation_classifier(h[:, 1]) ─┴─► mean = logits      (DeiTForImageClassificationWithTeacher)

Everything else (attention, layers, the masked-image-modelling decoder) is ViT's; the prefix tokens and
the position table start at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ..config import PretrainedConfig
from ..outputs import ModelOutput, Tensor, Tensors
from .vit import ViTConfig, ViTForImageClassification, ViTForMaskedImageModeling, ViTModel, ViTPreTrainedModel


class DeiTConfig(ViTConfig):
    model_type = "deit"


class DeiTPreTrainedModel(ViTPreTrainedModel):
    config_class = DeiTConfig
    base_model_prefix = "deit"
    zero_embeddings_init = True


class DeiTModel(DeiTPreTrainedModel, ViTModel):
    prefix_tokens = ("cls_token", "distillation_token")


class DeiTForImageClassification(DeiTPreTrainedModel, ViTForImageClassification):
    """A linear classifier on the final CLS token (the distillation token is left out)."""

    base_model_class = DeiTModel


class DeiTForMaskedImageModeling(DeiTPreTrainedModel, ViTForMaskedImageModeling):
    base_model_class = DeiTModel


@dataclass
class DeiTForImageClassificationWithTeacherOutput(ModelOutput):
    """``logits``: the mean of ``cls_logits`` (from the CLS token) and ``distillation_logits`` (from the
    distillation token), each (B, num_labels)."""

    logits: Tensor = None
    cls_logits: Tensor = None
    distillation_logits: Tensor = None
    hidden_states: Tensors = None
    attentions: Tensors = None


class DeiTForImageClassificationWithTeacher(DeiTPreTrainedModel):
    """Inference with a distilled DeiT: the two classifiers' mean (fine-tuning against a teacher is not
    supported, as in the reference: the model takes no labels)."""

    def __init__(self, config: PretrainedConfig) -> None:
        super().__init__(config)
        self.deit = DeiTModel(config, add_pooling_layer=False)
        width = config.num_labels
        self.cls_classifier = nn.Linear(config.hidden_size, width) if width > 0 else nn.Identity()
        self.distillation_classifier = nn.Linear(config.hidden_size, width) if width > 0 else nn.Identity()

    def forward(self, pixel_values=None, interpolate_pos_encoding=False, attention_mask=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        out = self.deit(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, attention_mask=attention_mask,
                        output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        hidden = out.last_hidden_state  # (B, 2 + N, D)
        cls_logits, distillation_logits = self.cls_classifier(hidden[:, 0]), self.distillation_classifier(hidden[:, 1])
        logits = (cls_logits + distillation_logits) / 2
        return self._finish(DeiTForImageClassificationWithTeacherOutput(
            logits=logits, cls_logits=cls_logits, distillation_logits=distillation_logits,
            hidden_states=out.hidden_states, attentions=out.attentions), return_dict)


__all__ = ["DeiTConfig", "DeiTModel", "DeiTForImageClassification", "DeiTForImageClassificationWithTeacher",
           "DeiTForMaskedImageModeling", "DeiTPreTrainedModel"]
