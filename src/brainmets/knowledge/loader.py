"""Load and validate the knowledge base (``knowledge/data``) once per process.

References live in ``data/references/<area>.toml``::

    [[reference]]
    id = "ASCO22"
    authors = "..."
    title = "..."
    journal = "..."
    year = 2022
    doi = "..."      # optional
    url = "..."      # optional
    note = "..."     # optional

Every file is parsed and validated the first time anything asks for it; a malformed file
raises :class:`KnowledgeError` naming the file (fail loudly, never half-load).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainmets.errors import BrainmetsError

#: Bump when the *structure* of the knowledge base changes; content changes show in the hash.
SCHEMA_VERSION = "1"

DATA_DIR = Path(__file__).resolve().parent / "data"
REFERENCES_DIR = DATA_DIR / "references"

_REQUIRED_STR = ("id", "title")
_OPTIONAL_STR = ("authors", "journal", "doi", "url", "note", "volume", "pages", "pmid")
_TOP_LEVEL_ALLOWED = {"reference", "version", "meta", "area", "title", "description"}


class KnowledgeError(BrainmetsError, RuntimeError):
    """The knowledge base is malformed or inconsistent (raised at load time)."""


class UnknownReferenceError(KnowledgeError, LookupError):
    """A reference id that no ``data/references/*.toml`` file defines."""


@dataclass(frozen=True)
class Reference:
    """One citable source."""

    id: str
    title: str
    authors: str = ""
    journal: str = ""
    year: int | None = None
    doi: str = ""
    url: str = ""
    note: str = ""
    file: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def citation(self) -> str:
        """Formatted citation: ``Authors. Title. Journal Year. doi:...``."""
        parts = []
        if self.authors:
            parts.append(self.authors.rstrip("."))
        parts.append(self.title.rstrip("."))
        venue = self.journal.rstrip(".")
        if self.year:
            venue = f"{venue} ({self.year})" if venue else str(self.year)
        if venue:
            parts.append(venue)
        text = ". ".join(parts) + "."
        if self.doi:
            text += f" doi:{self.doi}"
        elif self.url:
            text += f" {self.url}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "authors": self.authors,
            "journal": self.journal, "year": self.year, "doi": self.doi, "url": self.url,
            "note": self.note, "citation": self.citation,
        }


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(DATA_DIR.parent.parent.parent))
    except ValueError:
        return str(path)


def _parse_toml_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{_rel(path)}: malformed TOML: {exc}") from None
    except OSError as exc:
        raise KnowledgeError(f"{_rel(path)}: cannot read: {exc.strerror}") from None


def _parse_reference(entry: Any, where: str) -> Reference:
    if not isinstance(entry, dict):
        raise KnowledgeError(f"{where}: expected a [[reference]] table")
    for key in _REQUIRED_STR:
        value = entry.get(key)
        if not isinstance(value, str) or not value.strip():
            raise KnowledgeError(f"{where}: '{key}' is required and must be a non-empty string")
    for key in _OPTIONAL_STR:
        if key in entry and not isinstance(entry[key], str):
            raise KnowledgeError(f"{where} ({entry['id']}): '{key}' must be a string")
    year = entry.get("year")
    if year is not None and (
        not isinstance(year, int) or isinstance(year, bool) or not 1800 <= year <= 2100
    ):
        raise KnowledgeError(f"{where} ({entry['id']}): 'year' must be an integer, got {year!r}")
    extra = {}
    for key, value in entry.items():
        if key in _REQUIRED_STR or key in _OPTIONAL_STR or key == "year":
            continue
        if isinstance(value, (dict, list)):
            raise KnowledgeError(f"{where} ({entry['id']}): '{key}' must be a scalar")
        extra[key] = value
    return Reference(
        id=entry["id"].strip(),
        title=entry["title"].strip(),
        authors=entry.get("authors", ""),
        journal=entry.get("journal", ""),
        year=year,
        doi=entry.get("doi", ""),
        url=entry.get("url", ""),
        note=entry.get("note", ""),
        file=where.split(":", 1)[0],
        extra=extra,
    )


def load_references(directory: Path = REFERENCES_DIR) -> dict[str, Reference]:
    """Parse every ``*.toml`` in ``directory`` (no caching; see :func:`references`)."""
    registry: dict[str, Reference] = {}
    if not directory.is_dir():
        return registry
    for path in sorted(directory.glob("*.toml")):
        data = _parse_toml_file(path)
        rel = _rel(path)
        unknown = set(data) - _TOP_LEVEL_ALLOWED
        if unknown:
            raise KnowledgeError(
                f"{rel}: unknown top-level key(s) {sorted(unknown)}; "
                "a references file holds [[reference]] tables"
            )
        entries = data.get("reference", [])
        if not isinstance(entries, list):
            raise KnowledgeError(f"{rel}: 'reference' must be an array of tables [[reference]]")
        for i, entry in enumerate(entries):
            ref = _parse_reference(entry, f"{rel}: reference #{i + 1}")
            if ref.id in registry:
                raise KnowledgeError(
                    f"duplicate reference id {ref.id!r} in {registry[ref.id].file} and {rel}"
                )
            registry[ref.id] = ref
    return registry


@functools.cache
def _registry() -> dict[str, Reference]:
    return load_references()


def references() -> dict[str, Reference]:
    """All references, keyed by id (a fresh dict; the registry itself is loaded once)."""
    return dict(_registry())


def reference(ref_id: str) -> Reference:
    """The reference with this id; :class:`UnknownReferenceError` if none."""
    try:
        return _registry()[ref_id]
    except KeyError:
        raise UnknownReferenceError(f"unknown reference id {ref_id!r}") from None


def require_refs(ids: Iterable[str], where: str) -> None:
    """Raise :class:`UnknownReferenceError` naming ``where`` if any id is not registered."""
    if isinstance(ids, str):
        ids = [ids]
    known = _registry()
    missing = sorted({i for i in ids if i not in known})
    if missing:
        raise UnknownReferenceError(
            f"{where}: unknown reference id(s) {', '.join(missing)} "
            "(define them in src/brainmets/knowledge/data/references/*.toml)"
        )


@functools.cache
def _load_toml_cached(relpath: str) -> dict[str, Any]:
    path = (DATA_DIR / relpath).resolve()
    if DATA_DIR not in path.parents:
        raise KnowledgeError(f"{relpath}: outside the knowledge data folder")
    if not path.is_file():
        raise KnowledgeError(f"{_rel(path)}: no such knowledge file")
    return _parse_toml_file(path)


def load_toml(relpath: str) -> dict[str, Any]:
    """Parse ``knowledge/data/<relpath>`` (cached; returns a deep copy safe to mutate).

    A syntax error raises :class:`KnowledgeError` naming the file.
    """
    return copy.deepcopy(_load_toml_cached(relpath))


def load_override_toml(path: str | Path) -> dict[str, Any]:
    """Parse a user's override file (e.g. diagnosis cut-offs) outside ``knowledge/data``; not
    cached. A missing or malformed file raises :class:`KnowledgeError` naming it."""
    return _parse_toml_file(Path(path))


@functools.cache
def knowledge_version() -> str:
    """``<schema>+<content hash>`` of every file under ``knowledge/data``."""
    digest = hashlib.sha256()
    if DATA_DIR.is_dir():
        for path in sorted(DATA_DIR.rglob("*.toml")):
            digest.update(path.relative_to(DATA_DIR).as_posix().encode())
            digest.update(b"\0")
            digest.update(path.read_bytes())
    return f"{SCHEMA_VERSION}+{digest.hexdigest()[:12]}"


def clear_caches() -> None:
    """Forget everything loaded (tests only)."""
    _registry.cache_clear()
    _load_toml_cached.cache_clear()
    knowledge_version.cache_clear()
