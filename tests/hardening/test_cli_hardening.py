"""Issue #17 bullet 5: no traceback reaches a CLI user; score keeps going past bad rows.

Before the fix: ``assess`` on 100k-deep JSON gave a RecursionError traceback (exit 1); ``scan``
and ``score`` with an unwritable output path gave a FileNotFoundError traceback; one malformed
CSV row or one bad JSONL line failed the whole file; rows with missing values got blank scores
with no reason; the errors file was ``OUT.csv.errors.csv`` instead of ``OUT.errors.csv``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

HEADER = ("id,age,kps,primary_site,primary_histology,primary_egfr,primary_alk,"
          "extracranial_metastases,brain_metastases_count,primary_controlled")


def _cli(*args) -> tuple[int, str, str]:
    from brainmets.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception  # a traceback would have reached the user
    return r.exit_code, r.stdout, r.stderr


def _main(*args, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from brainmets.cli import main; main()",
                           *map(str, args)], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def _one_line_error(stderr: str) -> None:
    assert "Traceback" not in stderr
    lines = [x for x in stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr


def test_assess_deep_json_exits_2_without_traceback(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    res = _main("assess", deep)
    assert res.returncode == 2, res.stderr
    _one_line_error(res.stderr)
    assert "nested too deeply" in res.stderr
    obj = tmp_path / "deepobj.json"  # parseable by json but deep inside a record
    obj.write_text(json.dumps({"age": 60, "primary": {"site": "nsclc", "x": [[[[[[[[[]]]]]]]]]}}))
    code, _out, err = _cli("assess", obj)
    assert code in (0, 2) and "Traceback" not in err


@pytest.mark.parametrize("bad_out", ["file/sub", "missing/dir/x"])
def test_score_unwritable_output_exits_2(tmp_path, bad_out):
    src = tmp_path / "in.csv"
    src.write_text(HEADER + "\np1,62,90,nsclc,adenocarcinoma,positive,negative,false,3,true\n")
    (tmp_path / "file").write_text("a file, not a folder")
    res = _main("score", src, "-o", tmp_path / f"{bad_out}.csv")
    assert res.returncode == 2, res.stderr
    _one_line_error(res.stderr)
    assert "OUTPUT" in res.stderr


@pytest.mark.parametrize("bad_out", ["file/sub", "missing/dir/x", "/proc/brainmets-out"])
def test_scan_unwritable_output_exits_2(tmp_path, hhelpers, bad_out):
    nii = hhelpers.tiny_nifti(tmp_path / "t.nii.gz")
    (tmp_path / "file").write_text("a file, not a folder")
    out = bad_out if bad_out.startswith("/") else tmp_path / bad_out
    code, _out, err = _cli("scan", nii, "--out", out)
    assert code == 2, err
    _one_line_error(err)
    assert "--out" in err


def test_internal_error_exit_1_with_debug_hint(tmp_path, monkeypatch):
    import brainmets.prognosis.scoring_io as sio

    def boom(*a, **k):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(sio, "score_file", boom)
    src = tmp_path / "in.csv"
    src.write_text(HEADER + "\n")
    code, _out, err = _cli("score", src, "-o", tmp_path / "o.csv")
    assert code == 1
    _one_line_error(err)
    assert "ZeroDivisionError" in err and "--debug" in err
    from brainmets.commands import _common

    try:
        with pytest.raises(ZeroDivisionError):
            _cli("--debug", "score", src, "-o", tmp_path / "o.csv")
    finally:
        _common.DEBUG["on"] = False


def test_score_malformed_csv_row_leaves_good_rows_scored(tmp_path):
    src = tmp_path / "cohort.csv"
    src.write_text("\n".join([
        HEADER,
        "p1,62,90,nsclc,adenocarcinoma,positive,negative,false,3,true",
        "p2,60,80,nsclc,adenocarcinoma,negative,negative,false,1,true,EXTRA",  # 11 fields
        "p3,70,80,renal,,,,true",  # 8 fields
        "p4,500,80,nsclc,adenocarcinoma,negative,negative,false,2,true",  # age out of range
        "p5,55,70,melanoma,,,,false,1,",  # valid; RPA misses primary_controlled
    ]) + "\n")
    out = tmp_path / "scored.csv"
    code, _o, err = _cli("score", src, "-o", out)
    assert code == 0, err
    df = pl.read_csv(out)
    assert df.get_column("id").to_list() == ["p1", "p4", "p5"]
    rows = {r["id"]: r for r in df.to_dicts()}
    # docs/score-columns.md / prognosis.md: p1 Lung-molGPA 2017 = 4.0 (as test_cli_score)
    assert rows["p1"]["lung_molgpa_2017_score"] == 4.0
    assert rows["p4"]["gpa_2008_score"] is None
    assert "primary_controlled" in rows["p5"]["missing_inputs"]
    assert rows["p5"]["missing_inputs"].startswith("rpa: ")
    errors_path = tmp_path / "scored.errors.csv"  # the documented name, not scored.csv.errors.csv
    assert errors_path.exists() and not (tmp_path / "scored.csv.errors.csv").exists()
    errs = pl.read_csv(errors_path).to_dicts()
    by_row = {e["row"]: e for e in errs}
    assert set(by_row) == {2, 3, 4}
    assert "expected 10 fields" in by_row[2]["reason"] and "got 11" in by_row[2]["reason"]
    assert "got 8" in by_row[3]["reason"]
    assert by_row[4]["field"] == "age" and "500" in by_row[4]["reason"]
    assert "2 unreadable rows" in err


def test_score_bad_jsonl_line_leaves_others_scored(tmp_path):
    good = {"id": "a", "age": 55, "kps": 80, "primary": {"site": "melanoma", "braf": "positive"},
            "extracranial_metastases": False, "brain_metastases": {"count": 1}}
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([json.dumps(good), "{not json", "[1, 2]",
                              json.dumps({**good, "id": "b"})]) + "\n")
    out = tmp_path / "out.parquet"
    code, _o, err = _cli("score", src, "-o", out)
    assert code == 0, err
    assert pl.read_parquet(out).get_column("id").to_list() == ["a", "b"]
    errs = pl.read_csv(tmp_path / "out.errors.csv").to_dicts()
    assert [(e["row"], e["field"]) for e in errs] == [(2, "(row)"), (3, "(row)")]
    assert "invalid JSON" in errs[0]["reason"] and "JSON object" in errs[1]["reason"]


def test_score_failure_leaves_nothing_half_written(tmp_path, monkeypatch):
    import brainmets.prognosis.scoring_io as sio

    src = tmp_path / "in.csv"
    src.write_text(HEADER + "\n" + "\n".join(
        f"p{i},62,90,nsclc,adenocarcinoma,positive,negative,false,3,true" for i in range(10)))
    real = sio.score_frame
    calls = {"n": 0}

    def flaky(df, row_offset=0):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("simulated")
        return real(df, row_offset)

    monkeypatch.setattr(sio, "score_frame", flaky)
    code, _o, err = _cli("score", src, "-o", tmp_path / "o.csv", "--batch-size", "3")
    assert code == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
