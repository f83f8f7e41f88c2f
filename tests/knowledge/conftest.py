"""Shared set-up of the pin-completeness tests: scripts/mutate_knowledge.py loaded as a module
and the knowledge data folder replaced by a scratch copy that the tests may mutate."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from brainmets.knowledge import loader


@pytest.fixture
def knowledge_copy(tmp_path, monkeypatch) -> SimpleNamespace:
    """``.mk`` (the mutation module), ``.root`` (repository) and ``.data`` (the scratch copy
    that ``loader.DATA_DIR`` now points to)."""
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("mutate_knowledge",
                                                  root / "scripts" / "mutate_knowledge.py")
    assert spec is not None and spec.loader is not None
    mk = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "mutate_knowledge", mk)  # dataclasses look it up
    spec.loader.exec_module(mk)
    data = tmp_path / "data"
    shutil.copytree(loader.DATA_DIR, data)
    monkeypatch.setattr(loader, "DATA_DIR", data)
    return SimpleNamespace(mk=mk, root=root, data=data)
