import json

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_lung
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import median_survival_times


def test_km_cli_equals_lifelines_on_ncctg_lung_by_ecog(lung_csv, cli, tmp_path):
    plot = tmp_path / "km.png"
    res = cli("km", lung_csv, "--time", "time", "--event", "status", "--group", "ph.ecog",
              "--plot", plot)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    d = load_lung().dropna(subset=["ph.ecog"])
    expected_groups = sorted(d["ph.ecog"].unique())
    assert [g["group"] for g in out["groups"]] == [str(int(v)) for v in expected_groups]
    for g, value in zip(out["groups"], expected_groups, strict=True):
        sub = d[d["ph.ecog"] == value]
        kmf = KaplanMeierFitter().fit(sub["time"], sub["status"])
        lo, hi = np.asarray(median_survival_times(kmf.confidence_interval_)).ravel()
        assert g["n"] == len(sub)
        assert g["events"] == int(sub["status"].sum())
        assert g["median"] == pytest.approx(kmf.median_survival_time_)
        assert g["ci"] == [pytest.approx(lo), pytest.approx(hi)]
    p = multivariate_logrank_test(d["time"], d["ph.ecog"], d["status"]).p_value
    assert out["logrank_p"] == pytest.approx(p, rel=1e-9)
    assert out["excluded"]["missing_ph.ecog"] == 1
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_km_text_format_and_bad_input(lung_csv, cli, tmp_path):
    res = cli("km", lung_csv, "--time", "time", "--event", "status", "--format", "text")
    assert res.exit_code == 0 and "all" in res.output
    res = cli("km", lung_csv, "--time", "nope", "--event", "status")
    assert res.exit_code == 2 and "nope: no such column" in res.output
    res = cli("km", lung_csv, "--time", "time", "--event", "age")
    assert res.exit_code == 2 and "age: expected 0/1" in res.output
    bad = tmp_path / "x.xlsx"
    bad.write_text("x")
    res = cli("km", bad, "--time", "time", "--event", "status")
    assert res.exit_code == 2 and "unsupported file type" in res.output
