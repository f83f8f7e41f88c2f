"""The patient-record fields in clinical words: form layout (web), labels of missing inputs
(web and PDF), plain-language names of the prognostic indices. No clinical numbers here."""

from __future__ import annotations

from typing import Any

STATUS = ["positive", "negative", "unknown"]
BOOL = "bool"
LESIONS_EXAMPLE = ('[{"diameter_mm": 12, "volume_ml": 0.9, "location": "supratentorial", '
                   '"eloquent": false, "mass_effect": false, "hippocampus_distance_mm": 25}]')
RADIATION_EXAMPLE = ('[{"date": "2026-01-20", "modality": "srs", "lesion_ids": ["L1"], '
                     '"dose_gy": 20, "fractions": 1}]')
# (group, [(field path, label in clinical words, kind, choices)]); every field of CONTRACT §1
# the clinician enters; anything else in the record travels untouched in a hidden field.
FIELD_GROUPS: list[tuple[str, list[tuple[str, str, str, list[Any] | None]]]] = [
    ("Patient", [
        ("age", "Age at brain-metastasis diagnosis (years)", "int", None),
        ("sex", "Sex", "choice", ["female", "male", "other"]),
        ("kps", "Karnofsky performance status (KPS)", "choice", list(range(100, -1, -10))),
        ("ecog", "ECOG performance status (not converted to KPS)", "choice", [0, 1, 2, 3, 4]),
        ("extracranial_metastases", "Extracranial metastases", BOOL, None),
    ]),
    ("Primary tumour", [
        ("primary.site", "Primary site", "choice",
         ["nsclc", "sclc", "breast", "melanoma", "renal", "gi", "other", "unknown"]),
        ("primary.histology", "NSCLC histology", "choice", ["adenocarcinoma", "squamous", "other"]),
        ("primary.controlled", "Primary tumour controlled", BOOL, None),
    ]),
    ("Driver markers and receptors", [
        ("primary.egfr", "EGFR mutation", "choice", STATUS),
        ("primary.egfr_variant", "EGFR variant", "choice",
         ["common", "exon20_insertion", "other", "unknown"]),
        ("primary.alk", "ALK rearrangement", "choice", STATUS),
        ("primary.ros1", "ROS1 rearrangement", "choice", STATUS),
        ("primary.ret", "RET fusion", "choice", STATUS),
        ("primary.met_ex14", "MET exon 14 skipping", "choice", STATUS),
        ("primary.ntrk", "NTRK fusion", "choice", STATUS),
        ("primary.kras_g12c", "KRAS G12C", "choice", STATUS),
        ("primary.braf", "BRAF V600 mutation", "choice", STATUS),
        ("primary.er", "Oestrogen receptor (ER)", "choice", STATUS),
        ("primary.pr", "Progesterone receptor (PR)", "choice", STATUS),
        ("primary.her2", "HER2", "choice", STATUS),
        ("primary.pdl1_tps", "PD-L1 tumour proportion score (%)", "float", None),
    ]),
    ("Brain metastases", [
        ("brain_metastases.count", "Number of brain metastases at diagnosis", "int", None),
        ("brain_metastases.leptomeningeal", "Leptomeningeal disease", BOOL, None),
        ("brain_metastases.lesions", "Lesions entered by hand (diameter = longest axial, mm; "
         "mass effect, hippocampal distance)", "json", [LESIONS_EXAMPLE]),
        ("radiation_history", "Brain-directed treatment already given", "json",
         [RADIATION_EXAMPLE]),
    ]),
    ("Symptoms and steroids", [
        ("symptoms.status", "Neurological symptoms", "choice",
         ["asymptomatic", "mild_controlled", "symptomatic"]),
        ("symptoms.severe_icp", "Severe raised intracranial pressure", BOOL, None),
        ("symptoms.seizure_history", "Seizure history", BOOL, None),
        ("therapy.dexamethasone_mg_day", "Dexamethasone dose (mg/day)", "float", None),
    ]),
    ("Therapy", [
        ("therapy.systemic_options_available", "Systemic options available", BOOL, None),
        ("therapy.immunotherapy_naive", "Immunotherapy naive", BOOL, None),
        ("therapy.on_immunotherapy", "On immunotherapy", BOOL, None),
        ("therapy.planned_pemetrexed_platinum", "Pemetrexed-platinum chemotherapy planned",
         BOOL, None),
    ]),
    ("Laboratory values at diagnosis", [
        ("labs.hemoglobin_g_dl", "Haemoglobin (g/dL)", "float", None),
        ("labs.hemoglobin_lln_g_dl", "Haemoglobin lower limit of normal (g/dL)", "float", None),
        ("labs.crp_mg_l", "C-reactive protein (mg/L)", "float", None),
        ("labs.crp_uln_mg_l", "CRP upper limit of normal (mg/L)", "float", None),
        ("labs.ldh_u_l", "Lactate dehydrogenase (U/L)", "float", None),
        ("labs.ldh_uln_u_l", "LDH upper limit of normal (U/L)", "float", None),
        ("labs.platelets_10e9_l", "Platelets (10^9/L)", "float", None),
        ("labs.platelets_lln_10e9_l", "Platelets lower limit of normal (10^9/L)", "float", None),
        ("labs.albumin_g_l", "Albumin (g/L)", "float", None),
        ("labs.albumin_lln_g_l", "Albumin lower limit of normal (g/L)", "float", None),
    ]),
]
FIELDS: list[tuple[str, str, str, list[Any] | None]] = [f for _g, rows in FIELD_GROUPS
                                                         for f in rows]


