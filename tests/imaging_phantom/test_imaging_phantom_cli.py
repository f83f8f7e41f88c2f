"""CLI: ``brainmets evaluate`` on a phantom and ``brainmets phantom`` input checks."""

from __future__ import annotations

import json
import shutil

import nibabel as nib
import numpy as np
from typer.testing import CliRunner

from brainmets.cli import app

runner = CliRunner()


def _pred_from_truth(small_case, pred_root, drop=None, fp=False):
    out, _ = small_case
    img = nib.load(str(out / "truth.nii.gz"))
    lab = np.asarray(img.dataobj).copy()
    if drop is not None:
        lab[lab == drop] = 0
    if fp:
        lab[1:3, 1:3, 1:3] = 50
    d = pred_root / out.name
    d.mkdir(parents=True)
    nib.save(nib.Nifti1Image(lab, img.affine), str(d / "lesions.nii.gz"))


def _truth_root(small_case, tmp_path):
    out, _ = small_case
    root = tmp_path / "truth"
    shutil.copytree(out, root / out.name)
    return root


def test_evaluate_perfect_and_imperfect(small_case, tmp_path):
    _, truth = small_case
    troot = _truth_root(small_case, tmp_path)
    _pred_from_truth(small_case, tmp_path / "perfect")
    r = runner.invoke(app, ["evaluate", str(tmp_path / "perfect"), str(troot), "--format", "json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)["summary"]
    assert s["sensitivity_overall"] == 1.0 and s["fp_per_scan"] == 0
    assert s["brats_lesionwise_dice"] == 1.0
    assert sum(t for _, t in s["detected_of_total"].values()) == len(truth["lesions"])

    _pred_from_truth(small_case, tmp_path / "worse", drop=1, fp=True)
    r = runner.invoke(app, ["evaluate", str(tmp_path / "worse"), str(troot), "--format", "json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.output)["summary"]
    n = len(truth["lesions"])
    assert s["sensitivity_overall"] == round((n - 1) / n, 4)
    assert s["fp_per_scan"] == 1.0
    r = runner.invoke(app, ["evaluate", str(tmp_path / "worse"), str(troot)])
    assert r.exit_code == 0 and "false positives per scan" in r.output


def test_evaluate_bad_input(small_case, tmp_path):
    troot = _truth_root(small_case, tmp_path)
    (tmp_path / "empty").mkdir()
    r = runner.invoke(app, ["evaluate", str(tmp_path / "empty"), str(troot)])
    assert r.exit_code == 2 and "no lesions.nii.gz" in r.output
    r = runner.invoke(app, ["evaluate", str(tmp_path / "nope"), str(troot)])
    assert r.exit_code == 2 and "PRED_DIR" in r.output
    bad = tmp_path / "bad" / "case_000"
    bad.mkdir(parents=True)
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.int16), np.eye(4)), str(bad / "lesions.nii.gz"))
    r = runner.invoke(app, ["evaluate", str(tmp_path / "bad"), str(troot)])
    assert r.exit_code == 2 and "grid" in r.output
    (bad / "lesions.nii.gz").write_bytes(b"not a nifti")
    r = runner.invoke(app, ["evaluate", str(tmp_path / "bad"), str(troot)])
    assert r.exit_code == 2 and "error:" in r.output


def test_phantom_cli_bad_options(tmp_path):
    for args in (["--voxel", "1,x"], ["--voxel", "0.1"], ["--cases", "0"], ["--followups", "-1"]):
        r = runner.invoke(app, ["phantom", str(tmp_path / "o"), *args])
        assert r.exit_code == 2, (args, r.output)
        assert "error:" in r.output
    assert not (tmp_path / "o").exists()


def test_phantom_cli_writes_case(tmp_path):
    r = runner.invoke(app, ["phantom", str(tmp_path / "o"), "--cases", "1", "--seed", "4",
                            "--voxel", "3", "--lesions", "2"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["cases"][0]["lesions"] == 2
    assert (tmp_path / "o" / "case_000" / "t1c.nii.gz").is_file()
