"""Numbers added for issue #15, pinned to the spec (never read back from the data under test)."""

from __future__ import annotations

from brainmets.checks import _kb as checks_kb
from brainmets.treatment import kb


def test_eano_srs_counts():
    # treatment.md §1.3 EANO21: "1-4 BM: SRS recommended"; "5-10 BM ... < 15 ml: SRS may be
    # considered"
    e = kb.settings()["eano"]
    assert (e["srs_recommended_max_count"], e["srs_consider_min_count"]) == (4, 5)


def test_ecog_kps_correspondence_and_gap():
    # treatment.md decision 12: ECOG 0 ~ KPS 90-100, 1 ~ 70-80, 2 ~ 50-60, 3 ~ 30-40,
    # 4 ~ 10-20; flag when more than one band apart
    c = checks_kb()["ecog_kps"]
    rows = [(b["ecog"], b["kps_min"], b["kps_max"]) for b in c["bands"]]
    assert rows == [(0, 90, 100), (1, 70, 80), (2, 50, 60), (3, 30, 40), (4, 10, 20)]
    assert c["max_band_gap"] == 1


def test_volume_factor():
    # treatment.md decision 12: "a lesion volume more than twice that of a sphere of its diameter"
    assert checks_kb()["volume_vs_diameter"]["factor"] == 2


def test_boundaries_of_the_checks():
    from brainmets.checks import input_checks
    from brainmets.model import parse_patient

    def ids(data):
        return {c.id for c in input_checks(parse_patient(data))}

    # decision 12: one band apart is accepted, two bands apart is flagged
    assert "kps_ecog_mismatch" not in ids({"kps": 70, "ecog": 2})
    assert "kps_ecog_mismatch" in ids({"kps": 70, "ecog": 3})
    assert "kps_ecog_mismatch" not in ids({"kps": 100, "ecog": 1})
    assert "kps_ecog_mismatch" in ids({"kps": 20, "ecog": 2})
    # sphere of 10 mm = 0.5236 ml; twice = 1.047 ml
    les = {"brain_metastases": {"lesions": [{"diameter_mm": 10, "volume_ml": 1.04}]}}
    assert "volume_exceeds_diameter" not in ids(les)
    les["brain_metastases"]["lesions"][0]["volume_ml"] = 1.06
    assert "volume_exceeds_diameter" in ids(les)
