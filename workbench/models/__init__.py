"""Model families, one module each. Which ``model_type`` lives where, and under which class names, is
the registry :data:`FAMILIES` (in :mod:`workbench.models.registry`); a family's module is imported only
when a config of its type is loaded (see :mod:`workbench.auto`).
"""

from .registry import FAMILIES, Family

__all__ = ["FAMILIES", "Family"]
