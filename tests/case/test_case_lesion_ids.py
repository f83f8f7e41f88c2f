"""A record lesion may carry its own id (what radiation_history.lesion_ids refers to)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from brainmets.case import assess_case
from brainmets.cli import app

RECORD = {
    "age": 60, "kps": 80,
    "primary": {"site": "breast", "er": "positive", "pr": "negative", "her2": "negative"},
    "extracranial_metastases": False,
    "brain_metastases": {"count": 1, "lesions": [
        {"id": "L1", "diameter_mm": 14, "volume_ml": 1.0, "resected": True}]},
    "radiation_history": [{"date": "2026-05-01", "modality": "srs", "lesion_ids": ["L1"],
                           "dose_gy": 20, "fractions": 1}],
}


def test_record_lesion_id_is_kept_and_not_warned_about() -> None:
    case = assess_case(RECORD)
    assert [les.id for les in case.lesions] == ["L1"]
    assert case.lesions[0].source == "record"
    assert not any("unknown field" in w and ".id" in w for w in case.warnings)


def test_cli_assess_accepts_lesion_ids(tmp_path) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps(RECORD))
    res = CliRunner().invoke(app, ["assess", str(f), "--format", "json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["lesions"][0]["id"] == "L1"
