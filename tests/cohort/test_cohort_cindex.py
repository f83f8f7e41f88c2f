import numpy as np
import pytest
from lifelines.utils import concordance_index as lifelines_cindex

from brainmets.cohort.cindex import concordance_counts, concordance_index


@pytest.mark.parametrize("seed", range(6))
def test_cindex_equals_lifelines_with_ties_and_censoring(seed):
    rng = np.random.default_rng(seed)
    n = 3000
    t = rng.integers(0, 60, n).astype(float)  # many tied times
    s = rng.integers(0, 8, n).astype(float) + 0.01 * t * (seed % 2)  # tied scores
    e = rng.random(n) < 0.6
    assert concordance_index(t, s, e) == pytest.approx(lifelines_cindex(t, s, e), abs=1e-12)


def test_cindex_small_random_cases_exact():
    rng = np.random.default_rng(42)
    checked = 0
    for _ in range(400):
        n = int(rng.integers(2, 25))
        t = rng.integers(0, 5, n).astype(float)
        s = rng.integers(0, 4, n).astype(float)
        e = rng.random(n) < rng.random()
        try:
            expected = lifelines_cindex(t, s, e)
        except ZeroDivisionError:
            with pytest.raises(ZeroDivisionError):
                concordance_index(t, s, e)
            continue
        assert concordance_index(t, s, e) == pytest.approx(expected, abs=1e-12)
        checked += 1
    assert checked > 300


def test_cindex_direction_and_no_events():
    t = np.arange(1, 11, dtype=float)
    assert concordance_index(t, t) == 1.0  # higher score = longer survival
    assert concordance_index(t, -t) == 0.0
    assert concordance_counts(t, t, np.zeros(10)).pairs == 0
    with pytest.raises(ValueError, match="NaN"):
        concordance_index([1.0, np.nan], [1, 2])


@pytest.mark.parametrize("few", [0, 1000])
def test_cindex_both_counting_paths_agree_with_lifelines(monkeypatch, few):
    import brainmets.cohort.cindex as mod

    monkeypatch.setattr(mod, "FEW_SCORES", few)  # 0: merge path only; 1000: per-score path
    rng = np.random.default_rng(11)
    for _ in range(60):
        n = int(rng.integers(2, 200))
        t = rng.integers(0, 12, n).astype(float)
        s = rng.integers(0, int(rng.integers(1, 40)), n).astype(float)
        e = rng.random(n) < 0.5
        try:
            expected = lifelines_cindex(t, s, e)
        except ZeroDivisionError:
            continue
        assert mod.concordance_index(t, s, e) == pytest.approx(expected, abs=1e-12)
