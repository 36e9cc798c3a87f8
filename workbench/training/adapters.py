"""What the Trainer does differently for a model with adapters (``model.add_adapter(LoraConfig(...))``
or ``model.load_adapter(folder, is_trainable=True)``).

peft froze the base model's weights when the adapter went in, so the optimizer (which takes only
parameters with ``requires_grad``) trains the adapter alone. ``save_pretrained`` of such a model
writes only the adapter (``adapter_config.json`` + ``adapter_model.safetensors``), so checkpoints
and ``save_model`` hold only the adapter too; this module loads such a checkpoint back into the
adapter layers already in the model (resume, ``load_best_model_at_end``), in place, so the
optimizer keeps seeing the tensors the model uses.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from ..adapters import ADAPTER_PICKLE_NAME, ADAPTER_WEIGHTS_NAME, model_keys, read_adapter_weights
from ..hub import HubOptions

logger = logging.getLogger("workbench")


def has_adapters(model: nn.Module) -> bool:
    """Whether ``model`` carries peft adapters put in by ``add_adapter``/``load_adapter``."""
    return bool(getattr(model, "_hf_peft_config_loaded", False))


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, all) parameters, counted as peft's ``get_nb_trainable_parameters`` counts them
    (adapter weights included in "all"; a tied weight once)."""
    trainable = total = 0
    for _, param in model.named_parameters():
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return trainable, total


def trainable_parameters_line(model: nn.Module) -> str:
    """``trainable params: N || all params: M || trainable%: P``, as peft's ``print_trainable_parameters``."""
    trainable, total = count_parameters(model)
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {100 * trainable / max(total, 1):.4f}"


def announce_trainable_parameters(model: nn.Module, main_process: bool = True) -> None:
    """Log the trainable-parameter line; for a model with adapters also print it (main process only),
    the line a peft user expects to see before training starts. Raises when nothing would train."""
    trainable, _ = count_parameters(model)
    if trainable == 0:
        fix = ("it was loaded for inference: model.load_adapter(folder, is_trainable=True) loads it for training"
               if has_adapters(model) else "set requires_grad=True on the parameters to train")
        raise ValueError(f"{type(model).__name__} has no trainable parameters (every requires_grad is False), so "
                         f"training would change nothing; {fix}.")
    line = trainable_parameters_line(model)
    logger.info(f"  {line}")
    if main_process and has_adapters(model):
        print(line, flush=True)


def is_adapter_checkpoint(folder: str) -> bool:
    """A folder written by ``save_pretrained`` of a model with adapters (no full-model weights)."""
    return any(os.path.isfile(os.path.join(folder, name)) for name in (ADAPTER_WEIGHTS_NAME, ADAPTER_PICKLE_NAME)) \
        and not os.path.isfile(os.path.join(folder, "model.safetensors"))


def load_adapter_checkpoint(model: nn.Module, folder: str) -> None:
    """Copy the adapter weights saved in ``folder`` into the model's active adapter, in place."""
    import peft

    if not has_adapters(model):
        raise ValueError(f"{folder} holds an adapter ({ADAPTER_WEIGHTS_NAME}), but the model has no adapter to load it "
                         "into: add the same adapter first (model.add_adapter(config) or model.load_adapter(folder, "
                         "is_trainable=True)) and train again.")
    if not is_adapter_checkpoint(folder):
        raise ValueError(f"{folder} holds a full model, not an adapter, but the model being trained has adapters "
                         f"({list(model.peft_config)}): resume from a checkpoint written by this adapter run.")
    active = model.active_adapters()
    if len(active) != 1:
        raise ValueError(f"{len(active)} adapters are active ({active}); a checkpoint holds one: "
                         "model.set_adapter(name) before training.")
    name = active[0]
    expected = model.get_adapter_state_dict(name)  # the keys and shapes this adapter saves
    saved = read_adapter_weights(folder, HubOptions())
    state = model_keys(saved)
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    resized = [f"{key} {tuple(state[key].shape)} (the model's: {tuple(expected[key].shape)})"
               for key in sorted(set(state) & set(expected)) if state[key].shape != expected[key].shape]
    if missing or unexpected or resized:
        found = "; ".join(f"{label} {keys[:2]}" for label, keys in (("missing", missing), ("unexpected", unexpected),
                                                                    ("shape mismatch", resized)) if keys)
        raise RuntimeError(f"The adapter in {folder} does not fit adapter {name!r} of this {type(model).__name__} "
                           f"({found}). Was it written with another adapter config (rank, target_modules)? Resume "
                           "with the config the checkpoint was trained with.")
    with torch.no_grad():
        peft.set_peft_model_state_dict(model, state, adapter_name=name)
