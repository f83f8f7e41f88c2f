"""LQ BED / EQD2 with editable alpha/beta and LQ validity warnings (treatment.md §2.5)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from brainmets.treatment.kb import dosing

_REGIMEN = re.compile(
    r"^\s*(?P<a>\d+(?:\.\d+)?)\s*(?:gy)?\s*(?P<op>/|x|\*|×)\s*(?P<b>\d+(?:\.\d+)?)\s*(?:fx|fr|fractions?)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Regimen:
    """``n`` fractions of ``d`` Gy."""

    total_gy: float
    fractions: int

    @property
    def dose_per_fraction(self) -> float:
        return self.total_gy / self.fractions

    def label(self) -> str:
        if self.fractions == 1:
            return f"{self.total_gy:g} Gy x 1"
        return f"{self.total_gy:g} Gy/{self.fractions}"


def parse_regimen(text: str) -> Regimen:
    """``"27/3"`` (total/fractions) or ``"9x3"`` / ``"24 Gy x 1"`` (dose x fractions)."""
    m = _REGIMEN.match(text or "")
    if not m:
        raise ValueError(
            "regimen: expected TOTAL/FRACTIONS (e.g. 27/3) or DOSExFRACTIONS (e.g. 9x3), "
            f"got {text!r}"
        )
    a, b = float(m["a"]), float(m["b"])
    if not b.is_integer() or b < 1:
        raise ValueError(f"regimen: number of fractions must be a whole number >= 1, got {m['b']}")
    n = int(b)
    total = a if m["op"] == "/" else a * n
    if total <= 0:
        raise ValueError(f"regimen: total dose must be > 0 Gy, got {total:g}")
    if total > 200:
        raise ValueError(f"regimen: total dose must be <= 200 Gy, got {total:g}")
    return Regimen(total_gy=total, fractions=n)


def bed(total_gy: float, dose_per_fraction: float, alpha_beta: float) -> float:
    """BED = n d (1 + d/(alpha/beta)) = D (1 + d/(alpha/beta))."""
    if alpha_beta <= 0:
        raise ValueError(f"alpha_beta: must be > 0 Gy, got {alpha_beta:g}")
    return total_gy * (1.0 + dose_per_fraction / alpha_beta)


def eqd2(total_gy: float, dose_per_fraction: float, alpha_beta: float) -> float:
    """EQD2 = BED / (1 + 2/(alpha/beta))."""
    return bed(total_gy, dose_per_fraction, alpha_beta) / (1.0 + 2.0 / alpha_beta)


def lq_warnings(dose_per_fraction: float) -> list[str]:
    """Validity warnings for the LQ model at this dose per fraction."""
    rb = dosing()["radiobiology"]
    out = []
    if dose_per_fraction > rb["lq_validated_max_gy"]:
        out.append(rb["warn_above_validated"])
    if dose_per_fraction > rb["lq_reasonable_max_gy"]:
        out.append(rb["warn_above_reasonable"])
    return out


@dataclass
class RadiobiologyResult:
    regimen: str
    total_gy: float
    fractions: int
    dose_per_fraction_gy: float
    values: list[dict[str, float | str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "regimen": self.regimen, "total_gy": self.total_gy, "fractions": self.fractions,
            "dose_per_fraction_gy": round(self.dose_per_fraction_gy, 4), "values": self.values,
            "warnings": self.warnings, "notes": self.notes, "sources": self.sources,
        }


def calculate(regimen: Regimen | str, alpha_betas: list[float] | None = None) -> RadiobiologyResult:
    """BED and EQD2 of ``regimen`` for each alpha/beta (default: tumour 10 and brain 2 Gy)."""
    if isinstance(regimen, str):
        regimen = parse_regimen(regimen)
    rb = dosing()["radiobiology"]
    labelled: list[tuple[float, str]]
    if alpha_betas:
        labelled = [(float(ab), "user") for ab in alpha_betas]
    else:
        labelled = [(rb["alpha_beta_tumour"], "tumour (default)"),
                    (rb["alpha_beta_brain"], "brain (default)")]
    d = regimen.dose_per_fraction
    res = RadiobiologyResult(regimen.label(), regimen.total_gy, regimen.fractions, d)
    for ab, what in labelled:
        b = bed(regimen.total_gy, d, ab)
        e = eqd2(regimen.total_gy, d, ab)
        res.values.append({"alpha_beta_gy": ab, "tissue": what, "bed_gy": round(b, 2),
                           "eqd2_gy": round(e, 2)})
    res.warnings = lq_warnings(d)
    if not alpha_betas:
        res.notes = [rb["alpha_beta_tumour_note"], rb["alpha_beta_brain_note"]]
    res.sources = ["LQ-TEXTS", rb["alpha_beta_tumour_source"]]
    if res.warnings:
        res.sources += list(rb["warn_sources"])
    return res
