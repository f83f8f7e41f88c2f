"""CLI test helpers: run the typer app in-process and capture stdout/stderr separately."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner


@pytest.fixture
def cli():
    from brainmets.cli import app

    runner = CliRunner()

    def _run(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return _run


@pytest.fixture
def write_json(tmp_path: Path):
    def _write(obj, name: str = "in.json") -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(obj), encoding="utf-8")
        return path

    return _write
