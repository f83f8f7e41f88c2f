"""Property test: the engine agrees with an independent transcription of treatment.md §6.7
(targets only, no steroids/clinical/new-lesion events) on random measured time lines."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from brainmets.response import evaluate

tenths = st.integers(min_value=0, max_value=500).map(lambda n: n / 10)
base_tenths = st.integers(min_value=100, max_value=400).map(lambda n: n / 10)


@st.composite
def timelines(draw):
    n_t = draw(st.integers(1, 3))
    n_tp = draw(st.integers(2, 5))
    rows = [[draw(base_tenths) for _ in range(n_t)]]
    rows += [[draw(tenths) for _ in range(n_t)] for _ in range(n_tp - 1)]
    return rows


def _oracle(rows: list[list[float]]) -> list[str]:
    f = [[Fraction(str(x)) for x in r] for r in rows]
    sums = [sum(r) for r in f]
    out = []
    for i in range(1, len(f)):
        prior = sums[:i]
        nadir = min(prior)
        k = max(j for j, s in enumerate(prior) if s == nadir)  # latest scan at the nadir
        rise = any(f[i][t] - f[k][t] >= 5 for t in range(len(f[i])))
        up = (sums[i] - nadir) / nadir >= Fraction(1, 5) if nadir > 0 else sums[i] > 0
        if up and rise:
            out.append("PD")
        elif all(x == 0 for x in f[i]):
            out.append("CR")
        elif (sums[i] - sums[0]) / sums[0] <= Fraction(-3, 10):
            out.append("PR")
        else:
            out.append("SD")
    return out


@settings(max_examples=200, deadline=None)
@given(timelines())
def test_engine_matches_spec_algorithm(rows):
    day0 = dt.date(2026, 1, 1)
    rec = {"timepoints": [
        {"date": (day0 + dt.timedelta(days=60 * i)).isoformat(), "steroid_mg_day": 0,
         "clinical_status": "stable",
         "lesions": [{"id": f"T{t}", "longest_diameter_mm": x, "perpendicular_mm": min(x, 5.0)}
                     for t, x in enumerate(r)]}
        for i, r in enumerate(rows)
    ]}
    res = evaluate(rec)
    assert [h.category for h in res.history[1:]] == _oracle(rows)
