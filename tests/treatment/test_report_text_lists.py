"""Text rendering (issue #15): primary survival first, then the four lists with one meaning each."""

from __future__ import annotations

from brainmets.assessment import assess
from brainmets.report.text import render_assessment

PATIENT = {"age": 55, "kps": 90, "ecog": 0, "extracranial_metastases": False,
           "primary": {"site": "nsclc", "histology": "adenocarcinoma", "egfr": "unknown",
                       "alk": "unknown", "pdl1_tps": 60, "controlled": True},
           "brain_metastases": {"count": 2, "lesions": [{"diameter_mm": 10}, {"diameter_mm": 15}]},
           "symptoms": {"status": "asymptomatic", "seizure_history": False},
           "therapy": {"immunotherapy_naive": True, "planned_pemetrexed_platinum": True,
                       "dexamethasone_mg_day": 4}}


def test_text_shows_primary_survival_first_and_the_lists():
    text = render_assessment(assess(PATIENT), width=200)
    assert text.index("Primary survival estimate: lung_molgpa_2017") < text.index(
        "Prognostic indices")
    assert "Awaiting" in text and "complete driver testing" in text
    assert "Not applicable (trigger unmet)" in text
    assert "Not recommended (a source advises against it)" in text
    assert "Input checks" in text and "symptoms.status" in text
    assert "Local therapy vs deferral" in text
    aw, nr = text.index("Awaiting"), text.index("Not recommended (a source")
    assert "pembrolizumab_pemetrexed_platinum: needs" in text[aw:nr]
