"""Workbench's exceptions.

Each subclasses the built-in exception that users of the reference library already catch
(``OSError`` for missing files, ``ValueError`` for bad arguments), so ``except OSError`` keeps
working, while ``except WorkbenchError`` catches everything workbench raises on purpose.
Messages name the file or argument at fault and say what to do.
"""


class WorkbenchError(Exception):
    """Base class of every error workbench raises on purpose."""


class CheckpointNotFoundError(WorkbenchError, OSError):
    """A file or folder a model, config or tokenizer needs cannot be found locally or on the Hub."""


class CheckpointError(WorkbenchError, ValueError):
    """A checkpoint file exists but is unreadable, corrupt, or does not fit the model."""


class ConfigError(WorkbenchError, ValueError):
    """A config.json that is not JSON, or a config that names something unsupported."""


class UnsupportedModelError(ConfigError):
    """A ``model_type`` or architecture workbench does not implement."""


class ChatTemplateError(WorkbenchError, ValueError):
    """A chat template that is missing, does not compile, fails while rendering, or gets bad arguments."""


class ChatTemplateSecurityError(ChatTemplateError):
    """A chat template tried to reach Python internals (``__class__``, ``__globals__``, imports, ...)."""
