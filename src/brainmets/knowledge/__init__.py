"""Cited clinical facts as versioned data files (``knowledge/data``), loaded and validated once."""

from __future__ import annotations


def knowledge_version() -> str:
    """Version string of the bundled knowledge base."""
    return "0.0.0"
