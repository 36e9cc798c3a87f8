"""Model configuration: what config.json holds, as an object.

A family subclasses :class:`PretrainedConfig` with its ``model_type``, a ``defaults`` dict and,
where its checkpoints use other names, an ``attribute_map`` (``hidden_size`` -> ``n_embd``).
Unknown keys are kept, so ``from_dict(d).to_dict()`` gives back every key of ``d``.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from .atomic_folder import staged_save
from .errors import ConfigError
from .hub import HubOptions, resolve_file
from .hub_push import PushToHubMixin
from .io import atomic_write_text

CONFIG_NAME = "config.json"

# Keys every config has, whatever the family (the reference writes these too).
COMMON_DEFAULTS: dict[str, Any] = {
    "architectures": None,
    "output_hidden_states": False,
    "output_attentions": False,
    "return_dict": True,
    "dtype": None,
    "chunk_size_feed_forward": 0,
    "is_encoder_decoder": False,
    "problem_type": None,
    "tie_word_embeddings": True,
    "pad_token_id": None,
    "bos_token_id": None,
    "eos_token_id": None,
}
# Runtime switches: never written to config.json.
_RUNTIME_KEYS = {"_name_or_path", "_attn_implementation"}


class PretrainedConfig(PushToHubMixin):
    """Base configuration. ``config.some_key`` reads a key; aliases follow ``attribute_map``."""

    model_type: str = ""
    defaults: dict[str, Any] = {}
    attribute_map: dict[str, str] = {}
    # a composite config's parts: key -> config class (CLIP: "text_config" -> CLIPTextConfig). config.json
    # holds each as a dict; the config holds it as that class (built from its defaults when absent)
    sub_configs: dict[str, type["PretrainedConfig"]] = {}
    # the key under which a composite config holds this one ("text_config"): from_pretrained on a composite
    # checkpoint then reads that part, as the reference does
    base_config_key: str = ""

    def __init__(self, **kwargs: Any) -> None:
        num_labels = kwargs.pop("num_labels", None)
        if "torch_dtype" in kwargs:  # the name configs written before transformers 5 use
            kwargs.setdefault("dtype", kwargs.pop("torch_dtype"))
        values = {**COMMON_DEFAULTS, **copy.deepcopy(self.defaults)}
        values.update({self.attribute_map.get(k, k): v for k, v in kwargs.items()})
        values.pop("model_type", None)
        values.pop("transformers_version", None)
        id2label = values.pop("id2label", None)
        values.pop("label2id", None)
        object.__setattr__(self, "_name_or_path", values.pop("_name_or_path", values.pop("name_or_path", "")))
        for key, value in values.items():
            setattr(self, key, value)
        if id2label is not None:
            self.id2label = {int(k): v for k, v in id2label.items()}
        else:
            self.num_labels = num_labels if num_labels is not None else 2
        if id2label is not None and num_labels is not None and num_labels != len(self.id2label):
            self.num_labels = num_labels
        for key, sub_class in self.sub_configs.items():
            part = getattr(self, key, None)
            if not isinstance(part, PretrainedConfig):
                setattr(self, key, sub_class(**(part or {})))
        self.__post_init__()

    def __post_init__(self) -> None:
        """Hook for families that derive or normalise keys (for example ``head_dim``)."""

    # aliases ---------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # only called when normal lookup fails
        canonical = type(self).attribute_map.get(name)
        if canonical is not None:
            return getattr(self, canonical)
        raise AttributeError(
            f"{type(self).__name__} has no attribute {name!r}. Set it as a config key "
            f"(config.{name} = ...) or check the spelling against config.json."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(type(self).attribute_map.get(name, name), value)
        if name == "_attn_implementation":  # a composite model's parts (every nested config) attend the same way
            for part in list(self.__dict__.values()):
                if isinstance(part, PretrainedConfig):
                    setattr(part, name, value)

    # labels ------------------------------------------------------------------------------------
    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, count: int) -> None:
        current = self.__dict__.get("id2label")
        if current is None or len(current) != count:
            self.id2label = {i: f"LABEL_{i}" for i in range(count)}

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in self.id2label.items()}

    @label2id.setter
    def label2id(self, mapping: dict[str, int]) -> None:
        self.id2label = {int(i): label for label, i in mapping.items()}

    @property
    def name_or_path(self) -> str:
        return self._name_or_path

    @name_or_path.setter
    def name_or_path(self, value: str) -> None:
        object.__setattr__(self, "_name_or_path", str(value))

    @property
    def use_return_dict(self) -> bool:
        return self.return_dict

    # dict and JSON -----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **overrides: Any) -> "PretrainedConfig":
        return cls(**{**config_dict, **overrides})

    def to_dict(self) -> dict[str, Any]:
        out = {k: v.to_dict() if isinstance(v, PretrainedConfig) else copy.deepcopy(v)
               for k, v in self.__dict__.items() if k not in _RUNTIME_KEYS}
        if not isinstance(out.get("dtype"), (str, type(None))):  # a torch.dtype
            out["dtype"] = str(out["dtype"]).removeprefix("torch.")
        out["id2label"] = {str(i): label for i, label in self.id2label.items()}
        out["label2id"] = self.label2id
        out["model_type"] = self.model_type
        return dict(sorted(out.items()))

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_json_string())

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            setattr(self, key, value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PretrainedConfig) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__} {self.to_json_string()}"

    # files ---------------------------------------------------------------------------------
    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> None:
        """Write config.json into ``save_directory`` (the folder's other files are kept); ``push_to_hub=True``
        then uploads it (``repo_id=``, ``token=``, ...)."""
        pending_push = self._start_push(save_directory, push_to_hub, kwargs)
        with staged_save(save_directory) as folder:
            self.to_json_file(os.path.join(folder, CONFIG_NAME))
        if pending_push is not None:
            pending_push.finish()

    @classmethod
    def from_pretrained(cls, path_or_repo: str | os.PathLike, **kwargs: Any) -> "PretrainedConfig":
        """Read config.json from a folder or Hub repo (or the metadata of ``gguf_file=``, a GGUF
        file in it); keyword arguments override its keys."""
        options = HubOptions.pop_from(kwargs)
        config_dict = load_config_dict(path_or_repo, options, kwargs.pop("gguf_file", None))
        part = config_dict.get(cls.base_config_key) if cls.base_config_key else None
        if isinstance(part, dict) and config_dict.get("model_type") != cls.model_type:
            config_dict = part  # CLIPTextConfig from a clip checkpoint: its text_config
        if cls.model_type and config_dict.get("model_type", cls.model_type) != cls.model_type:
            raise ConfigError(
                f"{path_or_repo} holds a {config_dict.get('model_type')!r} config, not "
                f"{cls.model_type!r}: load it with AutoConfig.from_pretrained instead."
            )
        config = cls.from_dict(config_dict, **kwargs)
        config.name_or_path = str(path_or_repo)
        return config


def load_config_dict(path_or_repo: str | os.PathLike, options: HubOptions | None = None,
                     gguf_file: str | os.PathLike | None = None) -> dict[str, Any]:
    """config.json as a dict, with a clear error when it is missing or not JSON.

    With ``gguf_file`` (or a .gguf file as ``path_or_repo``) the dict comes from the GGUF metadata.
    """
    path = str(path_or_repo)
    if gguf_file is not None or path.endswith(".gguf"):
        from .gguf import read_gguf_config, resolve_gguf_file

        gguf_path = resolve_gguf_file(path_or_repo, gguf_file, options)
        if gguf_path is not None:
            return read_gguf_config(gguf_path)
    if os.path.isfile(path) and path.endswith(".json"):
        config_path = path
    else:
        config_path = resolve_file(path_or_repo, CONFIG_NAME, options)
    try:
        with open(config_path, encoding="utf-8") as handle:
            config_dict = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{config_path} is not valid JSON ({error}). Re-save the config with "
            "config.save_pretrained(folder), or fix the file by hand."
        ) from None
    if not isinstance(config_dict, dict):
        raise ConfigError(f"{config_path} must hold a JSON object (a dict of config keys), not {type(config_dict).__name__}.")
    return config_dict
