"""The lesion's history, which decides the clinical questions the diagnosis aids may answer.

* untreated and undiagnosed (not irradiated, not resected, histology open): glioblastoma vs
  metastasis, abscess vs necrotic tumour;
* irradiated: recurrence vs radiation necrosis.

Sources, in order: ``radiation_history`` (brain-directed treatments: srs | fsrt | wbrt | ha_wbrt
| surgery | litt), the lesion list (``resected``, ``prior_srs``), ``advanced_imaging``
(``prior_srs``, ``histology_confirmed``). ``advanced_imaging.lesion_id`` ties the values to one
lesion; without it the patient's history is used. ``advanced_imaging.previously_treated =
false`` says the lesion is untreated; an empty ``radiation_history`` is "not recorded" (absent
and empty cannot be told apart once a record is stored). Unknown stays unknown: a question whose
history is not recorded is still asked, with a caveat saying what it assumes.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from brainmets.model import AdvancedImaging, Patient

IRRADIATING = ("srs", "fsrt", "wbrt", "ha_wbrt")
WHOLE_BRAIN = ("wbrt", "ha_wbrt")


class LesionHistory(BaseModel):
    lesion_id: str | None = None
    irradiated: bool | None = None
    resected: bool | None = None
    ablated: bool | None = None
    histology_confirmed: bool | None = None
    treated_unspecified: bool = Field(default=False, description="treated, modality unknown")
    modalities: list[str] = Field(default_factory=list, description="radiation given to it")
    srs_dates: list[str] = Field(default_factory=list,
                                 description="dates (ISO) of SRS/FSRT courses covering it")
    evidence: list[str] = Field(default_factory=list, description="where each fact came from")

    @property
    def treated(self) -> bool | None:
        flags = (self.irradiated, self.resected, self.ablated)
        if self.treated_unspecified or any(f is True for f in flags):
            return True
        return False if all(f is False for f in flags) else None

    @property
    def undiagnosed(self) -> bool | None:
        """Histology open: not confirmed and not resected (resection gives histology)."""
        if self.histology_confirmed is True or self.resected is True:
            return False
        if self.histology_confirmed is False:
            return True
        return None


def _course_covers(course: Any, lesion_id: str | None) -> bool | None:
    modality = getattr(course, "modality", None)
    ids = list(getattr(course, "lesion_ids", None) or [])
    if modality in WHOLE_BRAIN or lesion_id is None:
        return True
    if not ids:
        return None  # focal treatment, lesions not recorded
    return lesion_id in ids


def _from_courses(h: LesionHistory, courses: list[Any]) -> None:
    flags: dict[str, bool | None] = {"irradiated": False, "resected": False, "ablated": False}
    for c in courses:
        modality = getattr(c, "modality", None)
        covers = _course_covers(c, h.lesion_id)
        key = ("irradiated" if modality in IRRADIATING else "resected" if modality == "surgery"
               else "ablated" if modality == "litt" else None)
        if key is None:
            continue
        if covers:
            flags[key] = True
            date = getattr(c, "date", None)
            if key == "irradiated":
                h.modalities.append(str(modality))
                if modality in ("srs", "fsrt") and date is not None:
                    h.srs_dates.append(date.isoformat())
            h.evidence.append(f"radiation_history: {modality}{f' {date}' if date else ''}")
        elif covers is None and flags[key] is False:
            flags[key] = None
    for key, value in flags.items():
        if value is True or getattr(h, key) is None:
            setattr(h, key, value)  # a recorded treatment wins over "no" elsewhere


def _lesions(patient: Patient, lesion_id: str | None) -> list[Any]:
    lesions = list(patient.brain_metastases.lesions)
    if lesion_id is None or not any(getattr(le, "id", None) for le in lesions):
        return lesions  # no lesion ids recorded: the patient's lesions as a whole
    return [le for le in lesions if getattr(le, "id", None) == lesion_id]


def lesion_history(patient: Patient, ai: AdvancedImaging | None) -> LesionHistory:
    """What is known about the treatment and diagnosis of the lesion the values describe."""
    ai = ai or AdvancedImaging()
    h = LesionHistory(lesion_id=ai.lesion_id, histology_confirmed=ai.histology_confirmed)
    if ai.prior_srs is not None:
        h.irradiated = ai.prior_srs
        h.evidence.append(f"advanced_imaging.prior_srs = {str(ai.prior_srs).lower()}")
        if ai.prior_srs:
            h.modalities.append("srs")
    lesions = _lesions(patient, ai.lesion_id)
    if h.irradiated is None and any(le.prior_srs for le in lesions):
        h.irradiated = True
        h.modalities.append("srs")
        h.evidence.append("brain_metastases.lesions[].prior_srs = true")
    if any(le.resected for le in lesions):
        h.resected = True
        h.evidence.append("brain_metastases.lesions[].resected = true")
    elif lesions and all(le.resected is False for le in lesions):
        h.resected = False
    courses = list(getattr(patient, "radiation_history", None) or [])
    if courses:  # an empty list is "not recorded" (records round-trip it from absent)
        _from_courses(h, courses)
    if ai.previously_treated is False:
        h.evidence.append("advanced_imaging.previously_treated = false")
        for key in ("irradiated", "resected", "ablated"):
            if getattr(h, key) is None:
                setattr(h, key, False)
    elif ai.previously_treated and h.treated is not True:
        h.evidence.append("advanced_imaging.previously_treated = true (modality not recorded)")
        h.treated_unspecified = True
    h.modalities = sorted(set(h.modalities))
    return h


def history_text(h: LesionHistory) -> str:
    """One phrase: what the history says, for the statements and the report."""
    parts = []
    for name, value in (("irradiated", h.irradiated), ("resected", h.resected),
                        ("histology confirmed", h.histology_confirmed)):
        parts.append(f"{name}: {'yes' if value else 'no' if value is False else 'not recorded'}")
    if h.histology_confirmed is None and h.resected:
        parts[-1] = "histology: known from the resection"
    mod = f" ({', '.join(h.modalities)})" if h.modalities else ""
    return "; ".join(parts).replace("irradiated: yes", f"irradiated: yes{mod}")
