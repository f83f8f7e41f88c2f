"""Epidemiology/screening context and molecular discordance."""

from __future__ import annotations

from brainmets.diagnosis import context
from brainmets.diagnosis.discordance import effective_markers
from brainmets.model import parse_patient


def test_context_breast_confirmed_and_unconfirmed() -> None:
    c = context("breast")
    assert c["epidemiology_key"] == "breast"
    rows = {r["percent"]: r for r in c["incidence"] if "percent" in r}
    assert rows[5.1]["confidence"] == "confirmed" and rows[5.1]["citations"]
    assert c["peak_age"][0]["ages"] == "20-39"
    texts = " ".join(s["text"] for s in c["screening"])
    assert "EANO-ESMO" in texts and "ASCO" in texts  # conflict shown, both
    claims = {u["claim"]: u for u in c["unconfirmed_claims"]}
    assert all(u["confidence"] == "uncertain" for u in claims.values())
    assert any("40,000" in k for k in claims)


def test_context_site_mapping_and_unknown() -> None:
    assert context("nsclc")["epidemiology_key"] == "nsclc"
    # diagnosis.md §5.1 Barnholtz-Sloan 2004: lung 40-49 (no NSCLC/SCLC split in the source)
    assert {r["ages"] for r in context("sclc")["peak_age"]} == {"40-49"}
    gi = context("gi")
    assert gi["epidemiology_key"] == "gi" and gi["notes"]
    unk = context("unknown")
    assert unk["epidemiology_key"] is None and unk["peak_age"] == [] and unk["notes"]
    assert all(r["sites"] == ["all"] for r in unk["incidence"])


def test_her2_gain_uses_brain_metastasis_value() -> None:
    p = parse_patient({"primary": {"site": "breast", "her2": "negative", "er": "positive"},
                       "brain_metastasis_markers": {"source": "resection", "her2": "positive"}})
    markers, notes = effective_markers(p)
    assert markers.her2 == "positive" and markers.er == "positive"
    assert p.primary.her2 == "negative"  # the record itself is untouched
    assert len(notes) == 1 and "R-MOL-2" in notes[0] and "DX-KOTECHA2021" in notes[0]
    assert "brain-metastasis value is used" in notes[0]


def test_loss_keeps_primary_and_flags() -> None:
    p = parse_patient({"primary": {"site": "nsclc", "egfr": "positive"},
                       "brain_metastasis_markers": {"source": "biopsy", "egfr": "negative"}})
    markers, notes = effective_markers(p)
    assert markers.egfr == "positive" and "kept" in notes[0]


def test_actionable_absent_in_primary() -> None:
    p = parse_patient({"primary": {"site": "melanoma", "braf": "negative"},
                       "brain_metastasis_markers": {"source": "resection", "braf": "positive"}})
    markers, notes = effective_markers(p)
    assert markers.braf == "positive" and "actionable alteration absent" in notes[0]


def test_unknown_and_concordant_make_no_discordance() -> None:
    p = parse_patient({"primary": {"site": "breast", "her2": "positive"},
                       "brain_metastasis_markers": {"source": "resection", "her2": "positive",
                                                    "er": "unknown"}})
    markers, notes = effective_markers(p)
    assert notes == [] and markers.her2 == "positive"


def test_csf_negative_does_not_overrule_and_positive_counts() -> None:
    p = parse_patient({"primary": {"site": "nsclc", "egfr": "positive", "alk": "negative"},
                       "brain_metastasis_markers": {"source": "csf_ctdna", "egfr": "negative",
                                                    "alk": "positive"}})
    markers, notes = effective_markers(p)
    assert markers.egfr == "positive" and markers.alk == "positive"
    joined = " ".join(notes)
    assert "non-detection" in joined and "R-MOL-4" in joined


def test_reconfirm_reminder_after_resection() -> None:
    p = parse_patient({"primary": {"site": "nsclc", "alk": "positive"},
                       "brain_metastases": {"lesions": [{"resected": True}]}})
    markers, notes = effective_markers(p)
    assert markers is p.primary and "R-MOL-3" in notes[0] and "alk" in notes[0]
    assert effective_markers(parse_patient({"primary": {"alk": "positive"}}))[1] == []


# ----------------------------------------------------------------- citations (issue #19)


def test_egfr_discordance_is_cited_to_kim_2019() -> None:
    # diagnosis.md §6.1: Kim et al., Brain Tumor Res Treat 2019: 4/18 paired cases discordant
    p = parse_patient({"primary": {"site": "nsclc", "egfr": "negative"},
                       "brain_metastasis_markers": {"source": "resection", "egfr": "positive"}})
    _, notes = effective_markers(p)
    assert len(notes) == 1 and "DX-KIM2019" in notes[0] and "4/18" in notes[0]
    assert "DX-BRASTIANOS2015" not in notes[0]


def test_children_figure_carries_the_spec_source() -> None:
    # §5.2: "1-10% (Kumar & Rotondo, Springer chapter)"; display "≈1-10% (estimates vary)"
    rows = [u for u in context("breast")["unconfirmed_claims"] if "paediatric" in u["claim"]]
    assert len(rows) == 1 and rows[0]["sources"] == ["DX-KUMARROTONDO"]
    assert "1-10%" in rows[0]["display"] and rows[0]["confidence"] == "uncertain"


def test_seed_sex_claim_is_listed_as_unconfirmed() -> None:
    # §5.1: "The seed's 'women' qualifier for breast is not in the abstract (UNCERTAIN)"
    claims = context("breast")["unconfirmed_claims"]
    women = [u for u in claims if "women" in u["claim"]]
    assert len(women) == 1 and women[0]["confidence"] == "uncertain"
    assert women[0]["sources"] == ["DX-BARNHOLTZSLOAN2004"]


def test_us_case_numbers_shown_beside_seer_synchronous_rate() -> None:
    # §5.2: ~70,000 to ~200,000; SEER synchronous-only incidence 7.1-7.3/100,000
    c = context("nsclc")
    general = [g for g in c["general"] if "70,000" in g["text"]]
    assert len(general) == 1 and "7.1-7.3 per 100,000" in general[0]["text"]
    assert {"DX-PARKER2023", "DX-SINGH2020", "DX-DAVIS"} <= set(general[0]["sources"])
    forty = [u for u in c["unconfirmed_claims"] if "40,000" in u["claim"]][0]
    assert "70,000" in forty["display"] and "7.1-7.3 per 100,000" in forty["display"]


def test_nsclc_and_sclc_have_their_own_screening_text() -> None:
    # §5.3: NCCN NSCLC (patient 2018) vs the SCLC summary (CATS 2018)
    nsclc = " | ".join(r["text"] for r in context("nsclc")["screening"])
    sclc = " | ".join(r["text"] for r in context("sclc")["screening"])
    assert "NCCN (patient guideline 2018) NSCLC" in nsclc
    assert not any(r["text"].startswith("SCLC") for r in context("nsclc")["screening"])
    assert "SCLC: brain imaging recommended for all patients" in sclc
    assert "NCCN (patient" not in sclc
    assert "EANO-ESMO 2021: consider screening brain MRI in lung cancer" in nsclc
    assert "EANO-ESMO 2021: consider screening brain MRI in lung cancer" in sclc
    sclc_rows = [r for r in context("sclc")["incidence"] if r.get("percent") == 23.5]
    assert sclc_rows and sclc_rows[0]["sources"] == ["DX-CAGNEY2017"]  # §5.1 SCLC 23.5%
