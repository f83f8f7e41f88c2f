"""Builders for response-engine records (shared as fixtures; tests run in importlib mode)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest


def _lesion(lid: str, ld: float, perp: float | None = None, **kw: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": lid,
        "longest_diameter_mm": ld,
        "perpendicular_mm": perp if perp is not None else min(ld, 8.0),
    }
    d.update(kw)
    return d


def _tp(
    date: str | dt.date,
    lesions: list[dict[str, Any]],
    steroid: float | None = 0,
    clinical: str | None = "stable",
    **kw: Any,
) -> dict[str, Any]:
    d: dict[str, Any] = {
        "date": date if isinstance(date, str) else date.isoformat(),
        "steroid_mg_day": steroid,
        "clinical_status": clinical,
        "lesions": lesions,
    }
    d.update(kw)
    return d


@pytest.fixture
def lesion():
    """``lesion(id, ld, perp=None, **extra)`` -> lesion dict (perp defaults to min(ld, 8))."""
    return _lesion


@pytest.fixture
def tp():
    """``tp(date, lesions, steroid=0, clinical='stable', **extra)`` -> time point dict."""
    return _tp


@pytest.fixture
def record():
    """``record(*timepoints, io_start=None)`` -> CONTRACT §4 record."""

    def make(*tps: dict[str, Any], io_start: str | None = None) -> dict[str, Any]:
        return {
            "on_immunotherapy": io_start is not None,
            "immunotherapy_start": io_start,
            "timepoints": list(tps),
        }

    return make
