"""CLI/web parity (issue 14): the same record and the same MRI give the same case through
`brainmets assess --scan` and through the web service (create, upload, wait, GET assessment),
because both call the one composer. Phantom MRIs come from brainmets.imaging.phantom."""

from __future__ import annotations

import copy
import json

import pytest
from typer.testing import CliRunner

from brainmets.cli import app

RECORD = {
    "id": "parity-1", "age": 62, "sex": "female", "kps": 80, "ecog": 1,
    "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                "egfr": "positive", "alk": "negative"},
    "extracranial_metastases": False,
    "symptoms": {"status": "asymptomatic"},
    "therapy": {"systemic_options_available": True},
}
runner = CliRunner()


def _cli_case(tmp_path, record: dict, scans: list, dates: list[str], out=None) -> dict:
    f = tmp_path / "record.json"
    f.write_text(json.dumps(record))
    args = ["assess", str(f), "--format", "json"]
    for path, date in zip(scans, dates, strict=True):
        args += ["--scan", str(path), "--scan-date", date]
    if out is not None:
        args += ["--out", str(out)]
    r = runner.invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _web_case(api, record: dict, scans: list, dates: list[str]) -> tuple[str, dict]:
    r = api.post("/api/patients", json=record)
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    for path, date in zip(scans, dates, strict=True):
        up = api.post(f"/api/patients/{pid}/scans",
                      files={"file": ("t1c.nii.gz", path.read_bytes())}, data={"date": date})
        assert up.status_code == 202, up.text
        assert api.wait_job(up.json()["job"], timeout=300)["status"] == "done"
    a = api.get(f"/api/patients/{pid}/assessment")
    assert a.status_code == 200, a.text
    return pid, a.json()


def _lesions(case: dict) -> list[tuple]:
    return [(x["id"], x["source"], x["status"], x["diameter_mm"], x["volume_ml"],
             x["perpendicular_diameter_mm"], x["max_diameter_mm"], x["location"],
             x["enhancement"], tuple(x["centroid_mm"]), x["scan"]["date"])
            for x in case["lesions"]]


def _options(case: dict) -> list[tuple]:
    return [(o["id"], o["kind"], o["dose"], o["mdt"], o["rationale"]) for o in case["options"]]


def _indices(case: dict) -> list[tuple]:
    return [(e["index"], e["score"], e["group"], e["median_survival_months"])
            for e in case["prognosis"]]


def test_cli_and_web_give_the_same_lesions_options_and_indices(real_api, phantom_mri, tmp_path):
    cli = _cli_case(tmp_path, RECORD, [phantom_mri], ["2026-01-10"])
    _, web = _web_case(real_api, RECORD, [phantom_mri], ["2026-01-10"])
    assert cli["lesions"], "the phantom has 2 metastases: the scan must find some"
    assert _lesions(cli) == _lesions(web)
    assert _options(cli) == _options(web)
    assert _indices(cli) == _indices(web)
    assert cli["not_computed"] == web["not_computed"]
    assert cli["not_recommended"] == web["not_recommended"]
    # CONTRACT §5: detected lesions not yet reviewed -> provisional, on both doors
    assert cli["provisional"] is web["provisional"] is True
    assert cli["lesion_source"] == web["lesion_source"] == "scan"
    assert all(x["source"] == "scan" and x["status"] == "detected" for x in cli["lesions"])


def test_record_lesions_win_on_both_doors(real_api, phantom_mri, tmp_path):
    rec = copy.deepcopy(RECORD)
    rec["brain_metastases"] = {"lesions": [{"diameter_mm": 12.0, "location": "cerebellum"}]}
    cli = _cli_case(tmp_path, rec, [phantom_mri], ["2026-01-10"])
    _, web = _web_case(real_api, rec, [phantom_mri], ["2026-01-10"])
    assert [(x["source"], x["diameter_mm"]) for x in cli["lesions"]] == [("record", 12.0)]
    assert [(x["source"], x["diameter_mm"]) for x in web["lesions"]] == [("record", 12.0)]
    # the scan's detected lesions are still unreviewed: provisional on both doors (§5)
    assert cli["provisional"] is web["provisional"] is True
    assert _options(cli) == _options(web) and _indices(cli) == _indices(web)


@pytest.mark.slow
def test_irano_on_the_web_as_on_the_cli(real_api, growth_series, tmp_path):
    """Two scans of a growing lesion, on immunotherapy started before the baseline: iRANO
    (treatment.md §6.5) gives PD_unconfirmed on both doors; the same scans without
    immunotherapy give PD (§6.2)."""
    rec = copy.deepcopy(RECORD)
    rec["therapy"].update(on_immunotherapy=True, immunotherapy_start="2026-01-01")
    paths, dates = growth_series["paths"], growth_series["dates"]
    cli = _cli_case(tmp_path, rec, paths, dates, out=tmp_path / "scans")
    pid, web = _web_case(real_api, rec, paths, dates)
    timeline = real_api.get(f"/api/patients/{pid}/response").json()
    assert cli["response"]["category"] == "PD_unconfirmed"
    assert web["response"]["category"] == timeline["rano"]["category"] == "PD_unconfirmed"
    assert any(r["id"] == "iRANO" for r in web["response"]["references"])
    assert web["response"]["tracking"]["tracks"], "the web keeps the tracking report"
    assert ([t["summary"] for t in cli["response"]["tracking"]["tracks"]]
            == [t["summary"] for t in web["response"]["tracking"]["tracks"]])
    # the `response` command on the same scan folders, same composer helper
    r = runner.invoke(app, ["response", str(tmp_path / "scans" / "scan-1"),
                            str(tmp_path / "scans" / "scan-2"), "--dates", ",".join(dates),
                            "--on-immunotherapy", "--immunotherapy-start", "2026-01-01"],
                      catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["category"] == "PD_unconfirmed"
    rec["therapy"]["on_immunotherapy"] = False
    off = _cli_case(tmp_path, rec, paths, dates)
    assert off["response"]["category"] == "PD"


def test_assess_scan_options_fail_cleanly(tmp_path):
    f = tmp_path / "record.json"
    f.write_text(json.dumps(RECORD))
    for args, word in ((["--scan-date", "2026-01-10"], "--scan-date"),
                       (["--scan", str(tmp_path / "missing.nii.gz")], "--scan"),
                       (["--scan", str(f), "--scan-date", "2026-1-1"], "--scan-date[0]")):
        r = runner.invoke(app, ["assess", str(f), *args])
        assert r.exit_code == 2 and word in r.stderr and "Traceback" not in r.output, r.output
    lst = tmp_path / "list.json"
    lst.write_text(json.dumps([RECORD, RECORD]))
    r = runner.invoke(app, ["assess", str(lst), "--scan", str(f)])
    assert r.exit_code == 2 and "one patient" in r.stderr
