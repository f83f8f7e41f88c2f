import json
from pathlib import Path

import pytest

from brainmets.cohort.batch import scan_jobs
from brainmets.distributed import MARKER, dask_client, run_batch, scheduler_address
from brainmets.imaging.phantom import make_case

CALLS: list[str] = []


def fake_scan(input_path: str, out_dir: str) -> dict:
    """Stands in for the imaging pipeline: fails on a corrupt file like a reader would."""
    CALLS.append(Path(input_path).name)
    data = Path(input_path).read_bytes()
    if not data.startswith(b"\x1f\x8b"):
        raise ValueError(f"not a gzip-compressed NIfTI file: {input_path}")
    (Path(out_dir) / "lesions.json").write_text(json.dumps({"input": input_path, "lesions": []}))
    return {"lesions": 0}


@pytest.fixture(scope="module")
def client():
    with dask_client(None, 2, processes=False, memory_limit="512MiB") as c:
        yield c


def _cases(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    (src / "case1.nii.gz").write_bytes(b"\x1f\x8bfake-1")
    (src / "case2.nii.gz").write_bytes(b"\x1f\x8bfake-2")
    (src / "corrupt.nii.gz").write_bytes(b"this is not an image")
    (src / "notes.txt").write_text("ignored")
    return src


def test_batch_reports_failure_and_resumes(tmp_path, client):
    src, out = _cases(tmp_path), tmp_path / "out"
    jobs, ignored = scan_jobs(src, out)
    assert [j.key for j in jobs] == ["case1", "case2", "corrupt"]
    assert ignored == [str(src / "notes.txt")]
    CALLS.clear()
    s = run_batch(fake_scan, jobs, client, progress=False)
    assert (s["done"], s["failed"], s["skipped_already_done"]) == (2, 1, 0)
    assert s["failures"][0]["input"] == str(src / "corrupt.nii.gz")
    assert "not a gzip-compressed NIfTI" in s["failures"][0]["error"]
    for k in ("case1", "case2"):
        assert (out / k / "lesions.json").is_file() and (out / k / MARKER).is_file()
    assert not (out / "corrupt").exists()
    assert not [p for p in out.iterdir() if ".partial-" in p.name]  # temp folders cleaned

    # resume: finished cases are skipped, only the failed one runs again
    CALLS.clear()
    s = run_batch(fake_scan, jobs, client, progress=False)
    assert (s["done"], s["failed"], s["skipped_already_done"]) == (0, 1, 2)
    assert CALLS == ["corrupt.nii.gz"]

    # an interrupted case (output without marker) and a changed input are redone
    (out / "case1" / MARKER).unlink()
    (src / "corrupt.nii.gz").write_bytes(b"\x1f\x8bfixed")
    CALLS.clear()
    s = run_batch(fake_scan, jobs, client, progress=False)
    assert (s["done"], s["failed"], s["skipped_already_done"]) == (2, 0, 1)
    assert sorted(CALLS) == ["case1.nii.gz", "corrupt.nii.gz"]
    (src / "case2.nii.gz").write_bytes(b"\x1f\x8bchanged!")
    CALLS.clear()
    s = run_batch(fake_scan, jobs, client, progress=False)
    assert CALLS == ["case2.nii.gz"] and s["done"] == 1


def test_scheduler_address_from_env(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.1:8786")
    assert scheduler_address(None) == "tcp://10.0.0.1:8786"
    assert scheduler_address("tcp://h:1") == "tcp://h:1"
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
    assert scheduler_address(None) is None


@pytest.mark.slow
def test_batch_scan_cli_real_pipeline_two_phantoms_one_corrupt(tmp_path, cli):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for seed in (1, 2):  # small skull-stripped 4 mm phantoms keep the test quick
        make_case(seed, tmp_path / f"ph{seed}", voxel_mm=(4.0, 4.0, 4.0), full_head=False,
                  random_orientation=False, n_lesions=1, diameter_range=(12.0, 20.0))
        (src / f"phantom{seed}.nii.gz").write_bytes((tmp_path / f"ph{seed}" / "t1c.nii.gz")
                                                     .read_bytes())
    (src / "corrupt.nii.gz").write_bytes(b"\x1f\x8b garbage")
    # threads: no worker start-up cost (worker processes are covered by the score test)
    res = cli("batch", "scan", src, "--out", out, "--workers", "2", "--threads", "--no-progress")
    assert res.exit_code == 1, res.output  # one failure -> non-zero exit, batch completed
    summary = json.loads((out / "batch-summary.json").read_text())
    assert (summary["done"], summary["failed"]) == (2, 1)
    assert summary["failures"][0]["input"].endswith("corrupt.nii.gz")
    for k in ("phantom1", "phantom2"):
        assert (out / k / "lesions.json").is_file() and (out / k / MARKER).is_file()
    (out / "batch-summary.json").unlink()
    res = cli("batch", "scan", src, "--out", out, "--threads", "--no-progress")
    assert res.exit_code == 1, res.output  # the corrupt file still fails
    summary = json.loads((out / "batch-summary.json").read_text())
    assert (summary["skipped_already_done"], summary["failed"]) == (2, 1)


def test_batch_score_cli_worker_processes(tmp_path, cli):
    import polars as pl

    a, b = tmp_path / "a.csv", tmp_path / "b.parquet"
    pl.DataFrame({"age": [50, 70], "kps": [90, 60], "primary_site": ["nsclc", "breast"],
                  "extracranial_metastases": [False, True], "brain_metastases_count": [1, 4],
                  "primary_controlled": [True, False]}).write_csv(a)
    pl.read_csv(a).write_parquet(b)
    out = tmp_path / "out"
    res = cli("batch", "score", a, b, "--out", out, "--workers", "1", "--no-progress")
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "batch-summary.json").read_text())
    assert (summary["done"], summary["failed"]) == (2, 0)
    scored = pl.read_parquet(out / "a" / "scored.parquet")
    assert scored.get_column("rpa_group").to_list() == ["I", "III"]
    (out / "batch-summary.json").unlink()  # the resume run must write its own summary
    res = cli("batch", "score", a, b, "--out", out, "--workers", "1", "--no-progress")
    assert res.exit_code == 0, res.output  # was "No clients found" when run alone
    summary = json.loads((out / "batch-summary.json").read_text())
    assert (summary["skipped_already_done"], summary["done"], summary["failed"]) == (2, 0, 0)
    assert summary["cluster"] == "none started (nothing to do)"


def test_batch_uses_existing_cluster_from_env(tmp_path, cli, monkeypatch):
    import polars as pl
    from dask.distributed import LocalCluster

    a = tmp_path / "a.csv"
    pl.DataFrame({"age": [50], "kps": [90], "primary_site": ["nsclc"]}).write_csv(a)
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
        monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", cluster.scheduler_address)
        res = cli("batch", "score", a, "--out", tmp_path / "out", "--no-progress")
        assert res.exit_code == 0, res.output
        summary = json.loads((tmp_path / "out" / "batch-summary.json").read_text())
        assert summary["cluster"] == f"cluster at {cluster.scheduler_address}"
        assert summary["done"] == 1
