"""FHIR R4B in and out.

In: a Bundle of Patient, Condition and Observation resources becomes a CONTRACT §1 record.
  - Observation LOINC 89243-0 (Karnofsky Performance Status score) -> ``kps``
  - Observation LOINC 89247-1 (ECOG Performance Status score) -> ``ecog`` (never converted to KPS)
  - Observation with code system ``urn:brainmets:field`` and code = a CONTRACT §1 field path
    (e.g. ``primary.egfr``) -> that field (valueBoolean/Integer/String/Quantity/CodeableConcept)
  - Condition: a brain-metastasis condition (code system ``urn:brainmets:condition`` code
    ``brain-metastases``, or text mentioning brain metastases) gives the diagnosis date (age =
    whole years from Patient.birthDate to its onsetDateTime); any other Condition names the
    primary (code system ``urn:brainmets:primary-site`` with a CONTRACT site code, or its text)
  - Patient.gender -> ``sex``; Patient.identifier[0].value -> ``id``; Patient.name -> display name
Out: a DiagnosticReport (R4B) with contained Patient and Observations, validated with
fhir.resources before it is returned.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from brainmets.model import InputError, _loc_to_path

LOINC = "http://loinc.org"
KPS_LOINC = "89243-0"
ECOG_LOINC = "89247-1"
FIELD_SYSTEM = "urn:brainmets:field"
SITE_SYSTEM = "urn:brainmets:primary-site"
CONDITION_SYSTEM = "urn:brainmets:condition"
INDEX_SYSTEM = "urn:brainmets:prognostic-index"
OPTION_SYSTEM = "urn:brainmets:option"
UCUM = "http://unitsofmeasure.org"

SITES = ("nsclc", "sclc", "breast", "melanoma", "renal", "gi", "other", "unknown")
# text fallbacks for the primary site (most specific first)
_SITE_WORDS = [
    ("nsclc", r"non[- ]small[- ]cell|\bnsclc\b|lung adeno|lung squamous"),
    ("sclc", r"(?<!non-)(?<!non )\bsmall[- ]cell lung|\bsclc\b"),
    ("breast", r"breast"),
    ("melanoma", r"melanoma"),
    ("renal", r"renal|kidney"),
    ("gi", r"gastro|colorectal|colon|rectal|oesophag|esophag|gastric|stomach|pancrea|\bgi\b"),
]
_BRAIN_METS = re.compile(r"brain metast|cerebral metast|metasta\w* (to|in|of) (the )?brain",
                         re.I)


def is_bundle(data: Any) -> bool:
    return isinstance(data, dict) and data.get("resourceType") == "Bundle"


def _codes(cc: Any) -> list[tuple[str | None, str | None]]:
    if cc is None:
        return []
    return [(c.system, c.code) for c in (cc.coding or [])]


def _text(cc: Any) -> str:
    if cc is None:
        return ""
    parts = [cc.text or ""] + [c.display or "" for c in (cc.coding or [])]
    return " ".join(p for p in parts if p)


def _obs_value(obs: Any) -> Any:
    if obs.valueBoolean is not None:
        return obs.valueBoolean
    if obs.valueInteger is not None:
        return obs.valueInteger
    if obs.valueQuantity is not None and obs.valueQuantity.value is not None:
        v = float(obs.valueQuantity.value)
        return int(v) if v.is_integer() else v
    if obs.valueString is not None:
        return obs.valueString
    if obs.valueCodeableConcept is not None:
        codes = [c for _, c in _codes(obs.valueCodeableConcept) if c]
        return codes[0] if codes else obs.valueCodeableConcept.text
    return None


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    cur = record
    for k in keys[:-1]:
        nxt = cur.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise InputError([f"{path}: cannot set a field below a non-object value"])
        cur = nxt
    cur[keys[-1]] = value


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def bundle_to_record(data: dict[str, Any]) -> tuple[dict[str, Any], str | None, list[str]]:
    """CONTRACT §1 record, display name and notes from a FHIR R4B Bundle (InputError if bad)."""
    import pydantic
    from fhir.resources.R4B.bundle import Bundle

    try:
        bundle = Bundle.model_validate(data)
    except pydantic.ValidationError as exc:
        raise InputError(
            [f"{_loc_to_path(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        ) from None
    except Exception as exc:  # e.g. an unknown resourceType
        raise InputError([f"entry: not a valid FHIR R4B resource ({exc})"]) from None

    record: dict[str, Any] = {}
    notes: list[str] = []
    name: str | None = None
    birth: dt.date | None = None
    bm_date: dt.date | None = None
    errors: list[str] = []
    for i, entry in enumerate(bundle.entry or []):
        res: Any = entry.resource  # a concrete resource class, chosen by resourceType
        if res is None:
            continue
        where = f"entry[{i}].resource"
        kind = res.get_resource_type()
        if kind == "Patient":
            gender = res.gender
            if gender in ("female", "male", "other"):
                record["sex"] = gender
            elif gender not in (None, "unknown"):
                errors.append(f"{where}.gender: expected male|female|other|unknown, got {gender!r}")
            if res.identifier and res.identifier[0].value:
                record["id"] = res.identifier[0].value
            if res.name:
                n = res.name[0]
                name = n.text or " ".join([*(n.given or []), n.family or ""]).strip() or None
            birth = _date(res.birthDate)
        elif kind == "Condition":
            codes = _codes(res.code)
            text = _text(res.code)
            if (CONDITION_SYSTEM, "brain-metastases") in codes or _BRAIN_METS.search(text):
                bm_date = _date(res.onsetDateTime) or _date(res.recordedDate)
                continue
            site = next((c for s, c in codes if s == SITE_SYSTEM), None)
            if site is not None and site not in SITES:
                errors.append(
                    f"{where}.code: primary site expected {'|'.join(SITES)}, got {site!r}"
                )
                continue
            if site is None:
                site = next((s for s, rx in _SITE_WORDS if re.search(rx, text, re.I)), None)
            if site is None:
                notes.append(f"{where}: condition not recognised as a primary site; ignored")
                continue
            record.setdefault("primary", {})["site"] = site
            if site == "nsclc":
                if re.search(r"adenocarcinoma", text, re.I):
                    record["primary"]["histology"] = "adenocarcinoma"
                elif re.search(r"squamous", text, re.I):
                    record["primary"]["histology"] = "squamous"
        elif kind == "Observation":
            codes = _codes(res.code)
            value = _obs_value(res)
            if (LOINC, KPS_LOINC) in codes:
                record["kps"] = value
            elif (LOINC, ECOG_LOINC) in codes:
                record["ecog"] = value
            else:
                path = next((c for s, c in codes if s == FIELD_SYSTEM and c), None)
                if path is None:
                    notes.append(f"{where}: observation code not used; ignored")
                    continue
                if not re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)*", path):
                    errors.append(f"{where}.code: not a field path: {path!r}")
                    continue
                try:
                    set_path(record, path, value)
                except InputError as exc:
                    errors.extend(exc.messages)
        else:
            notes.append(f"{where}: resource type {kind} not used; ignored")
    if errors:
        raise InputError(errors)
    if "age" not in record and birth is not None:
        if bm_date is None:
            notes.append("age: not derived (no brain-metastasis Condition with an onset date)")
        else:
            years = bm_date.year - birth.year - ((bm_date.month, bm_date.day) < (birth.month,
                                                                                   birth.day))
            record["age"] = years
    return record, name, notes


# ---------------------------------------------------------------------------- out


def case_lesions(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The lesions a case used, in the observation shape (``diameter_mm`` is the RANO-BM
    longest axial diameter; ids carry the review status)."""
    out = []
    for x in case.get("lesions", []):
        status = x.get("status") or x.get("source")
        out.append({**x, "longest_axial_diameter_mm": x.get("diameter_mm"),
                    "id": f"{x['id']}-{status}" if status else x["id"]})
    return out


