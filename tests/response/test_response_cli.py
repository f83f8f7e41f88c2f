"""``brainmets response`` CLI: FILE and scan-folder modes, plots, exit 2 on bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from brainmets.cli import app

runner = CliRunner()


def _v17b(record, tp, lesion):
    return record(
        tp("2026-01-10", [lesion("L1", 25, 18), lesion("L2", 15, 10)]),
        tp("2026-03-10", [lesion("L1", 17, 10), lesion("L2", 11, 8)]),
    )


def test_file_json(tmp_path, record, tp, lesion):
    f = tmp_path / "tp.json"
    f.write_text(json.dumps(_v17b(record, tp, lesion)))
    r = runner.invoke(app, ["response", str(f), "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    for key in ("category", "provisional", "baseline_sum_mm", "nadir_sum_mm", "current_sum_mm",
                "targets", "reasons", "source"):
        assert key in out
    assert out["category"] == "PR" and out["provisional"] is True
    assert out["source"] == "RANO-BM, Lin 2015"


def test_file_text_and_plots(tmp_path, record, tp, lesion):
    f = tmp_path / "tp.json"
    f.write_text(json.dumps(_v17b(record, tp, lesion)))
    for name in ("p.png", "p.svg"):
        r = runner.invoke(app, ["response", str(f), "--format", "text", "--plot",
                                str(tmp_path / name)])
        assert r.exit_code == 0, r.output
        assert "PR (provisional)" in r.stdout and f"plot: {tmp_path / name}" in r.stdout
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "p.svg").read_bytes()[:400]
    assert not list(tmp_path.glob(".plot-*"))


def test_option_override(tmp_path, record, tp, lesion):
    f = tmp_path / "tp.json"
    f.write_text(json.dumps(_v17b(record, tp, lesion)))
    r = runner.invoke(app, ["response", str(f), "--option", "absolute_increase_reference=prior"])
    assert r.exit_code == 0 and json.loads(r.stdout)["options"]["absolute_increase_reference"] == (
        "prior"
    )
    r = runner.invoke(app, ["response", str(f), "--option", "small_lesion_rule=guess"])
    assert r.exit_code == 2 and "small_lesion_rule" in r.stderr


def test_bad_file_exit_2(tmp_path, record, tp, lesion):
    rec = _v17b(record, tp, lesion)
    rec["timepoints"].reverse()
    f = tmp_path / "tp.json"
    f.write_text(json.dumps(rec))
    r = runner.invoke(app, ["response", str(f)])
    assert r.exit_code == 2
    assert "error: timepoints[1].date:" in r.stderr
    assert "Traceback" not in r.output


def test_cli_argument_errors(tmp_path, record, tp, lesion):
    f = tmp_path / "tp.json"
    f.write_text(json.dumps(_v17b(record, tp, lesion)))
    cases = [
        (["response", str(f), "--format", "xml"], "--format"),
        (["response", str(f), "--plot", str(tmp_path / "a.pdf")], "--plot"),
        (["response", str(f), "--dates", "2026-01-01"], "--dates"),
        (["response", str(tmp_path / "missing.json")], "no such file"),
        (["response", str(f), str(tmp_path)], "not scan output folders"),
    ]
    for args, needle in cases:
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert needle in r.stderr
    assert not (tmp_path / "a.pdf").exists()


def test_dirs_mode_end_to_end(tmp_path, write_scan):
    a = (1, (-18.0, 10.0, 8.0), 8.0)
    b = (2, (15.0, -12.0, -4.0), 6.0)
    write_scan(tmp_path / "d0", lesions=[a, b], write_image=False)
    write_scan(tmp_path / "d1", lesions=[(4, a[1], 11.0), (2, b[1], 8.0)], shift=(2, 1, -1),
               write_image=False)
    rec_path = tmp_path / "built.json"
    plot = tmp_path / "traj.png"
    r = runner.invoke(app, [
        "response", str(tmp_path / "d0"), str(tmp_path / "d1"), "--dates",
        "2026-01-10,2026-03-01", "--steroids", "0,0", "--clinical", "stable,stable",
        "--plot", str(plot), "--save-record", str(rec_path),
    ])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["category"] == "PD"  # 28 -> 38 mm (+35.7 %), L1 +6 mm
    assert {t["id"]: t["status"] for t in out["tracking"]["tracks"]} == {
        "L1": "persisting", "L2": "persisting"
    }
    assert out["plot"] == str(plot) and plot.exists()
    assert json.loads(rec_path.read_text()) == out["timepoints_record"]
    bad = runner.invoke(app, ["response", str(tmp_path / "d0"), str(tmp_path / "d1"),
                              "--dates", "2026-01-10,2026-02-30"])
    assert bad.exit_code == 2 and "--dates[1]" in bad.stderr
    bad = runner.invoke(app, ["response", str(tmp_path / "d0"), str(tmp_path / "d1")])
    assert bad.exit_code == 2 and "--dates" in bad.stderr
