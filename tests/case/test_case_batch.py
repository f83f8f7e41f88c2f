"""Dask batch scan: a patient record beside an image gives case.json from the one composer."""

from __future__ import annotations

import json

from brainmets.cohort.batch import scan_jobs, scan_task


def test_batch_scan_composes_the_case_when_a_record_is_beside_the_image(tmp_path, phantom_mri):
    src = tmp_path / "in"
    src.mkdir()
    (src / "case1.nii.gz").write_bytes(phantom_mri.read_bytes())
    (src / "case1.json").write_text(json.dumps({"age": 62, "kps": 80,
                                                "primary": {"site": "breast"}}))
    (src / "case2.nii.gz").write_bytes(phantom_mri.read_bytes())
    (src / "notes.txt").write_text("ignored")
    jobs, ignored = scan_jobs(src, tmp_path / "out")
    assert [j.key for j in jobs] == ["case1", "case2"]
    assert ignored == [str(src / "notes.txt")]  # the record is used, not ignored
    out1, out2 = tmp_path / "o1", tmp_path / "o2"
    out1.mkdir()
    out2.mkdir()
    info = scan_task(jobs[0].input, str(out1))
    case = json.loads((out1 / "case.json").read_text())
    lesions = json.loads((out1 / "lesions.json").read_text())["lesions"]
    assert info["case"] == "case.json" and info["lesions_used"] == len(lesions) > 0
    # CONTRACT §2/§5: detected lesions, diameter = longest axial diameter, provisional
    assert [x["diameter_mm"] for x in case["lesions"]] == [
        x["longest_axial_diameter_mm"] for x in lesions]
    assert case["provisional"] is True and info["provisional"] is True
    assert "case" not in scan_task(jobs[1].input, str(out2))
    assert not (out2 / "case.json").exists()


def test_a_changed_record_redoes_the_batch_case(tmp_path):
    from brainmets.distributed import is_done, run_job

    src = tmp_path / "in"
    src.mkdir()
    (src / "case1.nii.gz").write_bytes(b"\x1f\x8bfake")
    (src / "case1.json").write_text(json.dumps({"age": 62}))
    (job,) = scan_jobs(src, tmp_path / "out")[0]
    assert job.depends == (str(src / "case1.json"),)
    assert run_job(lambda _i, _o: {"ok": True}, job)["status"] == "done" and is_done(job)
    (src / "case1.json").write_text(json.dumps({"age": 63, "kps": 80}))
    assert not is_done(job)
