"""With no brain metastasis recorded there is no local therapy to defer."""

from brainmets.model import parse_patient
from brainmets.treatment import recommend


def test_no_deferral_flag_when_count_is_zero():
    base = {"kps": 80, "primary": {"site": "nsclc", "egfr": "positive"},
            "symptoms": {"status": "asymptomatic", "seizure_history": False},
            "therapy": {"systemic_options_available": True}}
    with_bm = parse_patient({**base, "brain_metastases": {"count": 2}})
    without = parse_patient({**base, "brain_metastases": {"count": 0}})
    osi = {o.id: o for o in recommend(with_bm, [])[0]}["osimertinib"]
    assert osi.defers_local_therapy
    osi0 = {o.id: o for o in recommend(without, [])[0]}["osimertinib"]
    assert not osi0.defers_local_therapy
