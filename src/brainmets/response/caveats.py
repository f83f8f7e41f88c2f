"""Pseudo-progression / radiation-necrosis caveat for PD in an irradiated lesion.

RANO-BM (Lin 2015, via Moravan 2020) asks readers to weigh treatment-related change after
radiotherapy: repeat imaging, pathology and/or advanced imaging (perfusion MRI, MRS, amino-acid
PET) with MDT review; EANO21 adds amino-acid PET. diagnosis.md §2.6 gives the perfusion (rCBV)
discriminators and §1.3.5 the ADC course after radiotherapy. The specification gives no time
window, so the caveat applies to any irradiated lesion, whenever it was irradiated.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from brainmets.model import RadiationCourse

RADIATION = ("srs", "fsrt", "wbrt", "ha_wbrt")
WHOLE_BRAIN = ("wbrt", "ha_wbrt")
PD_CATEGORIES = ("PD", "PD_unconfirmed")
SOURCES = ["RANOBM", "EANO21", "DX-HOEFNAGELS2009", "DX-BARAJAS2009", "DX-NARLOCH2017"]


class RadiationCaveat(BaseModel):
    id: str = "pseudoprogression_radiation_necrosis"
    lesion_ids: list[str]
    courses: list[str] = Field(description="the radiation courses that reached these lesions")
    text: str
    aids: list[str]
    sources: list[str] = Field(default_factory=lambda: list(SOURCES))


def _course_text(c: RadiationCourse) -> str:
    dose = ""
    if c.dose_gy is not None:
        dose = f" {c.dose_gy:g} Gy" + (f"/{c.fractions}" if c.fractions else "")
    when = f" on {c.date.isoformat()}" if c.date else " (date not recorded)"
    return f"{c.modality.upper()}{dose}{when}"


def _parse(history: Any) -> list[RadiationCourse]:
    return [h if isinstance(h, RadiationCourse) else RadiationCourse.model_validate(h)
            for h in (history or [])]


def irradiated(history: Any, lesion_ids: list[str],
               before: dt.date | None = None) -> dict[str, list[str]]:
    """lesion id -> the radiation courses that reached it (given on or before ``before``).

    Whole-brain courses, and courses that name no lesion, reach every lesion (the reading the
    specification leaves open is taken on the safe side: the caveat is shown, not withheld).
    """
    out: dict[str, list[str]] = {}
    for c in _parse(history):
        if c.modality not in RADIATION:
            continue
        if before is not None and c.date is not None and c.date > before:
            continue
        hit = lesion_ids if (c.modality in WHOLE_BRAIN or not c.lesion_ids) else [
            i for i in c.lesion_ids if i in lesion_ids]
        for lid in hit:
            out.setdefault(lid, []).append(_course_text(c))
    return out


def _progressing(result: Any) -> list[str]:
    """Lesions that carry the progression: grown targets and the non-targets."""
    ids = [t.id for t in getattr(result, "targets", []) if t.rise_vs_reference_mm > 0]
    ids += [n.id for n in getattr(result, "non_targets", []) if n.status == "present"]
    return ids


def radiation_caveats(result: Any, history: Any) -> list[RadiationCaveat]:
    """Caveats for a RANO-BM result whose PD involves an irradiated lesion (else [])."""
    if getattr(result, "category", None) not in PD_CATEGORIES:
        return []
    hit = irradiated(history, _progressing(result), getattr(result, "assessed_date", None))
    if not hit:
        return []
    lids = sorted(hit)
    courses = sorted({c for cs in hit.values() for c in cs})
    text = (f"PD involves irradiated lesion(s) {', '.join(lids)} ({'; '.join(courses)}): "
            "pseudo-progression or radiation necrosis can look like progression. RANO-BM: when "
            "treatment-related change is possible after radiotherapy, repeat imaging (possibly "
            "sooner), pathology and/or advanced imaging, with MDT review, before PD is acted on. "
            "No time window is given, so this applies to any irradiated lesion. Diagnosis aids: "
            "perfusion MRI rCBV (`brainmets perfusion`), the ADC course after radiotherapy "
            "(`brainmets adc`), MR spectroscopy or amino-acid PET.")
    aids = ["perfusion MRI (DSC rCBV; diagnosis.md §2.6: higher rCBV favours recurrence): "
            "`brainmets perfusion`",
            "diffusion (ADC course after radiotherapy, diagnosis.md §1.3.5): `brainmets adc`",
            "MR spectroscopy and amino-acid PET (EANO21; diagnosis.md §3.3, §4)"]
    return [RadiationCaveat(lesion_ids=lids, courses=courses, text=text, aids=aids)]


def attach_radiation_caveats(result: Any, history: Any) -> Any:
    """Add the caveats to ``result.caveats`` (and a line to ``flags_for_review``); returns it."""
    cav = radiation_caveats(result, history)
    have = set(result.flags_for_review)
    cav = [c for c in cav if c.text not in have]  # idempotent (cached results are reused)
    if not cav:
        return result
    if hasattr(result, "caveats"):
        result.caveats = [*getattr(result, "caveats", []), *[c.model_dump() for c in cav]]
    result.flags_for_review = [*result.flags_for_review, *[c.text for c in cav]]
    return result
