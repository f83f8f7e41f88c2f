"""Patient model validation: field paths and allowed values in every message."""

import pytest

from brainmets.model import InputError, parse_patient


def _errors(record):
    with pytest.raises(InputError) as info:
        parse_patient(record)
    return info.value.messages


def test_contract_example_is_valid():
    p = parse_patient(
        {
            "id": "x", "age": 62, "sex": "female", "kps": 80, "ecog": 1,
            "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                        "egfr": "positive", "alk": "negative", "ros1": "unknown", "pdl1_tps": 60},
            "extracranial_metastases": False,
            "brain_metastases": {"count": 3, "leptomeningeal": False, "lesions": [
                {"diameter_mm": 12.0, "volume_ml": 0.9, "location": "supratentorial",
                 "eloquent": False, "mass_effect": False, "hippocampus_distance_mm": 25.0,
                 "resected": False, "cavity_volume_ml": None}]},
            "symptoms": {"status": "asymptomatic", "severe_icp": False, "seizure_history": False},
            "therapy": {"systemic_options_available": True, "prior_her2_therapies": ["t-dm1"],
                        "dexamethasone_mg_day": 0},
            "labs": {"hemoglobin_g_dl": 12.0},
        }
    )
    assert p.kps == 80 and p.brain_metastases.effective_count == 3
    assert p.unknown_fields() == []


def test_unknown_enum_names_path_and_allowed_values():
    (msg,) = _errors({"primary": {"her2": "pos"}})
    assert msg == "primary.her2: expected positive|negative|unknown, got 'pos'"


@pytest.mark.parametrize("kps", [75, 5, 95])
def test_kps_must_be_step_of_ten(kps):
    (msg,) = _errors({"kps": kps})
    assert msg.startswith("kps:") and "steps of 10" in msg


@pytest.mark.parametrize("field,value", [("age", 17), ("age", 121), ("kps", 110), ("kps", -10),
                                         ("ecog", 5)])
def test_out_of_range(field, value):
    (msg,) = _errors({field: value})
    assert msg.startswith(f"{field}:") and str(value) in msg


def test_wrong_type_and_list_path():
    msgs = _errors({"age": "old", "brain_metastases": {"lesions": [{}, {"diameter_mm": -1}]}})
    assert any(m.startswith("age:") for m in msgs)
    assert any(m.startswith("brain_metastases.lesions[1].diameter_mm:") for m in msgs)


def test_fractional_age_rejected_not_truncated():
    (msg,) = _errors({"age": 61.5})
    assert msg.startswith("age:")


def test_count_falls_back_to_lesion_list():
    p = parse_patient({"brain_metastases": {"lesions": [{"diameter_mm": 5}, {"diameter_mm": 7}]}})
    assert p.brain_metastases.effective_count == 2


def test_unknown_fields_are_reported():
    p = parse_patient({"kps_score": 80, "primary": {"sitee": "nsclc"}})
    assert sorted(p.unknown_fields()) == ["kps_score", "primary.sitee"]


def test_not_an_object():
    assert _errors([1, 2]) == ["(record): expected a JSON object, got list"]
