"""Derived inputs ("features") that the index tables name, for one patient and for a table.

The two implementations sit side by side on purpose: :func:`patient_features` (one
:class:`~brainmets.model.Patient`) and :func:`frame_features` (polars expressions over the
flattened columns, see ``docs/score-columns.md``). The property tests check they agree.

Rules (prognosis spec §8-§9 and project decision 6):

* ``egfr_alk``: positive if EGFR or ALK is positive; negative if both are negative; otherwise
  ``unknown`` (the tables score unknown as negative, the authors' rule, with a warning).
* ``braf``: positive | negative | unknown (missing counts as unknown, scored as negative).
* ``breast_subtype`` (the GPA's own labels): ER/PR positive means ER **or** PR positive;
  basal = ER/PR negative and HER2 negative; luminal_a = ER/PR positive, HER2 negative;
  her2 = HER2 positive, ER/PR negative; luminal_b = ER/PR positive and HER2 positive.
  Unknown receptor status that decides the subtype -> missing (not computed).
* ``hb_tenth``: haemoglobin rounded half-up to 0.1 g/dL (renal GPA bands).
* LabBM flags: a value with its laboratory limit wins; otherwise the ``*_above_uln`` /
  ``*_below_lln`` flag; otherwise missing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from brainmets.model import Patient

if TYPE_CHECKING:  # pragma: no cover
    import polars as pl

#: feature -> (value field, limit field, flag field, abnormal when value is above the limit)
LAB_FLAGS: dict[str, tuple[str, str, str, bool]] = {
    "crp_high": ("crp_mg_l", "crp_uln_mg_l", "crp_above_uln", True),
    "ldh_high": ("ldh_u_l", "ldh_uln_u_l", "ldh_above_uln", True),
    "hb_low": ("hemoglobin_g_dl", "hemoglobin_lln_g_dl", "hemoglobin_below_lln", False),
    "plt_low": ("platelets_10e9_l", "platelets_lln_10e9_l", "platelets_below_lln", False),
    "alb_low": ("albumin_g_l", "albumin_lln_g_l", "albumin_below_lln", False),
}

#: simple features -> the patient field that feeds them (dotted path)
FIELD_OF: dict[str, str] = {
    "age": "age",
    "kps": "kps",
    "bm_count": "brain_metastases.count",
    "ecm": "extracranial_metastases",
    "controlled": "primary.controlled",
    "hb_tenth": "labs.hemoglobin_g_dl",
}

ERPR_NOTE = (
    "Breast subtype: 'ER/PR positive' read as ER or PR positive (the calculator's wording; "
    "uncertain), here with only one of ER/PR positive."
)


def round_tenth(x: float) -> float:
    """Round half-up to one decimal, identically to the vectorised path."""
    return math.floor(x * 10 + 0.5) / 10


def _status3(egfr: str | None, alk: str | None) -> str:
    if egfr == "positive" or alk == "positive":
        return "positive"
    if egfr == "negative" and alk == "negative":
        return "negative"
    return "unknown"


def patient_features(
    p: Patient,
) -> tuple[dict[str, Any], dict[str, list[str]], dict[str, list[str]]]:
    """(values, missing fields per feature, notes per feature) for one patient."""
    pr = p.primary
    values: dict[str, Any] = {
        "age": p.age,
        "kps": p.kps,
        "bm_count": p.brain_metastases.effective_count,
        "ecm": p.extracranial_metastases,
        "controlled": pr.controlled,
        "hb_tenth": None if p.labs.hemoglobin_g_dl is None else round_tenth(p.labs.hemoglobin_g_dl),
        "egfr_alk": _status3(pr.egfr, pr.alk),
        "braf": pr.braf if pr.braf in ("positive", "negative") else "unknown",
    }
    missing: dict[str, list[str]] = {k: [f] for k, f in FIELD_OF.items() if values[k] is None}
    notes: dict[str, list[str]] = {}

    # breast subtype
    her2 = pr.her2 if pr.her2 in ("positive", "negative") else None
    if pr.er == "positive" or pr.pr == "positive":
        erpr: str | None = "positive"
    elif pr.er == "negative" and pr.pr == "negative":
        erpr = "negative"
    else:
        erpr = None
    subtype = None
    if her2 is not None and erpr is not None:
        subtype = {
            ("negative", "negative"): "basal",
            ("positive", "negative"): "luminal_a",
            ("negative", "positive"): "her2",
            ("positive", "positive"): "luminal_b",
        }[(erpr, her2)]
    else:
        miss = []
        if erpr is None:
            miss += [f"primary.{k}" for k in ("er", "pr") if getattr(pr, k) != "negative"]
        if her2 is None:
            miss.append("primary.her2")
        missing["breast_subtype"] = miss
    values["breast_subtype"] = subtype
    if erpr == "positive" and (pr.er == "positive") != (pr.pr == "positive"):
        notes["breast_subtype"] = [ERPR_NOTE]

    # LabBM flags
    labs = p.labs
    for feat, (vf, lf, ff, above) in LAB_FLAGS.items():
        v, lim, flag = getattr(labs, vf), getattr(labs, lf), getattr(labs, ff)
        if v is not None and lim is not None:
            values[feat] = v > lim if above else v < lim
        elif flag is not None:
            values[feat] = flag
        else:
            values[feat] = None
            missing[feat] = [f"labs.{f}" for f, x in ((vf, v), (lf, lim)) if x is None]
    return values, missing, notes


# ---------------------------------------------------------------- vectorised (polars)


def frame_features(df: pl.DataFrame | None = None) -> dict[str, pl.Expr]:
    """Polars expressions for every feature over typed flattened columns (see columns.py)."""
    import polars as pl

    c = pl.col
    egfr, alk = c("primary_egfr"), c("primary_alk")
    egfr_alk = (
        pl.when((egfr == "positive") | (alk == "positive"))
        .then(pl.lit("positive"))
        .when((egfr == "negative") & (alk == "negative"))
        .then(pl.lit("negative"))
        .otherwise(pl.lit("unknown"))
    )
    braf = (
        pl.when(c("primary_braf").is_in(["positive", "negative"]))
        .then(c("primary_braf"))
        .otherwise(pl.lit("unknown"))
    )
    er, prr, her2 = c("primary_er"), c("primary_pr"), c("primary_her2")
    erpr = (
        pl.when((er == "positive") | (prr == "positive"))
        .then(pl.lit("positive"))
        .when((er == "negative") & (prr == "negative"))
        .then(pl.lit("negative"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    subtype = (
        pl.when(erpr.is_null() | ~her2.is_in(["positive", "negative"]).fill_null(False))
        .then(pl.lit(None, dtype=pl.String))
        .when((erpr == "negative") & (her2 == "negative"))
        .then(pl.lit("basal"))
        .when((erpr == "positive") & (her2 == "negative"))
        .then(pl.lit("luminal_a"))
        .when((erpr == "negative") & (her2 == "positive"))
        .then(pl.lit("her2"))
        .otherwise(pl.lit("luminal_b"))
    )
    feats: dict[str, pl.Expr] = {
        "age": c("age"),
        "kps": c("kps"),
        "bm_count": c("brain_metastases_count"),
        "ecm": c("extracranial_metastases"),
        "controlled": c("primary_controlled"),
        "hb_tenth": (c("labs_hemoglobin_g_dl") * 10 + 0.5).floor() / 10,
        "egfr_alk": egfr_alk,
        "braf": braf,
        "breast_subtype": subtype,
    }
    for feat, (vf, lf, ff, above) in LAB_FLAGS.items():
        v, lim, flag = c(f"labs_{vf}"), c(f"labs_{lf}"), c(f"labs_{ff}")
        cmp = (v > lim) if above else (v < lim)
        feats[feat] = (
            pl.when(v.is_not_null() & lim.is_not_null()).then(cmp).otherwise(flag)
        )
    return feats
