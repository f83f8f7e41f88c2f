"""Invariants over random patients: no crash, no contradictions, deferral only where allowed."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainmets.model import PrognosticEstimate, parse_patient
from brainmets.treatment import recommend

TRI = st.sampled_from(["positive", "negative", "unknown", None])
lesion = st.fixed_dictionaries({
    "diameter_mm": st.one_of(st.none(), st.floats(1, 70)),
    "volume_ml": st.one_of(st.none(), st.floats(0.01, 40)),
    "location": st.sampled_from(["supratentorial", "cerebellum", "brainstem", None]),
    "eloquent": st.sampled_from([True, False, None]),
    "mass_effect": st.sampled_from([True, False, None]),
    "hippocampus_distance_mm": st.one_of(st.none(), st.floats(0, 80)),
    "resected": st.sampled_from([True, False, None]),
    "cavity_volume_ml": st.one_of(st.none(), st.floats(0.5, 60)),
    "enlarging_after_srs": st.sampled_from([True, False, None]),
})
patient = st.fixed_dictionaries({
    "kps": st.one_of(st.none(), st.sampled_from(list(range(10, 101, 10)))),
    "ecog": st.one_of(st.none(), st.integers(0, 4)),
    "primary": st.fixed_dictionaries({
        "site": st.sampled_from(["nsclc", "sclc", "breast", "melanoma", "renal", "unknown", None]),
        "egfr": TRI, "alk": TRI, "ros1": TRI, "braf": TRI, "her2": TRI,
        "pdl1_tps": st.one_of(st.none(), st.floats(0, 100)),
    }),
    "brain_metastases": st.fixed_dictionaries({
        "count": st.one_of(st.none(), st.integers(0, 30)),
        "leptomeningeal": st.sampled_from([True, False, None]),
        "lesions": st.lists(lesion, max_size=5),
    }),
    "symptoms": st.fixed_dictionaries({
        "status": st.sampled_from(["asymptomatic", "mild_controlled", "symptomatic", None]),
        "severe_icp": st.sampled_from([True, False, None]),
        "seizure_history": st.sampled_from([True, False, None]),
    }),
    "therapy": st.fixed_dictionaries({
        "systemic_options_available": st.sampled_from([True, False, None]),
        "immunotherapy_naive": st.sampled_from([True, False, None]),
        "planned_pemetrexed_platinum": st.sampled_from([True, False, None]),
        "prior_her2_therapies": st.lists(st.sampled_from(["trastuzumab", "lapatinib", "t-dm1"]),
                                         max_size=2),
        "dexamethasone_mg_day": st.one_of(st.none(), st.floats(0, 24)),
    }),
})
months = st.one_of(st.none(), st.floats(0.5, 40))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patient, months)
def test_invariants(data, surv):
    p = parse_patient(data)
    est = [] if surv is None else [PrognosticEstimate(
        index="ds_gpa_2012", score=2.0, group="x", median_survival_months=surv, source="s",
        confidence="confirmed")]
    options, not_rec, warnings = recommend(p, est)
    ids = [o.id for o in options]
    assert len(ids) == len(set(ids))
    assert not set(ids) & {n.id for n in not_rec}
    assert "temozolomide" not in ids and "radiosensitizer" not in ids
    for o in options:
        assert o.sources and o.rationale
        if o.defers_local_therapy:
            assert o.kind == "systemic" and o.mdt
            assert p.symptoms.status in ("asymptomatic", "mild_controlled")
            assert o.id != "pembrolizumab_pemetrexed_platinum"
        if o.id != "driver_targeted_therapy":  # decision 2: no agent named, so no card
            assert (o.card is not None) == (o.kind == "systemic" or o.id == "bevacizumab")
    if any(o.defers_local_therapy for o in options) and "radiation_therapy" not in warnings:
        # deferral is never shown alone: local therapy or an RT veto / needs note accompanies it
        assert any(o.kind == "local" for o in options) or any(
            n.id in ("srs", "wbrt") for n in not_rec) or any(w.startswith("needs") for w in
                                                              warnings)
    for w in warnings:
        assert isinstance(w, str) and w
