"""Harrell's concordance index in O(n log n), vectorised with numpy (no per-row Python loop).

Direction: **a higher score means longer survival** (the convention of
``lifelines.utils.concordance_index``). Pass ``-risk`` for a risk score; for RPA (class I best)
pass ``-class_number``.

Definition (identical to lifelines, including ties and censoring): a pair (i, j) is admissible
when subject i died and ``t_i < t_j``, or i died and j was censored at ``t_j == t_i``. The pair is
concordant when ``s_i < s_j`` and tied when ``s_i == s_j``. C = (concordant + tied / 2) / pairs.

Algorithm: sort subjects by (time, deaths before censorings, score descending); then every
admissible pair is an (earlier death, later subject) pair in that order, except deaths tied in
time, which are corrected exactly. "Earlier death with a lower / equal score" is a 2-D dominance
count done by a bottom-up merge over power-of-two blocks: log2(n) levels, each one vectorised
sort + searchsorted. With few distinct scores (index groups) per-score running counts are used
instead (O(n * m), m <= FEW_SCORES).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEW_SCORES = 24  # up to this many distinct scores the O(n * m) counting path is faster


@dataclass(frozen=True)
class Concordance:
    """Counts behind a C-index (same meaning as lifelines' summary statistics)."""

    concordant: int
    tied: int
    pairs: int

    @property
    def cindex(self) -> float:
        if self.pairs == 0:
            raise ZeroDivisionError("No admissable pairs in the dataset.")
        return (self.concordant + self.tied / 2) / self.pairs


def _as_1d(name: str, values: object, dtype: type) -> np.ndarray:
    arr: np.ndarray = np.asarray(values, dtype=dtype).ravel()
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name}: contains NaN values")
    return arr


def concordance_counts(
    event_times: object, predicted_scores: object, event_observed: object | None = None
) -> Concordance:
    """Concordant, tied and admissible pair counts (higher score = longer survival)."""
    t = _as_1d("event_times", event_times, np.float64)
    s = _as_1d("predicted_scores", predicted_scores, np.float64)
    n = t.size
    if s.size != n:
        raise ValueError("predicted_scores: length differs from event_times")
    if event_observed is None:
        e = np.ones(n, dtype=bool)
    else:
        e = _as_1d("event_observed", event_observed, np.float64).astype(bool)
        if e.size != n:
            raise ValueError("event_observed: length differs from event_times")
    if n == 0 or not e.any():
        return Concordance(0, 0, 0)

    # dense integer rank of the scores (exact comparisons, small keys)
    _, r = np.unique(s, return_inverse=True)
    r = r.astype(np.int64).ravel()
    m = int(r.max()) + 1

    # order: time ascending, deaths first, score descending
    order = np.lexsort((-r, ~e, t))
    t, e, r = t[order], e[order], r[order]

    if m <= FEW_SCORES:
        # few distinct scores (index groups): per-score running death counts, O(n * m)
        less = equal = 0
        for k in range(m):
            dk = e & (r == k)
            before = np.cumsum(dk, dtype=np.int64) - dk  # deaths with score k placed earlier
            less += int(before[r > k].sum())
            equal += int(before[r == k].sum())
    else:
        pos = np.arange(n, dtype=np.int64)
        less = 0
        levels = int(np.ceil(np.log2(n))) if n > 1 else 0
        stride = np.int64(m + 1)
        for k in range(levels):
            parent = pos >> (k + 1)
            right = ((pos >> k) & 1).astype(bool)
            left_deaths = ~right & e
            if not left_deaths.any():
                continue
            keys = np.sort(parent[left_deaths] * stride + r[left_deaths])
            # index in `keys` where each parent block starts
            starts = np.concatenate(([0], np.cumsum(np.bincount(parent[left_deaths]))))
            q_parent = parent[right]
            lo = np.searchsorted(keys, q_parent * stride + r[right], side="left")
            less += int(lo.sum() - starts[np.minimum(q_parent, starts.size - 1)].sum())

        # equal scores: deaths placed earlier with the same score rank, counted within each rank
        by_rank = np.lexsort((pos, r))
        r_sorted, e_sorted = r[by_rank], e[by_rank].astype(np.int64)
        deaths_before = np.cumsum(e_sorted) - e_sorted  # deaths strictly before, over all ranks
        group_start = np.searchsorted(r_sorted, r_sorted, side="left")
        cum_at_start = (np.cumsum(e_sorted) - e_sorted)[group_start]
        equal = int((deaths_before - cum_at_start).sum())

    # deaths tied in time with a death placed earlier: earlier ones have score >= this one's,
    # so only the equal-score ones were (wrongly) counted, once each, as "tied"
    d_t, d_r = t[e], r[e]
    if d_t.size > 1:
        same = (d_t[1:] == d_t[:-1]) & (d_r[1:] == d_r[:-1])
        # position within each (time, score) run of deaths = number counted wrongly
        start = np.concatenate(([True], ~same))
        idx = np.arange(d_t.size)
        run_start = np.maximum.accumulate(np.where(start, idx, 0))
        equal -= int((idx - run_start).sum())

    # admissible pairs: deaths strictly earlier (for deaths) or at-or-before (for censored)
    death_times = t[e]  # already sorted
    n_strict = np.searchsorted(death_times, t, side="left")
    n_le = np.searchsorted(death_times, t, side="right")
    pairs = int(np.where(e, n_strict, n_le).sum())
    return Concordance(int(less), int(equal), pairs)


def concordance_index(
    event_times: object, predicted_scores: object, event_observed: object | None = None
) -> float:
    """Harrell's C (higher score = longer survival); equals lifelines.utils.concordance_index."""
    return concordance_counts(event_times, predicted_scores, event_observed).cindex
