"""Discordance reaches the treatment engine and the assessment warnings."""

from __future__ import annotations

from brainmets.assessment import assess


def _patient(bm_her2: str | None) -> dict:
    p = {"age": 55, "kps": 80,
         "primary": {"site": "breast", "her2": "negative", "er": "negative", "pr": "negative"},
         "extracranial_metastases": True,
         "brain_metastases": {"count": 2, "lesions": [
             {"diameter_mm": 12, "mass_effect": False, "resected": True},
             {"diameter_mm": 8, "mass_effect": False}]},
         "symptoms": {"status": "asymptomatic"},
         # a prior HER2-directed agent is what the tucatinib rules ask for
         "therapy": {"systemic_options_available": True, "prior_her2_therapies": ["trastuzumab"]}}
    if bm_her2:
        p["brain_metastasis_markers"] = {"source": "resection", "her2": bm_her2}
    return p


def test_her2_gain_in_brain_metastasis_changes_systemic_options() -> None:
    without = assess(_patient(None))
    assert "tucatinib_trastuzumab_capecitabine" not in [o.id for o in without.options]
    concordant = assess(_patient("negative"))
    assert "tucatinib_trastuzumab_capecitabine" not in [o.id for o in concordant.options]
    gained = assess(_patient("positive"))
    assert "tucatinib_trastuzumab_capecitabine" in [o.id for o in gained.options]
    why = [w for w in gained.warnings if "R-MOL-2" in w]
    assert why and "HER2" in why[0] and "brain-metastasis value is used" in why[0]
    assert "DX-KOTECHA2021" in why[0]


def test_reconfirm_reminder_reaches_warnings() -> None:
    p = _patient(None)
    p["primary"]["her2"] = "positive"
    a = assess(p)
    assert any("R-MOL-3" in w for w in a.warnings)
