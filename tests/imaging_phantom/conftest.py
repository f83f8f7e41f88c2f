"""Shared small phantoms for the phantom/metrics tests (3 mm grids keep them fast)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_case(tmp_path_factory):
    from brainmets.imaging.phantom import make_case

    out = tmp_path_factory.mktemp("phantom") / "case_000"
    truth = make_case(11, out, voxel_mm=(3.0, 3.0, 4.0), n_lesions=5)
    return out, truth


@pytest.fixture(scope="session")
def small_series(tmp_path_factory):
    from brainmets.imaging.phantom import make_series

    out = tmp_path_factory.mktemp("series") / "case_000"
    doc = make_series(21, out, 2, voxel_mm=(3.0, 3.0, 3.0), n_lesions=4)
    return out, doc
