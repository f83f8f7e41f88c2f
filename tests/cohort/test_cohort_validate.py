import json
import math

import numpy as np
import polars as pl
import pytest

from brainmets.cohort.validate import published_group_medians, validate_cohort

# prognosis.md §1: RPA class medians (RTOG database), written from the spec, not read back
RPA_MEDIANS = {"I": 7.1, "II": 4.2, "III": 2.3}
# prognosis.md §2: original GPA group medians (RTOG database)
GPA_MEDIANS = {"0-1.0": 2.6, "1.5-2.5": 3.8, "3.0": 8.9, "3.5-4.0": 11.0}


def _gpa_2008_median(age, kps, bm, ecm) -> np.ndarray:
    """GPA 2008 median OS per row from the spec's point table (prognosis.md §2), by hand."""
    pts = (np.select([age > 60, age >= 50], [0.0, 0.5], 1.0)
           + np.select([kps < 70, kps <= 80], [0.0, 0.5], 1.0)
           + np.select([bm > 3, bm >= 2], [0.0, 0.5], 1.0)
           + np.where(ecm, 0.0, 1.0))
    return np.select([pts <= 1.0, pts <= 2.5, pts <= 3.0],
                     [GPA_MEDIANS["0-1.0"], GPA_MEDIANS["1.5-2.5"], GPA_MEDIANS["3.0"]],
                     GPA_MEDIANS["3.5-4.0"])


def test_published_medians_match_spec():
    assert published_group_medians("rpa") == RPA_MEDIANS
    assert published_group_medians("gpa_2008") == GPA_MEDIANS


def _synthetic_rpa_cohort(n: int = 6000, seed: int = 7) -> tuple[pl.DataFrame, dict[str, float]]:
    """Exponential survival whose group medians are the spec's RPA medians."""
    medians = RPA_MEDIANS
    rng = np.random.default_rng(seed)
    labels = rng.choice(sorted(medians), size=n, p=[0.2, 0.5, 0.3])
    med = np.array([medians[x] for x in labels])
    t = rng.exponential(med / math.log(2))
    c = rng.uniform(0, 60, n)  # administrative censoring
    labels = labels.astype(object)
    labels[:37] = None  # not scorable
    return pl.DataFrame({"days": np.minimum(t, c) * 30.4375, "dead": (t <= c).astype(int),
                         "rpa_class": list(labels)}), medians


def test_validate_recovers_known_group_medians(tmp_path):
    df, medians = _synthetic_rpa_cohort()
    results, images = validate_cohort(df, "days", "dead", unit="days",
                                      groups=["rpa_class=rpa"], use_engine=False)
    (ix,) = results["indices"]
    assert ix["n_total"] == 6000 and ix["n_not_scored"] == 37 and ix["n_scored"] == 5963
    assert ix["not_scored_reasons"][0]["n"] == 37
    by = {g["group"]: g for g in ix["groups"]}
    for label, m in medians.items():
        assert by[label]["published_median"] == m
        assert by[label]["median"] == pytest.approx(m, rel=0.12)
        assert by[label]["ci"][0] <= by[label]["median"] <= by[label]["ci"][1]
    cal = ix["calibration"]
    assert cal["weighted_geometric_mean_ratio"] == pytest.approx(1.0, abs=0.08)
    assert cal["observed_medians_ordered_like_published"] is True
    assert cal["published_within_observed_ci"] >= 2
    assert ix["logrank"]["p"] < 1e-10
    from lifelines.utils import concordance_index

    sc = df.filter(pl.col("rpa_class").is_not_null())
    pred = [medians[x] for x in sc["rpa_class"]]
    expected_c = concordance_index(sc["days"].to_numpy(), pred, sc["dead"].to_numpy())
    assert ix["cindex"]["value"] == pytest.approx(expected_c, abs=1e-12)
    assert ix["cindex"]["value"] > 0.55
    assert images["rpa_class"]["km"][:4] == b"\x89PNG"


