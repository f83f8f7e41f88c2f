"""FHIR R4B: Bundle in (Patient/Condition/Observation, KPS LOINC 89243-0, ECOG 89247-1),
DiagnosticReport out, validated with fhir.resources R4B; mCODE-style constraints checked here
because fhir.resources validates structure, not profiles."""

from __future__ import annotations

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.diagnosticreport import DiagnosticReport

LOINC = "http://loinc.org"


@pytest.fixture
def api(sqlite_api):
    """SQLite only here: the store and API tests already run on PostgreSQL too."""
    return sqlite_api


def bundle(kps=70, ecog=1, gender="male", extra=()):
    entries = [
        {"resource": {"resourceType": "Patient", "id": "p1", "gender": gender,
                      "birthDate": "1960-05-20", "identifier": [{"value": "MRN-77"}],
                      "name": [{"family": "Roe", "given": ["Rick"]}]}},
        {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                      "code": {"text": "Non-small cell lung cancer, adenocarcinoma"}}},
        {"resource": {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
                      "code": {"coding": [{"system": "urn:brainmets:condition",
                                           "code": "brain-metastases"}],
                               "text": "Brain metastases"},
                      "onsetDateTime": "2026-01-15"}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "subject": {"reference": "Patient/p1"},
                      "code": {"coding": [{"system": LOINC, "code": "89243-0"}]},
                      "valueInteger": kps}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "subject": {"reference": "Patient/p1"},
                      "code": {"coding": [{"system": LOINC, "code": "89247-1"}]},
                      "valueInteger": ecog}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "urn:brainmets:field",
                                           "code": "primary.egfr"}]},
                      "valueCodeableConcept": {"coding": [{"code": "positive"}]}}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "code": {"coding": [{"system": "urn:brainmets:field",
                                           "code": "extracranial_metastases"}]},
                      "valueBoolean": False}},
        *extra,
    ]
    doc = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    Bundle.model_validate(doc)  # the test input itself is valid R4B
    return doc


def test_bundle_in_diagnostic_report_out_round_trip(api):
    r = api.post("/api/patients", json=bundle())
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    rec = api.get(f"/api/patients/{pid}").json()
    assert rec["display_name"] == "Rick Roe"
    record = rec["record"]
    assert record["id"] == "MRN-77" and record["sex"] == "male"
    assert record["age"] == 65  # 1960-05-20 -> 2026-01-15
    assert record["kps"] == 70 and record["ecog"] == 1  # ECOG kept, never converted
    assert record["primary"] == {"site": "nsclc", "histology": "adenocarcinoma",
                                 "egfr": "positive"}
    assert record["extracranial_metastases"] is False

    r = api.get(f"/api/patients/{pid}/fhir")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/fhir+json")
    report = DiagnosticReport.model_validate(r.json())  # R4B-valid
    assert report.status == "final" and report.subject.reference == "#patient"
    contained = {c.id: c for c in report.contained}
    kps = contained["kps"]
    # mCODE Karnofsky constraints: fixed LOINC code, valueInteger, category survey
    assert [(c.system, c.code) for c in kps.code.coding] == [(LOINC, "89243-0")]
    assert kps.valueInteger == 70
    assert kps.category[0].coding[0].code == "survey"
    ecog = contained["ecog"]
    assert [(c.system, c.code) for c in ecog.code.coding] == [(LOINC, "89247-1")]
    assert ecog.valueInteger == 1
    assert contained["patient"].identifier[0].value == "MRN-77"
    assert "not a medical device" in report.conclusion
    assert {ref.reference for ref in report.result} == {f"#{k}" for k in contained if
                                                        k != "patient"}
    # round trip: the report's KPS/ECOG observations, put back in a Bundle, give the same values
    back = {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": kps.model_dump(mode="json", exclude_none=True)},
                      {"resource": ecog.model_dump(mode="json", exclude_none=True)}]}
    r2 = api.post("/api/patients", json=back)
    rec2 = api.get(f"/api/patients/{r2.json()['id']}").json()["record"]
    assert (rec2["kps"], rec2["ecog"]) == (70, 1)


def test_researcher_fhir_is_deidentified(api):
    pid = api.post("/api/patients", json=bundle()).json()["id"]
    doc = api.get(f"/api/patients/{pid}/fhir", "r").json()
    DiagnosticReport.model_validate(doc)
    patient = doc["contained"][0]
    assert "identifier" not in patient and "name" not in patient
    assert "MRN-77" not in str(doc) and "Roe" not in str(doc)


@pytest.mark.parametrize("bad, field", [
    (bundle(kps=85), "kps"),
    (bundle(gender="femme"), "entry[0].resource.gender"),
    ({"resourceType": "Bundle", "type": "collection",
      "entry": [{"resource": {"resourceType": "Patient", "birthDate": "not-a-date"}}]},
     "entry[0].resource.birthDate"),
    ({"resourceType": "Bundle", "type": "collection",
      "entry": [{"resource": {"resourceType": "Observation", "status": "final"}}]},
     "entry[0].resource.code"),
    ({"resourceType": "Bundle", "type": "collection",
      "entry": [{"resource": {"resourceType": "NotAThing"}}]}, "entry"),
])
def test_bad_bundles_give_422_with_field_paths(api, bad, field):
    r = api.post("/api/patients", json=bad)
    assert r.status_code == 422, r.text
    assert any(e.startswith(field) for e in r.json()["errors"]), r.json()["errors"]
