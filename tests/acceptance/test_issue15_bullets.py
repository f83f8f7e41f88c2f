"""One test per bullet at the top of issue #15, through the public API only.

Each test is the issue's own case, with the expected outcome from the binding decisions in
../shared/reference/treatment.md (numbers cited) and CONTRACT §1-§2. They use only
``brainmets.assess``, ``brainmets.response.evaluate`` and the CLI, so the same file runs against
an older checkout (issue #15 "Done when": each fails on the main of the issue and passes after).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import brainmets
from brainmets.response import evaluate

BASE = json.loads((Path(__file__).parent / "base_patient.json").read_text())
CLI = str(Path(sys.executable).parent / "brainmets")


def _run(**over: Any) -> dict[str, Any]:
    rec = copy.deepcopy(BASE)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(rec.get(k), dict):
            rec[k].update(v)
        else:
            rec[k] = v
    return json.loads(brainmets.assess(rec).model_dump_json())


def _ids(out: dict[str, Any], key: str = "options") -> list[str]:
    return [o["id"] for o in out.get(key) or []]


def _opt(out: dict[str, Any], oid: str) -> dict[str, Any]:
    return {o["id"]: o for o in out["options"]}[oid]


def test_b1_unknown_egfr_alk_gets_no_immunotherapy_but_awaits_driver_testing() -> None:
    # decision 1: unknown is not negative for treatment
    out = _run(primary={"egfr": "unknown", "alk": "unknown", "pdl1_tps": 60})
    assert not {"pembrolizumab_pemetrexed_platinum", "immune_checkpoint_inhibitor"} & set(
        _ids(out))
    aw = {a["id"]: a for a in out.get("awaiting") or []}
    assert "complete driver testing" in aw["pembrolizumab_pemetrexed_platinum"]["reason"]


def test_b2_ros1_gets_no_chemo_immunotherapy() -> None:
    # decision 2: an actionable driver other than EGFR/ALK -> no chemo-immunotherapy option
    out = _run(primary={"ros1": "positive", "pdl1_tps": 60})
    assert "pembrolizumab_pemetrexed_platinum" not in _ids(out)
    assert "driver_targeted_therapy" in _ids(out)


def test_b3_symptomatic_egfr_keeps_the_drug_never_not_recommended() -> None:
    # decision 4: symptoms restrict deferral, not the drug
    out = _run(primary={"egfr": "positive"}, symptoms={"status": "symptomatic"},
               therapy={"dexamethasone_mg_day": 8})
    for drug in ("osimertinib", "icotinib"):
        assert drug in _ids(out) and drug not in _ids(out, "not_recommended")
        assert _opt(out, drug)["defers_local_therapy"] is False


def test_b4_melanoma_on_immunotherapy_gets_no_ipi_nivo_deferral() -> None:
    # decision 5: R2.6 deferral is for immunotherapy-naive melanoma
    out = _run(primary={"site": "melanoma", "histology": None, "braf": "negative",
                        "egfr": None, "alk": None},
               therapy={"on_immunotherapy": True, "immunotherapy_naive": False})
    assert not [o["id"] for o in out["options"] if o["defers_local_therapy"]]


def test_b5_egfr_exon20_insertion_is_recorded_and_gets_no_osimertinib_deferral() -> None:
    # decision 3; CONTRACT §1 primary.egfr_variant
    out = _run(primary={"egfr": "positive", "egfr_variant": "exon20_insertion"})
    assert not any(w.startswith("unknown field ignored") for w in out["warnings"])
    assert "osimertinib" not in _ids(out)
    assert not [o["id"] for o in out["options"] if o["defers_local_therapy"]]


def test_b6a_r22_grade_is_not_copied_onto_local_options() -> None:
    # decision 7: each option shows the grade of the rule that produced it
    out = _run(brain_metastases={"count": 6, "lesions": []}, kps=80)
    for oid in ("srs", "wbrt", "srs_plus_wbrt"):
        recs = {f"{s['id']} {s['rec']}" for s in _opt(out, oid)["sources"]}
        assert "ASCO22 R3.4" in recs and not {"ASCO22 R2.1", "ASCO22 R2.2"} & recs, (oid, recs)


def test_b6b_breast_has_one_primary_survival_the_2020_breast_gpa() -> None:
    # decision 9: most specific applicable index, named with the reason
    out = _run(primary={"site": "breast", "histology": None, "egfr": None, "alk": None,
                        "er": "positive", "pr": "negative", "her2": "positive"})
    ps = out.get("primary_survival") or {}
    assert ps.get("index") == "breast_gpa_2020" and ps.get("reason")


def test_b7a_leptomeningeal_every_option_carries_the_out_of_scope_caveat() -> None:
    # decision 8
    out = _run(brain_metastases={"count": 2, "leptomeningeal": True,
                                 "lesions": BASE["brain_metastases"]["lesions"]})
    assert out["options"]
    for o in out["options"]:
        assert any("eptomeningeal" in n for n in o["notes"]), o["id"]
        assert o["defers_local_therapy"] is False


def test_b7b_unknown_primary_lists_tissue_diagnosis_before_radiosurgery() -> None:
    # decision 10
    out = _run(primary={"site": "unknown", "histology": None, "egfr": None, "alk": None,
                        "ros1": None, "pdl1_tps": None})
    ids = _ids(out)
    assert "surgery" in ids and ids.index("surgery") < ids.index("srs")
    assert any("tissue diagnosis" in w for w in out["warnings"])


def test_b8_contradictions_are_reported_with_their_fields(tmp_path: Path) -> None:
    # decision 12: each contradiction named with its fields; CLI exit 2 only for count < listed
    les = copy.deepcopy(BASE["brain_metastases"]["lesions"])
    les[0]["diameter_mm"], les[0]["volume_ml"] = 1.2, 900.0
    out = _run(kps=90, ecog=4, therapy={"dexamethasone_mg_day": 16},
               brain_metastases={"count": 2, "lesions": les})
    fields = [set(c["fields"]) for c in out.get("input_checks") or []]
    assert {"kps", "ecog"} in fields
    assert {"symptoms.status", "therapy.dexamethasone_mg_day"} in fields
    assert any("brain_metastases.lesions[0].volume_ml" in f for f in fields)
    rec = copy.deepcopy(BASE)
    rec["brain_metastases"]["count"] = 0
    f = tmp_path / "p.json"
    f.write_text(json.dumps(rec))
    res = subprocess.run([CLI, "assess", str(f), "--format", "json"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "brain_metastases.count" in res.stderr


def test_b9_not_recommended_holds_only_what_a_source_advises_against() -> None:
    # decision 6: unmet triggers are not_applicable, never not_recommended
    out = _run()
    nr = _ids(out, "not_recommended")
    assert "litt" not in nr and "surgery" not in nr
    assert {"litt", "surgery"} <= set(_ids(out, "not_applicable"))
    assert {"radiosensitizer", "temozolomide"} <= set(nr)


def test_b10_pd_in_an_irradiated_lesion_carries_the_radiation_caveat() -> None:
    # issue #15 item 5; treatment.md §6.3 treatment effect (RANO-BM)
    tps = [("2025-11-01", 20.0, 15.0), ("2026-01-10", 30.0, 14.0)]  # +25.7 %, L1 +10 mm: PD
    rec = {"on_immunotherapy": False,
           "radiation_history": [{"date": "2025-10-01", "modality": "srs",
                                  "lesion_ids": ["L1"], "dose_gy": 20, "fractions": 1}],
           "timepoints": [{"date": d, "steroid_mg_day": 0, "clinical_status": "stable",
                           "lesions": [{"id": "L1", "longest_diameter_mm": a,
                                        "perpendicular_mm": a - 4, "new": False},
                                       {"id": "L2", "longest_diameter_mm": b,
                                        "perpendicular_mm": b - 4, "new": False}]}
                          for d, a, b in tps]}
    out = json.loads(evaluate(rec).model_dump_json())
    assert out["category"] == "PD"
    cav = out.get("caveats") or []
    assert cav and cav[0]["lesion_ids"] == ["L1"] and "radiation necrosis" in cav[0]["text"]
