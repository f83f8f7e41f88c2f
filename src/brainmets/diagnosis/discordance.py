"""Molecular discordance between the brain metastasis (or CSF ctDNA) and the primary (§6).

:func:`effective_markers` returns the markers the treatment engine should read, with one note per
decision. Policy (stated in every note):

* a marker positive in the brain metastasis but negative/unknown in the primary (a *gain*, e.g.
  HER2 gained) -> the brain-metastasis value is used, because it can add an option;
* a marker negative in the brain metastasis but positive in the primary (a *loss*) -> the
  primary value is kept (extracranial disease may still carry it) and the discordance is flagged
  for the tumour board; options are never removed silently;
* CSF ctDNA: positive findings count as gains; a negative is a non-detection and changes nothing;
* equivocal/unknown results never make a discordance (§7.7).
"""

from __future__ import annotations

from brainmets.diagnosis import facts as _kb
from brainmets.model import Patient, Primary

STATUS_MARKERS = ("egfr", "alk", "ros1", "braf", "er", "pr", "her2")
_KNOWN = ("positive", "negative")


def _cite(section: dict) -> str:
    return "; ".join(f"{_kb.short(s)} ({s})" for s in section["sources"])


def effective_markers(patient: Patient) -> tuple[Primary, list[str]]:
    """(markers to use, notes). Markers are a copy of ``patient.primary`` with BM gains applied."""
    kb = _kb.discordance()
    primary = patient.primary
    bm = patient.brain_metastasis_markers
    notes: list[str] = []
    updates: dict[str, object] = {}
    actionable = set(kb["actionable"]["markers"])
    resected = any(le.resected for le in patient.brain_metastases.lesions)
    if bm is None or all(getattr(bm, m) in (None, "unknown") for m in STATUS_MARKERS):
        positives = [m for m in sorted(actionable) if getattr(primary, m) == "positive"]
        if positives and (resected or (bm is not None and bm.source in ("resection", "biopsy"))):
            r = kb["reconfirm"]
            notes.append(f"{r['rule']}: no brain-metastasis result for {', '.join(positives)} "
                         f"(positive in the primary). {r['text']} [{_cite(r)}]")
        return primary, notes
    src = bm.source or "source not recorded"
    csf = bm.source == "csf_ctdna"
    for m in STATUS_MARKERS:
        p, b = getattr(primary, m), getattr(bm, m)
        if b not in _KNOWN:
            continue
        name = m.upper()
        if csf and b == "negative":
            if p == "positive":
                notes.append(f"{name}: not detected in CSF ctDNA but positive in the primary; "
                             f"the primary value is kept. {kb['csf']['text']} [{_cite(kb['csf'])}]")
            continue
        if p == b:
            continue
        if b == "positive":
            updates[m] = "positive"
            if p == "negative" and m == "her2" and primary.site in ("breast", None):
                sec = kb["her2_gain"]
            elif m == "egfr":
                sec = kb["egfr"]
            elif m in ("er", "pr", "her2") and primary.site == "breast":
                sec = kb["breast_receptors"]
            else:
                sec = kb["general"]
            was = "negative" if p == "negative" else "not known"
            gained = " (actionable alteration absent in the primary)" if (
                m in actionable and p == "negative") else ""
            notes.append(
                f"{sec['rule']}: discordant {name}: primary {was}, brain metastasis positive "
                f"({src}){gained}. The brain-metastasis value is used for treatment options. "
                f"{sec['text']} [{_cite(sec)}]"
            )
        elif p == "positive":  # loss in the brain metastasis
            sec = kb["breast_receptors"] if primary.site == "breast" else kb["general"]
            notes.append(
                f"{sec['rule']}: discordant {name}: primary positive, brain metastasis negative "
                f"({src}). The primary value is kept (extracranial disease may still carry it); "
                f"review at the tumour board. {sec['text']} [{_cite(sec)}]"
            )
        else:  # primary unknown, BM negative
            updates[m] = "negative"
            notes.append(f"{name}: not known in the primary; brain metastasis negative ({src}); "
                         "the brain-metastasis value is used.")
    if bm.pdl1_tps is not None and primary.pdl1_tps is not None and bm.pdl1_tps != primary.pdl1_tps:
        notes.append(f"PD-L1 TPS differs: primary {primary.pdl1_tps:g}%, brain metastasis "
                     f"{bm.pdl1_tps:g}% ({src}); the primary value is kept; review at the "
                     "tumour board.")
    elif bm.pdl1_tps is not None and primary.pdl1_tps is None:
        updates["pdl1_tps"] = bm.pdl1_tps
        notes.append(f"PD-L1 TPS from the brain metastasis ({src}): {bm.pdl1_tps:g}%.")
    if csf and updates:
        notes.append(f"{kb['csf']['rule']}: {kb['csf']['text']} [{_cite(kb['csf'])}]")
    markers = primary.model_copy(update=updates) if updates else primary
    return markers, notes


def discordance_notes(patient: Patient) -> list[str]:
    """Only the notes (for the assessment warnings)."""
    return effective_markers(patient)[1]
