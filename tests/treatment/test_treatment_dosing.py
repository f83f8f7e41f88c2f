"""BED/EQD2 worked table (treatment.md §2.5), dose-table boundaries, dose CLI, needs-notes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from brainmets.cli import app
from brainmets.treatment import dosing, radiobiology

# regimen, BED10, EQD2(10), BED2, EQD2(2) as printed in treatment.md §2.5 (one decimal)
WORKED = [
    ("24/1", 81.6, 68.0, 312.0, 156.0),
    ("20/1", 60.0, 50.0, 220.0, 110.0),
    ("18/1", 50.4, 42.0, 180.0, 90.0),
    ("15/1", 37.5, 31.2, 127.5, 63.8),
    ("12/1", 26.4, 22.0, 84.0, 42.0),
    ("27/3", 51.3, 42.8, 148.5, 74.2),
    ("30/5", 48.0, 40.0, 120.0, 60.0),
    ("35/5", 59.5, 49.6, 157.5, 78.8),
    ("25/5", 37.5, 31.2, 87.5, 43.8),
    ("30/10", 39.0, 32.5, 75.0, 37.5),
    ("20/5", 28.0, 23.3, 60.0, 30.0),
    ("37.5/15", 46.9, 39.1, 84.4, 42.2),
]


@pytest.mark.parametrize("reg,bed10,eqd10,bed2,eqd2", WORKED)
def test_worked_table(reg, bed10, eqd10, bed2, eqd2):
    res = radiobiology.calculate(reg)
    (t, b) = res.values
    assert (t["alpha_beta_gy"], b["alpha_beta_gy"]) == (10.0, 2.0)
    for got, want in ((t["bed_gy"], bed10), (t["eqd2_gy"], eqd10),
                      (b["bed_gy"], bed2), (b["eqd2_gy"], eqd2)):
        assert abs(got - want) <= 0.051, (reg, got, want)


def test_regimen_forms_equal():
    a, b, c = (radiobiology.parse_regimen(x) for x in ("27/3", "9x3", "9 Gy x 3"))
    assert a == b == c and a.dose_per_fraction == 9


@pytest.mark.parametrize("bad", ["", "27", "27/0", "27/2.5", "0/3", "abc", "500/1"])
def test_bad_regimen(bad):
    with pytest.raises(ValueError, match="regimen"):
        radiobiology.parse_regimen(bad)


def test_custom_alpha_beta_and_lq_warnings():
    res = radiobiology.calculate("24/1", [3.0])
    assert res.values[0]["alpha_beta_gy"] == 3.0
    assert res.values[0]["bed_gy"] == pytest.approx(24 * (1 + 24 / 3))
    assert len(res.warnings) == 2                  # > 10 Gy and > 18 Gy per fraction
    assert len(radiobiology.calculate("15/1").warnings) == 1
    assert radiobiology.calculate("10/1").warnings == []
    assert radiobiology.calculate("30/10").warnings == []
    assert any("UNCERTAIN" in n for n in radiobiology.calculate("30/10").notes)


@pytest.mark.parametrize("mm,rec,single", [
    (0, "KQ1.3", "20-24 Gy x 1"), (19.9, "KQ1.3", "20-24 Gy x 1"),
    (20.0, "KQ1.4", "18 Gy x 1"), (29.9, "KQ1.4", "18 Gy x 1"),
    (30.0, "KQ1.5", "up to 15 Gy"), (40.0, "KQ1.5", "up to 15 Gy"),
    (40.1, "KQ1.6", "not preferred"), (60.1, "KQ1.6", "SRS discouraged"),
])
def test_srs_dose_boundaries(mm, rec, single):
    row = dosing.srs_dose(mm)
    assert row["rec"] == rec and single in row["single_fraction"]


@pytest.mark.parametrize("mm,mtd", [(20, 24), (20.5, 18), (30, 18), (31, 15), (40, 15),
                                    (41, None)])
def test_rtog9005(mm, mtd):
    lim = dosing.rtog9005_limit(mm)
    assert lim["mtd_gy"] == mtd and "previously irradiated" in lim["caveat"]


@pytest.mark.parametrize("ml,gy", [(0, 20), (4.19, 20), (4.2, 18), (7.99, 18), (8.0, 17),
                                   (14.39, 17), (14.4, 15), (19.99, 15), (20.0, 14),
                                   (29.99, 14), (30.0, 12), (80, 12)])
def test_cavity_bins(ml, gy):
    assert dosing.cavity_dose(ml, 30)["dose_gy"] == gy


def test_cavity_limits_and_fractionation():
    assert any("outside the N107C" in n for n in dosing.cavity_dose(35, 52)["notes"])
    assert any("not given" in n for n in dosing.cavity_dose(10)["notes"])
    assert dosing.cavity_dose(10, 34)["fractionated_note"].startswith("9 Gy x 3")
    assert dosing.cavity_dose(10, 25)["fractionated_note"] is None


def test_dose_cli_text_and_json():
    r = CliRunner().invoke(app, ["dose", "--regimen", "27/3"])
    assert r.exit_code == 0
    assert "BED 51.3 Gy" in r.output and "EQD2 42.8 Gy" in r.output and "BED 148.5" in r.output
    r = CliRunner().invoke(app, ["dose", "-r", "27/3", "--alpha-beta", "10", "--format", "json"])
    data = json.loads(r.output)
    assert data["regimens"][0]["values"] == [
        {"alpha_beta_gy": 10.0, "tissue": "user", "bed_gy": 51.3, "eqd2_gy": 42.75}]
    r = CliRunner().invoke(app, ["dose", "--diameter-mm", "25", "--cavity-ml", "10",
                                 "--format", "json"])
    data = json.loads(r.output)
    assert data["srs"]["single_fraction"] == "18 Gy x 1" and data["cavity"]["dose_gy"] == 17


@pytest.mark.parametrize("args,msg", [
    (["dose", "--regimen", "27/x"], "regimen"),
    (["dose", "-r", "27/3", "--alpha-beta", "0"], "--alpha-beta"),
    (["dose"], "--regimen"),
    (["dose", "-r", "27/3", "--format", "xml"], "--format"),
])
def test_dose_cli_bad_input(args, msg):
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output


# ---------------------------------------------------------------- missing inputs -> needs


def test_missing_kps_asks_for_it(run):
    r = run({"kps": None})
    assert any(w.startswith("needs: kps") and "R3.1" in w for w in r.warnings)
    assert "palliative_care" not in r.ids


def test_missing_symptom_status(run):
    r = run({"symptoms": {"status": None}, "primary": {"egfr": "positive"}})
    assert any(w.startswith("needs: symptoms.status") for w in r.warnings)
    assert "dexamethasone" not in r.ids
    # decision 4: symptoms restrict deferral, not the drug: without a status the targeted drug
    # is listed, never with deferral (R2.3 deferral waits on symptoms.status)
    assert not r.by_id["osimertinib"].defers_local_therapy
    assert r.timing is not None and not r.timing.may_defer


def test_missing_ecog_never_derived_from_kps(run):
    r = run({"ecog": None})
    assert any(w.startswith("needs: ecog") and "KQ1.1" in w for w in r.warnings)
    assert "ASTRO22 KQ1.1" not in r.src("srs")


def test_missing_survival_for_memantine(run, mk_lesions):
    r = run({"brain_metastases": {"count": 12}}, replace_lesions=mk_lesions(*[12] * 12))
    assert any(w.startswith("needs: prognosis") and "R3.5" in w for w in r.warnings)
    assert "ha_wbrt" not in r.ids
    assert "ASCO22 R3.5" not in r.src("memantine")  # ASTRO KQ3.3 still lists it


def test_missing_seizure_history_and_icp(run):
    r = run({"symptoms": {"status": "symptomatic", "severe_icp": None,
                          "seizure_history": None}})
    assert any(w.startswith("needs: symptoms.seizure_history") for w in r.warnings)
    # decision 11: the dose follows the symptom level only, never both doses side by side
    dex = r.by_id["dexamethasone"]
    assert "4-8 mg/day" in dex.dose and "16" not in dex.dose
    assert any("symptoms.severe_icp" in n for n in dex.notes)


def test_missing_diameter_and_cavity_volume(run):
    r = run({"brain_metastases": {"count": 2}},
            replace_lesions=[{"hippocampus_distance_mm": 30, "mass_effect": False},
                             {"resected": True, "diameter_mm": 20}])
    assert "needs brain_metastases.lesions[0].diameter_mm" in r.by_id["srs"].dose
    assert "lesions[1].cavity_volume_ml" in r.by_id["cavity_srs"].dose


def test_three_resected_srs_dose_goes_to_cavities(run):
    les = [{"diameter_mm": 30, "resected": True, "cavity_volume_ml": v,
            "hippocampus_distance_mm": 30} for v in (3.0, 9.0, 25.0)]
    r = run({"brain_metastases": {"count": 3}}, replace_lesions=les)
    assert "cavity_srs" not in r.ids            # ASCO R3.3 covers 1-2 resected only
    dose = r.by_id["srs"].dose
    assert dose.startswith("to the surgical cavities")
    assert "20 Gy x 1" in dose and "17 Gy x 1" in dose and "14 Gy x 1" in dose
    assert {"wbrt", "srs_plus_wbrt"} <= set(r.ids)   # ASCO R3.4: > 2 resected
