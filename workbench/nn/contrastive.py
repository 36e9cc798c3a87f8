"""Image-text matching heads of dual-encoder models: similarity logits and their training losses.

    text features (T, P) ─► L2-normalise ┐
                                         ├─► text · imageᵀ × exp(logit_scale) (+ logit_bias) ─► logits_per_text (T, I)
    image features (I, P) ─► L2-normalise┘

The i-th text describes the i-th image. CLIP-style models (CLIP, BLIP) train with a softmax over each row
and column (:func:`contrastive_loss`, https://arxiv.org/abs/2103.00020); SigLIP with an independent sigmoid
per pair (:func:`sigmoid_loss`, https://arxiv.org/abs/2303.15343).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def similarity_logits(text_features: torch.Tensor, image_features: torch.Tensor, logit_scale: torch.Tensor,
                      logit_bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> ``text_embeds`` (T, P) and ``image_embeds`` (I, P), L2-normalised, and ``logits_per_text`` (T, I):
    their cosine similarities times ``exp(logit_scale)`` (plus ``logit_bias``: SigLIP)."""
    image_embeds = image_features / image_features.norm(dim=-1, keepdim=True)
    text_embeds = text_features / text_features.norm(dim=-1, keepdim=True)
    logits_per_text = text_embeds @ image_embeds.to(text_embeds.dtype).t() * logit_scale.exp()
    return text_embeds, image_embeds, logits_per_text if logit_bias is None else logits_per_text + logit_bias


def contrastive_loss(logits_per_text: torch.Tensor) -> torch.Tensor:
    """The symmetric cross-entropy: the i-th text matches the i-th image, in both directions."""
    targets = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
    return (F.cross_entropy(logits_per_text, targets) + F.cross_entropy(logits_per_text.t(), targets)) / 2


def sigmoid_loss(logits_per_text: torch.Tensor) -> torch.Tensor:
    """Every (text, image) pair a binary question, true on the diagonal only; the negative log-likelihoods
    summed over each text's row, averaged over texts."""
    signs = 2 * torch.eye(logits_per_text.shape[0], device=logits_per_text.device) - 1  # +1 matched, -1 not
    return -F.logsigmoid(signs * logits_per_text).sum(dim=-1).mean()
