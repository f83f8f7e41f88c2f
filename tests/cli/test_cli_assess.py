"""``brainmets assess``: JSON per CONTRACT §2, text rendering, and bad input (exit 2)."""

from __future__ import annotations

import json

from brainmets.examples import EXAMPLE_PATIENT

CONTRACT_KEYS = {"patient_id", "prognosis", "not_computed", "options", "not_recommended",
                 "disclaimer"}
ESTIMATE_KEYS = {"index", "score", "group", "median_survival_months", "iqr_months", "source",
                 "confidence", "warnings"}


def test_assess_json_single_patient(cli):
    res = cli("assess", EXAMPLE_PATIENT, "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert isinstance(out, dict) and CONTRACT_KEYS <= set(out)
    assert out["patient_id"] == "example-nsclc-001"
    est = {e["index"]: e for e in out["prognosis"]}
    assert {"rpa", "gpa_2008", "ds_gpa_2012", "lung_molgpa_2017", "bsbm", "labbm"} <= set(est)
    for e in out["prognosis"]:
        assert ESTIMATE_KEYS <= set(e)
    assert est["lung_molgpa_2017"]["score"] == 3.5
    nc = {n["index"]: n for n in out["not_computed"]}
    assert nc["lung_gpa_2022"]["reason"] == "not available: source table not verified"
    assert "sir" in nc and "eligibility_quotient" in nc


def test_assess_list_mirrors_input_order(cli, write_json):
    data = json.loads(EXAMPLE_PATIENT.read_text())
    second = {"id": "b", "age": 63, "kps": 60, "primary": {"site": "breast", "er": "negative",
              "pr": "negative", "her2": "negative"}, "extracranial_metastases": True,
              "brain_metastases": {"count": 4}}
    res = cli("assess", write_json([data, second]), "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [o["patient_id"] for o in out] == ["example-nsclc-001", "b"]
    b = {e["index"]: e for e in out[1]["prognosis"]}
    assert b["breast_gpa_2020"]["median_survival_months"] == 6.0


def test_assess_text_renders_prognosis_and_disclaimer(cli):
    res = cli("assess", EXAMPLE_PATIENT)
    assert res.exit_code == 0, res.output
    text = res.stdout
    assert "lung_molgpa_2017" in text and "46.8" in text
    assert "not available: source table not verified" in text
    assert "Disclaimer" in text


def test_render_assessment_options_grouped_with_sources_and_cards():
    from brainmets.model import Assessment, NotRecommended, Option, SourceRef
    from brainmets.report.text import render_assessment

    a = Assessment(
        patient_id="p1",
        options=[
            Option(id="osimertinib", kind="systemic", rationale="EGFR-mutant NSCLC", mdt=True,
                   sources=[SourceRef(id="ASCO22", rec="R2.3", grading="ASCO",
                                      strength="weak")],
                   card={"summary_lines": ["target: EGFR", "CNS ORR: see card"]}),
            Option(id="srs", kind="local", rationale="1-4 lesions", dose="20-24 Gy x 1",
                   notes=["check V12Gy"], sources=[SourceRef(id="ASTRO22", rec="KQ1")]),
            Option(id="dexamethasone", kind="supportive", rationale="oedema"),
        ],
        not_recommended=[NotRecommended(id="temozolomide", reason="no benefit shown")],
        warnings=["unknown field ignored: foo"],
    )
    text = render_assessment(a, width=300)
    assert text.index("Local options") < text.index("- srs") < text.index("Systemic options")
    assert text.index("Systemic options") < text.index("- osimertinib")
    assert text.index("- osimertinib") < text.index("Supportive care") < text.index("- dexa")
    assert "source: ASCO22 R2.3 ASCO/weak" in text
    assert "[MDT discussion]" in text
    assert "dose: 20-24 Gy x 1" in text and "note: check V12Gy" in text
    assert "| target: EGFR" in text and "| CNS ORR: see card" in text
    assert "- temozolomide: no benefit shown" in text
    assert "unknown field ignored: foo" in text
    assert "not a medical device" in text


def test_assess_missing_kps_with_ecog_says_never_converted(cli, write_json):
    res = cli("assess", write_json({"age": 60, "ecog": 1, "primary": {"site": "gi"}}),
              "--format", "json")
    assert res.exit_code == 0
    nc = {n["index"]: n for n in json.loads(res.stdout)["not_computed"]}
    assert "kps" in nc["gi_gpa_2019"]["missing"]
    assert "never converted" in nc["gi_gpa_2019"]["reason"]


def test_assess_bad_list_names_every_field_with_index(cli, write_json):
    bad = [{"age": 60}, {"kps": 85}, {"primary": {"her2": "pos"}}, "nope", {"age": "old"}]
    res = cli("assess", write_json(bad))
    assert res.exit_code == 2
    err = res.stderr
    assert "[1].kps:" in err and "steps of 10" in err
    assert "[2].primary.her2: expected positive|negative|unknown, got 'pos'" in err
    assert "[3]: expected a JSON object" in err
    assert "[4].age:" in err
    assert "Traceback" not in res.output


def test_assess_bad_single_and_bad_files(cli, write_json, tmp_path):
    res = cli("assess", write_json({"age": 15, "primary": {"site": "lung"}}))
    assert res.exit_code == 2
    assert "age:" in res.stderr and "primary.site:" in res.stderr
    res = cli("assess", tmp_path / "none.json")
    assert res.exit_code == 2 and "no such file" in res.stderr
    p = tmp_path / "broken.json"
    p.write_text("{", encoding="utf-8")
    res = cli("assess", p)
    assert res.exit_code == 2 and "invalid JSON" in res.stderr
    res = cli("assess", write_json(42))
    assert res.exit_code == 2 and "expected a patient object" in res.stderr
    res = cli("assess", write_json({"age": 60}), "--format", "xml")
    assert res.exit_code == 2 and "--format" in res.stderr
