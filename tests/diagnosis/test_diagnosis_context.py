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
