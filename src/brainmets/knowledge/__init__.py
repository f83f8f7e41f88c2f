"""Cited clinical facts as versioned data files (``knowledge/data``), loaded and validated once.

API::

    from brainmets.knowledge import reference, references, require_refs, load_toml
    reference("GPA-08").citation      # formatted citation string
    require_refs(["GPA-08"], "my table")   # raises KnowledgeError at load time if unknown
    load_toml("prognosis/gpa_2008.toml")   # parsed data file (deep copy)
"""

from __future__ import annotations

from brainmets.knowledge.loader import (
    DATA_DIR,
    KnowledgeError,
    Reference,
    UnknownReferenceError,
    knowledge_version,
    load_references,
    load_toml,
    reference,
    references,
    require_refs,
)

__all__ = [
    "DATA_DIR",
    "KnowledgeError",
    "Reference",
    "UnknownReferenceError",
    "knowledge_version",
    "load_references",
    "load_toml",
    "reference",
    "references",
    "require_refs",
]