def _labels() -> dict[str, str]:
    out = {path: label for path, label, _k, _c in FIELDS}
    out.update({"id": "Hospital id", "display_name": "Name", "_record": "Record",
                "primary": "Primary tumour", "brain_metastases": "Brain metastases",
                "labs": "Laboratory values", "therapy": "Therapy", "symptoms": "Symptoms"})
    return out


FIELD_LABELS = _labels()

INDEX_NAMES = {
    "rpa": "RTOG recursive partitioning analysis (RPA)",
    "gpa_2008": "Graded Prognostic Assessment (GPA, 2008)",
    "ds_gpa_2012": "Diagnosis-specific Graded Prognostic Assessment (DS-GPA, 2012)",
    "lung_molgpa_2017": "Lung cancer molecular GPA (Lung-molGPA, 2017)",
    "melanoma_molgpa_2017": "Melanoma molecular GPA (Melanoma-molGPA, 2017)",
    "breast_gpa_2020": "Breast cancer GPA (2020 update)",
    "gi_gpa_2019": "Gastrointestinal cancer GPA (GI-GPA, 2019)",
    "renal_gpa_2018": "Renal cell carcinoma GPA (2018 update)",
    "bsbm": "Basic Score for Brain Metastases (BSBM)",
    "labbm": "Laboratory-based score (LabBM)",
}


def field_label(path: Any) -> str:
    """A record field path in clinical words (``primary.egfr`` -> ``EGFR mutation``); list
    items name their list (``brain_metastases.lesions[0].volume_ml`` -> the lesions field)."""
    p = str(path)
    if p in FIELD_LABELS:
        return FIELD_LABELS[p]
    probe = p.split("[")[0]
    while probe and probe not in FIELD_LABELS:
        probe = probe.rpartition(".")[0]
    if probe:
        rest = p[len(probe):].replace("[]", "").lstrip(".").split("[")[0]
        rest = rest.removesuffix("_mm").replace("_", " ").replace(".", " ")
        return FIELD_LABELS[probe] + (f": {rest}" if rest else "")
    return p.replace("_", " ").replace(".", ": ")


def field_id(path: Any) -> str:
    """The HTML id of a form field (``primary.egfr`` -> ``f-primary-egfr``)."""
    p = str(path).split("[")[0]
    probe = p
    while probe and probe not in FIELD_LABELS:
        probe = probe.rpartition(".")[0]
    return "f-" + (probe or p).replace(".", "-")


def index_name(index: Any) -> str:
    """A prognostic index id in plain language (``gpa_2008`` -> ``Graded Prognostic ...``)."""
    return INDEX_NAMES.get(str(index), str(index).replace("_", " "))


def install(env: Any) -> None:
    env.filters["field_label"] = field_label
    env.filters["field_id"] = field_id
    env.filters["index_name"] = index_name