def _obs(oid: str, code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final", "code": code,
            "subject": {"reference": "#patient"}, **value}


def diagnostic_report(
    registry_id: str,
    record: dict[str, Any],
    assessment: Any,
    lesions: list[dict[str, Any]] | None = None,
    deidentified: bool = False,
    display_name: str | None = None,
    issued: dt.datetime | None = None,
) -> dict[str, Any]:
    """A validated FHIR R4B DiagnosticReport for this patient's case (:class:`brainmets.case.Case`
    or its JSON): its indices, options and the lesions it used (``lesions`` defaults to the
    case's; rejected lesions never appear)."""
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport

    if hasattr(assessment, "model_dump"):
        assessment = assessment.model_dump(mode="json")
    if lesions is None:
        lesions = case_lesions(assessment)

    patient: dict[str, Any] = {"resourceType": "Patient", "id": "patient"}
    if record.get("sex"):
        patient["gender"] = record["sex"]
    if not deidentified:
        if record.get("id"):
            patient["identifier"] = [{"value": str(record["id"])}]
        if display_name:
            patient["name"] = [{"text": display_name}]
    contained: list[dict[str, Any]] = [patient]
    survey = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                           "code": "survey"}]}]
    if record.get("kps") is not None:
        kps_code = {"coding": [{"system": LOINC, "code": KPS_LOINC,
                                "display": "Karnofsky Performance Status score"}]}
        contained.append(_obs("kps", kps_code, category=survey,
                              valueInteger=int(record["kps"])))
    if record.get("ecog") is not None:
        contained.append(_obs("ecog", {"coding": [{"system": LOINC, "code": ECOG_LOINC,
                                                   "display": "ECOG Performance Status score"}]},
                              category=survey, valueInteger=int(record["ecog"])))
    for k, est in enumerate(assessment.get("prognosis", [])):
        comps: list[dict[str, Any]] = []
        if est.get("median_survival_months") is not None:
            comps.append({"code": {"text": "median overall survival (population, cited study)"},
                          "valueQuantity": {"value": est["median_survival_months"], "unit": "mo",
                                            "system": UCUM, "code": "mo"}})
        comps.append({"code": {"text": "group"}, "valueString": str(est.get("group"))})
        obs = _obs(f"index-{k}", {"coding": [{"system": INDEX_SYSTEM, "code": est["index"]}],
                                  "text": f"{est['index']} ({est.get('source', '')})"},
                   component=comps, note=[{"text": w} for w in est.get("warnings", [])] or None)
        if est.get("score") is not None:
            obs["valueQuantity"] = {"value": est["score"]}
        else:
            obs["valueString"] = str(est.get("group"))
        contained.append({k2: v for k2, v in obs.items() if v is not None})
    for les in lesions:
        comps = []
        for key, unit, label in (("volume_ml", "mL", "lesion volume"),
                                 ("max_diameter_mm", "mm", "maximum diameter"),
                                 ("longest_axial_diameter_mm", "mm", "longest axial diameter"),
                                 ("perpendicular_diameter_mm", "mm", "perpendicular diameter")):
            if les.get(key) is not None:
                comps.append({"code": {"text": label}, "valueQuantity": {
                    "value": float(les[key]), "unit": unit, "system": UCUM, "code": unit}})
        obs = _obs(f"lesion-{les.get('id')}", {"text": f"brain metastasis lesion {les.get('id')}"},
                   component=comps)
        if les.get("location"):
            obs["bodySite"] = {"text": str(les["location"])}
        contained.append(obs)
    options = assessment.get("options", [])
    lines = [f"{o['id']} ({o['kind']}{', MDT' if o.get('mdt') else ''}): {o['rationale']}"
             for o in options]
    conclusion = ("Options to discuss: " + " | ".join(lines) if lines
                  else "No guideline option was listed.")
    conclusion += " -- " + assessment.get("disclaimer", "")
    doc = {
        "resourceType": "DiagnosticReport",
        "id": registry_id,
        "status": "final",
        "code": {"coding": [{"system": "urn:brainmets", "code": "brain-metastases-assessment",
                             "display": "Brain metastases decision-support assessment"}],
                 "text": "Brain metastases decision-support assessment (not a medical device)"},
        "subject": {"reference": "#patient"},
        "issued": (issued or dt.datetime.now(dt.UTC)).isoformat(),
        "contained": contained,
        "result": [{"reference": f"#{c['id']}"} for c in contained[1:]],
        "conclusion": conclusion,
        "conclusionCode": [{"coding": [{"system": OPTION_SYSTEM, "code": o["id"]}]}
                           for o in options] or None,
        "presentedForm": [{"contentType": "application/pdf", "title": "Tumour-board report",
                           "url": f"/api/patients/{registry_id}/report.pdf"}],
    }
    doc = {k: v for k, v in doc.items() if v is not None}
    DiagnosticReport.model_validate(doc)  # raises if we ever build an invalid resource
    return doc
