"""Helpers that build things with the reference library (transformers, test-only)."""

from __future__ import annotations

import copy
import os

import torch


def build_reference_model(model_type: str, class_name: str, config_kwargs: dict, seed: int = 0, eager: bool = True):
    """A random reference model whose weights are far from their init (so parity is a real check).

    Frozen tensors (fixed sinusoidal position tables) keep their values: they are not weights,
    and some families (Marian) do not even save them."""
    import transformers

    # a deep copy: the reference's composite configs may update a part's dict in place (CLIP's legacy
    # vision_config_dict), and these dicts are the registry's shared tiny configs
    config = transformers.AutoConfig.for_model(model_type, **copy.deepcopy(config_kwargs))
    if eager:
        config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = getattr(transformers, class_name)(config)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for param in (p for p in model.parameters() if p.requires_grad):
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
        for module in model.modules():  # batch norms: running statistics far from (0, 1) too
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=generator) + 0.5)
    return model.eval()


def reference_init(model_type: str, class_name: str, config_kwargs: dict, seed: int):
    """A reference model exactly as its constructor initialises it (no perturbation)."""
    import transformers

    torch.manual_seed(seed)
    return getattr(transformers, class_name)(transformers.AutoConfig.for_model(model_type, **copy.deepcopy(config_kwargs)))


def save_reference_model(model, folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    return folder


def load_reference_model(class_name: str, folder: str, **kwargs):
    import transformers

    return getattr(transformers, class_name).from_pretrained(folder, attn_implementation="eager", **kwargs).eval()




def checkpoint_names(model) -> dict[str, str]:
    """The reference model's parameter names -> the keys its checkpoints hold them under. The reference
    renames some families' modules in memory (ViT's ``layers.0.attention.q_proj``) but saves the
    published keys (``encoder.layer.0.attention.attention.query``), which workbench's modules are named after."""
    from transformers.core_model_loading import revert_weight_conversion

    params = dict(model.named_parameters())
    saved = {id(value): key for key, value in revert_weight_conversion(model, dict(params)).items()}
    return {name: saved.get(id(param), name) for name, param in params.items()}


def checkpoint_parameters(model) -> dict[str, torch.Tensor]:
    """The reference model's parameters as its checkpoints hold them: renamed (see ``checkpoint_names``)
    and, where the reference splits a stored tensor in memory (DINOv2's SwiGLU ``weights_in``), joined again."""
    from transformers.core_model_loading import revert_weight_conversion

    with torch.no_grad():
        return revert_weight_conversion(model, dict(model.named_parameters()))
