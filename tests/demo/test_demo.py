"""`brainmets demo`: the whole flow writes every promised file, with consistent content."""

import json

from typer.testing import CliRunner

from brainmets.cli import app
from brainmets.commands.demo import run_demo


def test_demo_without_mri_assesses_bundled_patient(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--no-mri", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    a = json.loads((tmp_path / "assessment.json").read_text())
    assert a["patient_id"] == "example-nsclc-001"
    assert {e["index"] for e in a["prognosis"]} >= {"rpa", "gpa_2008", "lung_molgpa_2017"}
    assert a["options"], "the bundled patient must get guideline options"
    assert "not a medical device" in a["disclaimer"]
    assert (tmp_path / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert "lung_molgpa_2017" in (tmp_path / "summary.txt").read_text()


def test_demo_with_synthetic_mri(tmp_path):
    summary = run_demo(tmp_path, with_mri=True, log=lambda *a: None, voxel_mm=(2.0, 2.0, 2.0))
    assert "scan/lesions.json" in summary["files"]
    lesions = json.loads((tmp_path / "scan" / "lesions.json").read_text())
    patient = json.loads((tmp_path / "patient.json").read_text())
    # the record assessed is the one the scan produced
    assert patient["brain_metastases"]["count"] == len(lesions["lesions"])
    assert len(patient["brain_metastases"]["lesions"]) == len(lesions["lesions"])
    assert (tmp_path / "report.pdf").stat().st_size > 10_000
