"""A checkpoint's model card (its README.md) as a catalog shows it: the first paragraph of text,
and the license and tags from the YAML front matter.

The front matter is read without a YAML library: top-level ``key: value`` scalars and lists of
scalars (``key:`` then ``- item`` lines, or ``key: [a, b]``); anything nested is skipped. That
covers the keys the Hub's cards use for this (``license``, ``tags``, ``pipeline_tag``,
``base_model``, ``language``, ``datasets``).

>>> card = parse_model_card("---\\nlicense: mit\\ntags:\\n- bert\\n---\\n# Model\\n\\nA tiny BERT.\\n")
>>> card.license, card.tags, card.description
('mit', ['bert'], 'A tiny BERT.')
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DESCRIPTION_MAX_CHARS = 600
README_MAX_BYTES = 1 << 20
SHOWN_KEYS = ("license", "pipeline_tag", "base_model", "language", "datasets")


@dataclass
class ModelCard:
    description: str | None = None  # the first paragraph of prose, Markdown kept
    license: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # every top-level key the front matter gave


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def parse_front_matter(lines: list[str]) -> dict[str, Any]:
    """Top-level scalars and lists of scalars of a YAML block (the lines between the ``---``)."""
    found: dict[str, Any] = {}
    key = None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = re.match(r"^\s*-\s+(.*)$", line)
        if item and key is not None and isinstance(found.get(key), list):
            value = item.group(1).strip()
            if ":" not in value:  # a list of mappings is nested data: skipped
                found[key].append(_scalar(value))
            continue
        top = re.match(r"^([A-Za-z0-9_.-]+):\s*(.*)$", line)
        if not top:
            key = None  # a nested line: not read
            continue
        key, value = top.group(1), top.group(2).strip()
        if not value:
            found[key] = []
        elif value.startswith("[") and value.endswith("]"):
            found[key] = [_scalar(part) for part in value[1:-1].split(",") if part.strip()]
        else:
            found[key] = _scalar(value)
    return {k: v for k, v in found.items() if v != []}


def _first_paragraph(lines: list[str]) -> str | None:
    paragraph: list[str] = []
    in_comment = False
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("<!--"):
            in_comment = "-->" not in stripped
            continue
        if in_comment:
            in_comment = "-->" not in stripped
            continue
        prose = stripped and not stripped.startswith(("#", "|", "```", "<", "![", "[![", "---", "==="))
        if prose:
            paragraph.append(stripped)
        elif paragraph:
            break
    text = " ".join(paragraph)
    if len(text) > DESCRIPTION_MAX_CHARS:
        text = text[:DESCRIPTION_MAX_CHARS].rsplit(" ", 1)[0] + " ..."
    return text or None


def parse_model_card(text: str) -> ModelCard:
    """A README.md's card: front matter (when the text opens with ``---``) and first paragraph."""
    lines = text.splitlines()
    metadata: dict[str, Any] = {}
    if lines and lines[0].strip() == "---":
        end = next((i for i, line in enumerate(lines[1:], 1) if line.strip() in ("---", "...")), None)
        if end is not None:
            metadata, lines = parse_front_matter(lines[1:end]), lines[end + 1:]
    tags = metadata.get("tags", [])
    license_name = metadata.get("license")
    return ModelCard(description=_first_paragraph(lines), metadata=metadata,
                     license=license_name if isinstance(license_name, str) else None,
                     tags=tags if isinstance(tags, list) else [tags])