def test_validate_cli_writes_self_contained_report(tmp_path, cli):
    df, _ = _synthetic_rpa_cohort(n=800)
    src = tmp_path / "cohort.parquet"
    df.write_parquet(src)
    out = tmp_path / "out"
    res = cli("validate", src, "--time", "days", "--event", "dead", "--unit", "days",
              "--group", "rpa_class=rpa", "--no-engine", "--out", out)
    assert res.exit_code == 0, res.output
    results = json.loads((out / "results.json").read_text())
    assert results["indices"][0]["n_not_scored"] == 37
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "not a medical device" in html
    assert "<script" not in html and 'src="http' not in html
    # bad input: exit 2 naming the field, nothing written
    bad = tmp_path / "bad"
    res = cli("validate", src, "--time", "days", "--event", "dead", "--unit", "weeks",
              "--no-engine", "--out", bad)
    assert res.exit_code == 2 and "--unit" in res.output and not bad.exists()
    res = cli("validate", src, "--time", "days", "--event", "dead", "--group", "rpa_class=gpa_x",
              "--no-engine", "--out", bad)
    assert res.exit_code == 2 and not bad.exists()


def test_validate_with_engine_scores_counts_unscored_and_recovers_medians(monkeypatch):
    rng = np.random.default_rng(3)
    n = 20000
    kps = rng.choice([50, 60, 70, 80, 90, 100], n).astype(float)
    kps[:40] = np.nan  # missing input -> not scored
    df = pl.DataFrame({
        "age": rng.integers(35, 85, n), "kps": kps,
        "primary_site": rng.choice(["nsclc", "breast", "melanoma"], n),
        "extracranial_metastases": rng.random(n) < 0.5,
        "brain_metastases_count": rng.integers(1, 6, n),
        "primary_controlled": rng.random(n) < 0.5,
    }).with_columns(pl.col("kps").fill_nan(None).cast(pl.Int64))
    df = df.with_columns(pl.when(pl.int_range(pl.len()) < 55).then(pl.lit(55))  # invalid KPS
                         .otherwise(pl.col("kps")).alias("kps"))
    # survival drawn from the spec's GPA medians, scored by hand (not by the engine): the engine
    # must put each patient in the same group for the observed medians to come back
    med = _gpa_2008_median(df["age"].to_numpy(), df["kps"].fill_null(0).to_numpy(),
                           df["brain_metastases_count"].to_numpy(),
                           df["extracranial_metastases"].to_numpy())
    med[:55] = 5.0  # not scorable rows (invalid KPS)
    t = rng.exponential(med / math.log(2))
    c = rng.uniform(0, 80, n)
    df = df.with_columns(pl.Series("months", np.minimum(t, c)), pl.Series("dead", (t <= c) * 1))
    results, _ = validate_cohort(df, "months", "dead", indices=["gpa_2008", "rpa"], plots=False)
    import brainmets.cohort.validate as mod

    monkeypatch.setattr(mod, "SCORE_BATCH_ROWS", 997)  # scoring in row batches: same results
    batched, _ = validate_cohort(df, "months", "dead", indices=["gpa_2008", "rpa"], plots=False)
    assert batched == results
    by = {r["index"]: r for r in results["indices"]}
    assert set(by) == {"gpa_2008", "rpa"}
    gpa = by["gpa_2008"]
    assert gpa["n_not_scored"] == 55  # 40 missing KPS overwritten by 55 invalid rows
    reasons = " ".join(r["reason"] for r in gpa["not_scored_reasons"])
    assert "invalid input: kps" in reasons
    assert {g["group"]: g["published_median"] for g in gpa["groups"]} == GPA_MEDIANS
    for g in gpa["groups"]:
        assert g["median"] == pytest.approx(GPA_MEDIANS[g["group"]], rel=0.15)
    assert gpa["calibration"]["weighted_geometric_mean_ratio"] == pytest.approx(1.0, abs=0.08)
    assert gpa["calibration"]["observed_medians_ordered_like_published"] is True
    assert gpa["cindex"]["value"] > 0.55
    assert gpa["cindex"]["predictor"] == "gpa_2008_median_os"
    assert by["rpa"]["n_scored"] == n - 55
