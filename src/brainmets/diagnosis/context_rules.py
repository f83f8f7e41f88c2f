"""Display rules without a cut-off: time since SRS (R-PWI-6), MRS after SRS (R-MRS-2), the FET
time-activity curve (R-PET-1), abscess peaks and lipid/lactate (R-MRS-3). Each is asked only for
its question (recurrence vs necrosis, or abscess)."""

from __future__ import annotations

from typing import Any

from brainmets.diagnosis import facts
from brainmets.diagnosis.rules import ADVISORY, Statement, _fmt
from brainmets.model import AdvancedImaging

RECURRENCE = "recurrence_vs_necrosis"


def _common(section: dict[str, Any], question: str, question_id: str) -> dict[str, Any]:
    return {"rule_id": section["rule"], "question": question, "question_id": question_id,
            "sources": list(section["sources"]), "confidence": section["confidence"],
            "citations": [facts.citation(s) for s in section["sources"]]}


def _months_from_dates(srs_dates: list[str]) -> tuple[float, str] | None:
    """Months from the latest recorded SRS date to today (when months_since_srs is absent)."""
    import datetime as dt

    if not srs_dates:
        return None
    last = max(dt.date.fromisoformat(d) for d in srs_dates)
    today = dt.date.today()
    if last > today:
        return None
    months = round((today - last).days / (365.25 / 12), 1)  # calendar conversion only
    return months, (f"computed from the radiation_history date {last.isoformat()} to today "
                    f"({today.isoformat()}); enter advanced_imaging.months_since_srs for the "
                    "time to the imaging study")


def _time_since_srs(ai: AdvancedImaging | None, n: dict[str, Any],
                    srs_dates: list[str] | None = None) -> Statement:
    common = _common(n, "recurrence vs radiation necrosis after SRS", RECURRENCE)
    pre = (f"In Narloch 2017 (35 biopsied enlarging lesions after SRS) {n['rn_only_pct']}% "
           f"showed radiation necrosis only; recurrence was found in "
           f"{n['recurrence_pct_early']}% of lesions biopsied <= {_fmt(n['months'])} months "
           f"after SRS vs {n['recurrence_pct_late']}% later.")
    months = None if ai is None else ai.months_since_srs
    derived = _months_from_dates(srs_dates or []) if months is None else None
    if derived is not None:
        return Statement(**common, status="display_only", metric="months_since_srs",
                         value=derived[0], unit="months", notes=[derived[1]],
                         text=f"About {_fmt(derived[0])} months since SRS ({derived[1]}). {pre}")
    if months is None:
        return Statement(**common, status="not_assessable",
                         missing=["advanced_imaging.months_since_srs"],
                         text=f"Time since SRS: not assessable: needs "
                         f"advanced_imaging.months_since_srs. {pre}")
    return Statement(**common, status="display_only", metric="months_since_srs", value=months,
                     unit="months", text=f"{_fmt(months)} months since SRS. {pre}")


def _fet_tac(ai: AdvancedImaging, c: dict[str, Any]) -> Statement | None:
    if ai.pet_tracer not in (None, "fet") or ai.pet_tac_pattern is None:
        return None
    pattern = ai.pet_tac_pattern
    status = {"decreasing": "supports", "increasing": "does_not_support"}.get(
        pattern, "display_only")
    return Statement(**_common(c, "recurrence vs radiation change after radiotherapy",
                               RECURRENCE),
                     status=status, metric="pet_tac_pattern",
                     text=f"FET time-activity curve {pattern}: {c[pattern]} (Romagna 2016; "
                     f"Ceccon 2017). {ADVISORY}")


def _recurrence(ai: AdvancedImaging | None, c: dict[str, Any],
                srs_dates: list[str] | None = None) -> list[Statement]:
    out = [_time_since_srs(ai, c["narloch"], srs_dates)]
    m = c["mrs_after_srs"]
    if ai is not None and (ai.lesional_cho_cr is not None or ai.lesional_cho_naa is not None):
        vals = ", ".join(f"{k} {_fmt(v)}" for k, v in (
            ("Cho/Cr", ai.lesional_cho_cr), ("Cho/NAA", ai.lesional_cho_naa)) if v is not None)
        te = f" (TE {_fmt(ai.mrs_te_ms)} ms)" if ai.mrs_te_ms else " (TE not recorded)"
        out.append(Statement(**_common(m, "recurrence vs radiation necrosis", RECURRENCE),
                             status="display_only", text=f"Lesional {vals}{te}: {m['text']}."))
    tac = None if ai is None else _fet_tac(ai, c["fet_tac"])
    if tac is not None:
        out.append(tac)
    return out


def _abscess(ai: AdvancedImaging | None, c: dict[str, Any]) -> list[Statement]:
    a = c["abscess_peaks"]
    common = _common(a, "pyogenic abscess vs necrotic tumour (MRS)", "abscess")
    peaks = None if ai is None else ai.abscess_peaks
    out: list[Statement] = []
    if peaks is None:
        out.append(Statement(**common, status="not_assessable",
                             missing=["advanced_imaging.abscess_peaks"],
                             text="Abscess MRS peaks: not assessable: needs "
                             "advanced_imaging.abscess_peaks."))
    else:
        verdict = "supports" if peaks else "does_not_support"
        word = "present" if peaks else "absent"
        caveat = "" if peaks else f" {a['absent_text']}."
        out.append(Statement(**common, status=verdict,
                             text=f"Amino-acid/acetate/succinate peaks {word} in the cavity "
                             f"spectrum: {verdict.replace('_', ' ')} \"{a['text']}\" (Lai 2002, "
                             f"n = 14).{caveat} {ADVISORY}"))
    if ai is not None and ai.lipid_lactate is not None:
        ll = c["lipid_lactate"]
        word = "present" if ai.lipid_lactate else "absent"
        out.append(Statement(**_common(ll, "pyogenic abscess vs necrotic tumour (MRS)",
                                       "abscess"),
                             status="display_only", metric="lipid_lactate",
                             text=f"Lipid/lactate at 1.3 ppm {word}: {ll['text']}."))
    return out


def context_statements(ai: AdvancedImaging | None, asked: dict[str, str | None],
                       kb: dict[str, Any], srs_dates: list[str] | None = None) -> list[Statement]:
    """The display rules for the questions asked."""
    out: list[Statement] = []
    if RECURRENCE in asked:
        out.extend(_recurrence(ai, kb["context"], srs_dates))
    if "abscess" in asked:
        out.extend(_abscess(ai, kb["context"]))
    return out


def reminder_statements(asked: dict[str, str | None],
                        ctx: dict[str, bool | None], kb: dict[str, Any]) -> list[Statement]:
    """No advanced-imaging value entered: for an untreated lesion whose diagnosis is open and
    that is solitary or ring-enhancing, say which question is open and what would inform it."""
    out: list[Statement] = []
    ring, solitary = ctx.get("ring_enhancing"), ctx.get("solitary_enhancing_lesion")
    for q, key, live in (("glioblastoma_vs_metastasis", "reminder_glioblastoma",
                          ring is True or solitary is True),
                         ("abscess", "reminder_abscess", ring is True)):
        if q not in asked or not live:
            continue
        c = kb["context"][key]
        text = (f"Differential: {c['text']}. No advanced-imaging value entered "
                f"(advanced_imaging: {c['inputs']}).")
        out.append(Statement(**_common(c, q.replace("_", " "), q), status="display_only",
                             text=text, notes=[asked[q]] if asked[q] else []))
    return out
