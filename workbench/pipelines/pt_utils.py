"""Where the reference keeps ``KeyDataset``: ``from workbench.pipelines.pt_utils import KeyDataset`` works as documented."""

from .base import KeyDataset

__all__ = ["KeyDataset"]
