"""Fixtures for the cohort tests: the NCCTG lung data bundled in lifelines, a CLI runner."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def lung_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lifelines.datasets import load_lung

    path = tmp_path_factory.mktemp("lung") / "lung.csv"
    load_lung().to_csv(path, index=False)
    return path


@pytest.fixture()
def cli():
    from typer.testing import CliRunner

    from brainmets.cli import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke
