"""What every feature extractor shares: the ``BatchFeature`` it returns, loading its settings from
either layout (see ``files.py``) and saving them as ``preprocessor_config.json``, as transformers 5
saves a bare feature extractor (a processor nests them in processor_config.json instead)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from ..atomic_folder import staged_save
from ..hub import HubOptions
from ..hub_push import PushToHubMixin
from ..io import atomic_write_text
from .files import PREPROCESSOR_CONFIG, load_part_dict


class BatchFeature(dict):
    """A dict of model inputs (``batch["input_features"]`` or ``batch.input_features``), turned into
    tensors with ``return_tensors`` and moved with ``.to(device)``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def convert_to_tensors(self, tensor_type: str | None) -> "BatchFeature":
        if tensor_type is None:
            return self
        if tensor_type not in ("pt", "np"):
            raise ValueError(f"return_tensors={tensor_type!r} is not supported: use 'pt' (torch), 'np' (numpy) or None.")
        for key, value in self.items():
            array = value if isinstance(value, (np.ndarray, torch.Tensor)) else np.asarray(value)
            if tensor_type == "pt":
                self[key] = array if isinstance(array, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(array))
            else:
                self[key] = array.numpy() if isinstance(array, torch.Tensor) else array
        return self

    def to(self, device: str | torch.device) -> "BatchFeature":
        for key, value in self.items():
            if isinstance(value, torch.Tensor):
                self[key] = value.to(device)
        return self


class SavedSettings(PushToHubMixin):
    """``from_pretrained`` / ``save_pretrained`` / ``to_json_string`` over ``to_dict``, shared by
    feature extractors and image processors. ``part`` names the entry of processor_config.json that
    holds the settings; a bare save writes preprocessor_config.json, as transformers 5 does."""

    part = "feature_extractor"

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any):
        """Read the settings of a folder, Hub repo or JSON file: this part's entry of
        processor_config.json (transformers 5), else preprocessor_config.json. Keyword arguments override them."""
        options = HubOptions.pop_from(kwargs)
        values = load_part_dict(pretrained_model_name_or_path, options, cls.part)
        return cls(**{**values, **kwargs})

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> list[str]:
        """Write preprocessor_config.json into ``save_directory`` (the folder's other files are kept);
        ``push_to_hub=True`` then uploads it (``repo_id=``, ``token=``, ...)."""
        pending_push = self._start_push(save_directory, push_to_hub, kwargs)
        with staged_save(save_directory) as folder:
            atomic_write_text(os.path.join(folder, PREPROCESSOR_CONFIG), self.to_json_string())
        if pending_push is not None:
            pending_push.finish()
        return [os.path.join(save_directory, PREPROCESSOR_CONFIG)]

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"


class FeatureExtractionMixin(SavedSettings):
    """The constructor's settings behind ``SavedSettings``.

    A subclass lists its settings in ``settings`` (name -> default); anything else in a saved
    config is kept and written back, so files round-trip with the reference.
    """

    settings: dict[str, Any] = {}
    model_input_names: list[str] = ["input_features"]

    def __init__(self, **kwargs: Any) -> None:
        for name, default in self.settings.items():
            setattr(self, name, kwargs.pop(name, default))
        kwargs.pop("feature_extractor_type", None)
        kwargs.pop("processor_class", None)
        self._extra = kwargs  # keys this version does not use, kept for saving

    def to_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.settings}
        return {**self._extra, **values, "feature_extractor_type": type(self).__name__}
