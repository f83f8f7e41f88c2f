"""Input consistency checks (treatment.md project decision 12): contradictions are never silent.

Each check names the fields involved. ``severity: error``: the record cannot be right as
entered (e.g. geometry); ``warning``: implausible, ask. ``blocking: true`` only where no reading
of the record is safe (the CLI exits 2 and the assessment lists no options). Numbers come
from ``knowledge/data/treatment/checks.toml``.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from brainmets.knowledge import load_toml, require_refs
from brainmets.model import InputCheck, Patient


@functools.cache
def _kb() -> dict[str, Any]:
    data = load_toml("treatment/checks.toml")
    require_refs([data["ecog_kps"]["source"], data["volume_vs_diameter"]["source"]],
                 "treatment/checks.toml")
    return data


def _steroids_without_symptoms(p: Patient) -> list[InputCheck]:
    dex = p.therapy.dexamethasone_mg_day
    if p.symptoms.status != "asymptomatic" or not dex:
        return []
    return [InputCheck(
        id="asymptomatic_on_dexamethasone", severity="warning",
        fields=["symptoms.status", "therapy.dexamethasone_mg_day"],
        message=(f"symptoms.status is 'asymptomatic' while on dexamethasone {dex:g} mg/day: are "
                 "the symptoms controlled by steroids (record 'mild_controlled'), or should the "
                 "steroid be tapered? Options below read the status as entered."),
    )]


def _kps_band(kps: int) -> int | None:
    for band in _kb()["ecog_kps"]["bands"]:
        if band["kps_min"] <= kps <= band["kps_max"]:
            return int(band["ecog"])
    return None


def _kps_vs_ecog(p: Patient) -> list[InputCheck]:
    if p.kps is None or p.ecog is None:
        return []
    band = _kps_band(p.kps)
    gap = _kb()["ecog_kps"]["max_band_gap"]
    if band is None or abs(band - p.ecog) <= gap:
        return []
    return [InputCheck(
        id="kps_ecog_mismatch", severity="warning", fields=["kps", "ecog"],
        message=(f"KPS {p.kps} and ECOG {p.ecog} are more than {gap} band apart on the commonly "
                 f"quoted correspondence (KPS {p.kps} ~ ECOG {band}); check both. The "
                 "correspondence is used only to flag, never to convert (prognosis.md §8)."),
    )]


def _volume_vs_diameter(p: Patient) -> list[InputCheck]:
    factor = _kb()["volume_vs_diameter"]["factor"]
    out = []
    for i, le in enumerate(p.brain_metastases.lesions):
        ds = [d for d in (le.diameter_mm, le.max_diameter_mm) if d is not None]
        if not ds or le.volume_ml is None:
            continue
        d = max(ds)
        sphere_ml = math.pi / 6 * d ** 3 / 1000  # ml = cm3 = 1000 mm3
        if le.volume_ml > factor * sphere_ml:
            path = f"brain_metastases.lesions[{i}]"
            which = "max_diameter_mm" if d == le.max_diameter_mm else "diameter_mm"
            out.append(InputCheck(
                id="volume_exceeds_diameter", severity="error",
                fields=[f"{path}.volume_ml", f"{path}.{which}"],
                message=(f"{path}: volume {le.volume_ml:g} ml is more than {factor:g} x the "
                         f"volume of a sphere of its recorded diameter {d:g} mm "
                         f"({sphere_ml:.3g} ml): one of the two is wrong (units?). Dosing "
                         "reads the diameter, the EANO21 cumulative-volume rule the volume."),
            ))
    return out


def _count_vs_listed(p: Patient) -> list[InputCheck]:
    bm = p.brain_metastases
    if bm.count is None or bm.count >= len(bm.lesions):
        return []
    return [InputCheck(
        id="count_below_lesions_listed", severity="error", blocking=True,
        fields=["brain_metastases.count", "brain_metastases.lesions"],
        message=(f"brain_metastases.count is {bm.count} but {len(bm.lesions)} lesions are "
                 "listed: the count rules (SRS 1-4, > 4, 5-10) cannot be read safely; correct "
                 "the count or the lesion list."),
    )]


def _egfr_variant(p: Patient) -> list[InputCheck]:
    v, egfr = p.primary.egfr_variant, p.primary.egfr
    if v in (None, "unknown") or egfr == "positive":
        return []
    return [InputCheck(
        id="egfr_variant_without_egfr_positive", severity="warning",
        fields=["primary.egfr", "primary.egfr_variant"],
        message=(f"primary.egfr_variant is {v!r} but primary.egfr is {egfr or 'not recorded'}: "
                 "check both. Read on the safe side: an exon 20 insertion still excludes "
                 "chemo-immunotherapy; EGFR-targeted deferral needs primary.egfr positive."),
    )]


def _immunotherapy_history(p: Patient) -> list[InputCheck]:
    t = p.therapy
    if not (t.on_immunotherapy is True and t.immunotherapy_naive is True):
        return []
    return [InputCheck(
        id="on_immunotherapy_but_naive", severity="warning",
        fields=["therapy.on_immunotherapy", "therapy.immunotherapy_naive"],
        message=("therapy.on_immunotherapy is true but therapy.immunotherapy_naive is also true: "
                 "check both. Read on the safe side: a patient on checkpoint inhibitors is not in "
                 "an immunotherapy-naive deferral population (decision 5)."),
    )]


def input_checks(patient: Patient) -> list[InputCheck]:
    """Every contradiction of decision 12 found in the record (plus the EGFR variant pair and the
    immunotherapy-history pair that the deferral populations of decision 5 read)."""
    return [*_count_vs_listed(patient), *_steroids_without_symptoms(patient),
            *_kps_vs_ecog(patient), *_volume_vs_diameter(patient), *_egfr_variant(patient),
            *_immunotherapy_history(patient)]


def blocking_checks(checks: list[InputCheck]) -> list[InputCheck]:
    """The checks under which no reading of the record is safe (CLI exit 2)."""
    return [c for c in checks if c.blocking]
