"""Fixtures for the case-composer tests: the service fixtures (tests/service/conftest.py) and
synthetic MRIs from the imaging phantom (made here; no patient data)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "_brainmets_service_conftest_case",
    Path(__file__).resolve().parents[1] / "service" / "conftest.py")
_svc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_svc)
helpers = _svc.helpers
phantom_mri = _svc.phantom_mri


@pytest.fixture
def real_api(tmp_path):
    """An API (SQLite) whose scan jobs run the real imaging pipeline (as `brainmets assess
    --scan` does)."""
    from brainmets.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'registry.sqlite3'}", tmp_path / "data")
    api = _svc.make_api(store, scan_fn=None)
    with api.client:
        yield api
    store.dispose()


@pytest.fixture(scope="session")
def growth_series(tmp_path_factory) -> dict:
    """Baseline + one follow-up of one synthetic patient (3 mm, 2 lesions) where the target sum
    grows >= 20 % with a lesion growing >= 5 mm (phantom seed 9: PD by RANO-BM, treatment.md
    §6.2); each follow-up is a new acquisition (new orientation, head shift)."""
    from brainmets.imaging.phantom import make_series

    out = tmp_path_factory.mktemp("series")
    tl = make_series(9, out, 1, voxel_mm=(3.0, 3.0, 3.0), full_head=False, n_lesions=2,
                     diameter_range=(12.0, 20.0))
    return {"paths": [out / tp["dir"] / "t1c.nii.gz" for tp in tl["timepoints"]],
            "dates": [tp["date"] for tp in tl["timepoints"]], "timeline": tl}
