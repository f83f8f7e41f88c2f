"""What the rules read about a patient, derived once: counts, sizes, symptoms, markers, survival."""

from __future__ import annotations

from dataclasses import dataclass, field

from brainmets.model import Lesion, Patient, Primary, PrognosticEstimate
from brainmets.treatment.dosing import lesion_diameter
from brainmets.treatment.kb import settings


def markers(patient: Patient) -> Primary:
    """The tumour-marker set every treatment rule reads (egfr, alk, ros1, braf, her2, pdl1_tps ...).

    Single entry point on purpose: the primary's markers, with the brain-metastasis (or CSF
    ctDNA) value used where it adds an option (e.g. HER2 gained in the brain metastasis); see
    :func:`brainmets.diagnosis.discordance.effective_markers`. Rules never read markers from
    anywhere else.
    """
    from brainmets.diagnosis.discordance import effective_markers

    return effective_markers(patient)[0]


def _pos(value: str | None) -> bool | None:
    """positive -> True, negative -> False, unknown/missing -> None."""
    if value == "positive":
        return True
    if value == "negative":
        return False
    return None


@dataclass
class Survival:
    months: float | None
    basis: str | None          # e.g. "lung_molgpa_2017 (group 2.5-3.0): median 14.8 months"
    index: str | None = None
    note: str | None = None


def expected_survival(estimates: list[PrognosticEstimate]) -> Survival:
    """Expected survival = the one primary estimate (project decision 9, prognosis.primary)."""
    from brainmets.prognosis.primary import PROGNOSIS_ONLY, primary_survival

    ps = primary_survival(estimates)
    if ps is None or ps.median_survival_months is None:
        return Survival(None, None)
    m = ps.median_survival_months
    basis = f"{ps.index} (group {ps.group}): median {m:g} months ({ps.source}); primary estimate"
    # the survival caveats the rules repeat (disputed medians), not the scoring notes
    note = "; ".join(w for w in ps.warnings if PROGNOSIS_ONLY not in w) or None
    return Survival(m, basis, ps.index, note)


@dataclass
class Ctx:
    """Derived view of one patient for the rules (tri-state: None means not given)."""

    patient: Patient
    site: str | None
    histology: str | None
    mk: Primary
    kps: int | None
    ecog: int | None
    symptom: str | None
    severe_icp: bool | None
    seizure: bool | None
    count: int | None
    lesions: list[Lesion]
    n_resected: int
    n_unresected: int | None
    survival: Survival
    fired: set[str] = field(default_factory=set)
    defer_fired: bool = False

    # -------- markers (tri-state)
    def egfr(self) -> bool | None:
        return _pos(self.mk.egfr)

    def alk(self) -> bool | None:
        return _pos(self.mk.alk)

    def ros1(self) -> bool | None:
        return _pos(self.mk.ros1)

    def braf(self) -> bool | None:
        return _pos(self.mk.braf)

    def her2(self) -> bool | None:
        return _pos(self.mk.her2)

    # -------- lesions
    def intact(self) -> list[tuple[int, Lesion]]:
        return [(i, le) for i, le in enumerate(self.lesions, 1) if not le.resected]

    def resected(self) -> list[tuple[int, Lesion]]:
        return [(i, le) for i, le in enumerate(self.lesions, 1) if le.resected]

    def intact_diameters(self) -> list[float]:
        return [d for _, le in self.intact() if (d := lesion_diameter(le)) is not None]

    def largest_intact_mm(self) -> float | None:
        ds = self.intact_diameters()
        return max(ds) if ds else None

    def cumulative_volume_ml(self) -> float | None:
        vols = [le.volume_ml for _, le in self.intact()]
        if not vols or any(v is None for v in vols) or len(vols) != (self.n_unresected or 0):
            return None
        return float(sum(v for v in vols if v is not None))

    def any_mass_effect(self) -> bool | None:
        vals = [le.mass_effect for _, le in self.intact()]
        if any(v is True for v in vals):
            return True
        if vals and all(v is False for v in vals):
            return False
        return None

    def hippocampal_lesions(self) -> list[tuple[int, float]] | None:
        """Lesions closer than the CC001 exclusion distance; None if any distance is missing."""
        limit = settings()["asco_r35"]["hippocampus_exclusion_mm"]
        if not self.lesions:
            return None
        close = []
        for i, le in enumerate(self.lesions, 1):
            if le.hippocampus_distance_mm is None:
                return None
            if le.hippocampus_distance_mm < limit:
                close.append((i, le.hippocampus_distance_mm))
        return close

    def enlarging_after_srs(self) -> list[int]:
        return [i for i, le in enumerate(self.lesions, 1) if le.enlarging_after_srs]


def build(patient: Patient, estimates: list[PrognosticEstimate]) -> Ctx:
    """Derive the rule context for ``patient``."""
    bm = patient.brain_metastases
    lesions = list(bm.lesions)
    n_res = sum(1 for le in lesions if le.resected)
    count = bm.effective_count
    n_unres = None if count is None else max(count - n_res, 0)
    return Ctx(
        patient=patient,
        site=patient.primary.site,
        histology=patient.primary.histology,
        mk=markers(patient),
        kps=patient.kps,
        ecog=patient.ecog,
        symptom=patient.symptoms.status,
        severe_icp=patient.symptoms.severe_icp,
        seizure=patient.symptoms.seizure_history,
        count=count,
        lesions=lesions,
        n_resected=n_res,
        n_unresected=n_unres,
        survival=expected_survival(estimates),
    )
