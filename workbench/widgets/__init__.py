"""Notebook front-ends over workbench (the optional ``widgets`` extra: ipywidgets, matplotlib).

>>> from workbench.widgets import ModelPicker, TokenizerInspector, ActivationDiff, TrainingCurves
>>> from workbench.widgets import AttentionView, GenerationInspector, ImageProcessorInspector, SpeechInspector
>>> from workbench.widgets import AdapterTable   # a model's adapters, as the views above show them

Each is one line in a notebook and shows a live ipywidgets view, with a static ``text/html``
fallback (and ``text/plain``) for nbconvert, GitHub and notebooks saved without widget state.
Each keeps its state in plain Python attributes, so code and tests can drive it (set values,
``.click()`` its buttons) and read what it shows. Nothing outside this package imports it.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "ModelPicker": "model_picker",
    "TokenizerInspector": "tokenizer_inspector",
    "ActivationDiff": "activation_diff",
    "TrainingCurves": "training_curves",
    "AttentionView": "attention_view",
    "GenerationInspector": "generation_inspector",
    "ImageProcessorInspector": "image_inspector",
    "SpeechInspector": "speech_inspector",
    "AdapterTable": "adapter_table",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'workbench.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module_name}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
