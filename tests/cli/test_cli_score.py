"""``brainmets score``: CSV / Parquet / JSON Lines, errors sidecar, bad files (exit 2)."""

from __future__ import annotations

import json

import polars as pl
import pytest

CSV = (
    "id,age,kps,primary_site,primary_histology,primary_egfr,extracranial_metastases,"
    "brain_metastases_count,primary_controlled,labs_hemoglobin_g_dl,extra_col\n"
    "p1,62,90,nsclc,adenocarcinoma,positive,false,3,true,12.0,x\n"
    "p2,abc,85,lung,,pos,maybe,-1,,,y\n"
    "p3,70,80,renal,,,true,2,false,11.15,z\n"
)


@pytest.fixture
def cohort_csv(tmp_path):
    p = tmp_path / "cohort.csv"
    p.write_text(CSV, encoding="utf-8")
    return p


@pytest.mark.parametrize("ext", [".csv", ".parquet", ".jsonl"])
def test_score_csv_to_each_format(cli, cohort_csv, tmp_path, ext):
    out = tmp_path / f"scored{ext}"
    res = cli("score", cohort_csv, "-o", out)
    assert res.exit_code == 0, res.output
    df = {".csv": pl.read_csv, ".parquet": pl.read_parquet, ".jsonl": pl.read_ndjson}[ext](out)
    assert df.height == 3
    assert df.get_column("extra_col").to_list() == ["x", "y", "z"]
    rows = {r["id"]: r for r in df.to_dicts()}
    assert rows["p1"]["lung_molgpa_2017_score"] == 4.0
    assert rows["p1"]["lung_molgpa_2017_median_os"] == 46.8
    assert rows["p1"]["rpa_group"] == "I" and rows["p1"]["rpa_score"] is None
    # p3: renal, KPS 80 (1) + ECM (0) + Hb 11.15 -> 11.2 (0.5) + 2 BM (0.5) = 2.0
    assert rows["p3"]["renal_gpa_2018_score"] == 2.0
    assert rows["p3"]["renal_gpa_2018_group"] == "1.5-2.0"
    assert all(rows["p2"][c] is None for c in df.columns if c.endswith(("_score", "_group")))
    errors = pl.read_csv(tmp_path / "scored.errors.csv")
    assert set(errors.get_column("row").to_list()) == {2}
    fields = dict(zip(errors["field"], errors["reason"], strict=True))
    assert fields["age"] == "expected a number, got 'abc'"
    assert "steps of 10, got 85" in fields["kps"]
    assert "got 'lung'" in fields["primary_site"]
    assert "got 'pos'" in fields["primary_egfr"]
    assert "got 'maybe'" in fields["extracranial_metastases"]
    assert "brain_metastases_count" in fields
    assert "1 invalid rows" in res.stderr


def test_score_nested_jsonl_and_parquet_input(cli, tmp_path):
    recs = [{"id": "a", "age": 55, "kps": 80, "primary": {"site": "melanoma", "braf": "positive"},
             "extracranial_metastases": False, "brain_metastases": {"count": 1}}]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in recs) + "\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    res = cli("score", src, "-o", out)
    assert res.exit_code == 0, res.output
    row = pl.read_parquet(out).to_dicts()[0]
    assert row["melanoma_molgpa_2017_score"] == 3.5
    assert row["melanoma_molgpa_2017_median_os"] == 34.1
    out2 = tmp_path / "again.csv"
    assert cli("score", out, "-o", out2).exit_code == 0
    assert pl.read_csv(out2)["melanoma_molgpa_2017_score"].to_list() == [3.5]


def test_score_batches_match_single_pass(cli, cohort_csv, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cli("score", cohort_csv, "-o", a).exit_code == 0
    assert cli("score", cohort_csv, "-o", b, "--batch-size", "1").exit_code == 0
    assert a.read_text() == b.read_text()
    err_a, err_b = tmp_path / "a.errors.csv", tmp_path / "b.errors.csv"
    assert err_a.read_text() == err_b.read_text()


def test_score_bad_files_exit_2(cli, cohort_csv, tmp_path):
    res = cli("score", tmp_path / "none.csv", "-o", tmp_path / "o.csv")
    assert res.exit_code == 2 and "INPUT: no such file" in res.stderr
    res = cli("score", cohort_csv, "-o", tmp_path / "o.xlsx")
    assert res.exit_code == 2 and "OUTPUT: unsupported extension" in res.stderr
    txt = tmp_path / "in.txt"
    txt.write_text("a", encoding="utf-8")
    res = cli("score", txt, "-o", tmp_path / "o.csv")
    assert res.exit_code == 2 and "INPUT: unsupported extension" in res.stderr
    other = tmp_path / "other.csv"
    other.write_text("foo,bar\n1,2\n", encoding="utf-8")
    res = cli("score", other, "-o", tmp_path / "o.csv")
    assert res.exit_code == 2 and "patient column" in res.stderr
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet", encoding="utf-8")
    res = cli("score", bad, "-o", tmp_path / "o.csv")
    assert res.exit_code == 2 and "cannot read" in res.stderr
    res = cli("score", cohort_csv, "-o", tmp_path / "missing_dir" / "o.csv")
    assert res.exit_code == 2 and "folder does not exist" in res.stderr
    assert not (tmp_path / "o.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_score_table_api_pandas_and_polars():
    import pandas as pd

    import brainmets

    pdf = pd.DataFrame({"age": [48], "kps": [90], "brain_metastases_count": [1],
                        "extracranial_metastases": [False], "primary_site": ["other"]})
    out = brainmets.score(pdf)
    assert isinstance(out, pd.DataFrame)
    assert out.loc[0, "gpa_2008_score"] == 4.0 and out.loc[0, "gpa_2008_median_os"] == 11.0
    pout = brainmets.score(pl.from_pandas(pdf))
    assert isinstance(pout, pl.DataFrame) and pout["gpa_2008_group"].to_list() == ["3.5-4.0"]


def test_docs_list_every_column():
    from pathlib import Path

    from brainmets.prognosis.columns import column_specs
    from brainmets.prognosis.tables import INDEX_IDS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "score-columns.md").read_text()
    for col in column_specs():
        assert f"`{col}`" in doc, col
    for idx in INDEX_IDS:
        assert f"`{idx}`" in doc, idx
