"""CNS 2025 emerging therapies (treatment.md §4.3): LITT and craniotomy after SRS."""

from __future__ import annotations

import functools

from brainmets.treatment.context import Ctx
from brainmets.treatment.engine import Cond, Rule
from brainmets.treatment.rules.conditions import enlarging_after_srs

R = Rule


def _litt_notes(c: Ctx) -> list[str]:
    idx = ", ".join(f"L{i}" for i in c.enlarging_after_srs())
    return [f"Enlarging after SRS: {idx}. Choose individually by location (deep/eloquent) and "
            "clinical status / surgical candidacy (CNS25).",
            "ASCO22 R1.3: no recommendation for or against LITT; EANO21: role requires "
            "further study.",
            "LITT is not listed for untreated newly diagnosed BM (no source; UNCERTAIN)."]


def post_srs() -> list[Rule]:
    return [
        R("CNS25 enlarging after SRS (craniotomy)", "surgery", "local", ["CNS25:litt-tumour"],
          [enlarging_after_srs()],
          "Enlarging lesion after SRS: craniotomy (resection also gives tissue to separate "
          "tumour from necrosis); CNS25 found LITT equivalent to it for tumour progression.",
          mdt=True),
        R("CNS25 LITT", "litt", "local",
          ["CNS25:litt-tumour", "CNS25:litt-necrosis", "ASCO22:R1.3", "EANO21:litt"],
          [enlarging_after_srs()],
          "CNS25 (Level III): lesion enlarging after SRS: LITT may be considered, equivalent to "
          "craniotomy for tumour progression and to medical management for radiation necrosis.",
          mdt=True, notes=_litt_notes),
        R("LITT only after SRS", "litt", "local", ["CNS25:litt-tumour"],
          [Cond("lesions listed and none enlarging after SRS", lambda c: bool(c.lesions)
                and not c.enlarging_after_srs(), gate=True)],
          "LITT applies only to lesions enlarging after SRS (CNS25 Level III); no source "
          "supports LITT for newly diagnosed BM: not applicable.", inapplicable=True),
    ]


@functools.cache
def phases() -> dict[str, list[Rule]]:
    return {"post_srs": post_srs()}
