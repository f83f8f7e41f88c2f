"""Image path: scan-like folders with known motion and lesion changes -> matching + category."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from brainmets.model import InputError
from brainmets.response import evaluate
from brainmets.response.tracking import build_record

A = (1, (-18.0, 10.0, 8.0), 8.0)  # LD 16 -> target
B = (2, (15.0, -12.0, -4.0), 6.0)  # LD 12 -> target
C = (3, (5.0, 25.0, -10.0), 4.0)  # LD 8 -> non-target
D_CENTRE = (-5.0, -25.0, 12.0)


@pytest.fixture(scope="module")
def series(tmp_path_factory, write_scan):
    """Baseline; follow-up 1 (moved 6 deg / 7 mm): A, B shrink, C gone, scan ids renumbered;
    follow-up 2 (moved again): A, B stable, a new lesion D, ids swapped."""
    root = tmp_path_factory.mktemp("series")
    write_scan(root / "t0", lesions=[A, B, C], seed=1, date="2026-01-10")
    write_scan(root / "t1", lesions=[(5, A[1], 5.0), (2, B[1], 4.0)], angles=(3, -2, 6),
               shift=(5, -4, 3), seed=2, date="2026-03-10")
    write_scan(root / "t2", lesions=[(1, B[1], 4.0), (2, A[1], 5.0), (3, D_CENTRE, 3.0)],
               angles=(-4, 3, -5), shift=(-3, 6, -2), seed=3, date="2026-05-10")
    record, tracking = build_record([root / "t0", root / "t1", root / "t2"])
    return root, record, tracking


def _tracks(tracking):
    return {t["id"]: t for t in tracking["tracks"]}


def test_registration_recovers_motion_and_matches(series):
    root, _, tracking = series
    assert all("Euler3D" in r["method"] for r in tracking["registrations"])
    tr = _tracks(tracking)
    assert set(tr) == {"L1", "L2", "L3", "N1"}
    # raw centroids moved by > 5 mm; after registration they land within 2.5 mm of baseline
    raw = json.loads((root / "t1" / "lesions.json").read_text())["lesions"]
    raw_a = np.array(next(r["centroid_mm"] for r in raw if r["id"] == 5))
    assert np.linalg.norm(raw_a - np.array(A[1])) > 5
    for tid in ("L1", "L2"):
        for step in tr[tid]["steps"][1:]:
            assert step["distance_mm"] < 2.5
            assert step["overlap_voxels"] and step["overlap_voxels"] > 0


def test_stable_ids_new_persisting_vanished(series):
    _, _, tracking = series
    tr = _tracks(tracking)
    assert tr["L1"]["status"] == "persisting" and tr["L2"]["status"] == "persisting"
    assert tr["L3"]["status"] == "vanished" and tr["N1"]["status"] == "new"
    # scan-local ids differ per scan; the track ids stay stable
    assert [s["scan_lesion_id"] for s in tr["L1"]["steps"]] == [1, 5, 2]
    assert [s["scan_lesion_id"] for s in tr["L2"]["steps"]] == [2, 2, 1]
    assert tr["N1"]["first_seen"] == "2026-05-10"
    assert any("new lesion N1" in f and "automated detection" in f
               for f in tracking["flags_for_review"])


def test_image_path_category(series):
    _, record, _ = series
    last = record["timepoints"][2]["lesions"][-1]
    assert last["id"] == "N1" and last["new"] is True
    vanished = next(x for x in record["timepoints"][1]["lesions"] if x["id"] == "L3")
    assert vanished["longest_diameter_mm"] == 0
    res = evaluate(record)
    hist = [(h.category, h.provisional) for h in res.history[1:]]
    assert hist == [("PR", True), ("PD", False)]  # -35.7 % then a new lesion
    assert [t.id for t in res.targets] == ["L1", "L2"]
    assert res.non_targets[0].id == "L3" and res.non_targets[0].status == "gone"
    assert res.volumetric is not None and "research only" in res.volumetric["label"]


def test_fallback_to_centroids_without_images(tmp_path, write_scan):
    write_scan(tmp_path / "a", lesions=[A, B, C], write_image=False)
    write_scan(tmp_path / "b", lesions=[(7, A[1], 8.0), (9, B[1], 6.0)], shift=(2, -3, 1),
               write_image=False)
    write_scan(tmp_path / "c", lesions=[(1, A[1], 8.0), (2, B[1], 6.0), (3, C[1], 4.0)],
               shift=(-1, 2, 2), write_image=False)
    dates = [dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)]
    record, tracking = build_record([tmp_path / x for x in "abc"], dates)
    assert all("fallback" in r["method"] for r in tracking["registrations"])
    assert any("fell back" in f for f in tracking["flags_for_review"])
    tr = _tracks(tracking)
    assert [s["scan_lesion_id"] for s in tr["L1"]["steps"]] == [1, 7, 1]
    # C vanished then came back at the same place: same track, not a new lesion
    assert [s["scan_lesion_id"] for s in tr["L3"]["steps"]] == [3, None, 3]
    assert set(tr) == {"L1", "L2", "L3"}
    assert evaluate(record).category == "SD"


def test_dates_required(tmp_path, write_scan):
    write_scan(tmp_path / "a", lesions=[A], write_image=False)
    write_scan(tmp_path / "b", lesions=[A], write_image=False)
    with pytest.raises(InputError) as exc:
        build_record([tmp_path / "a", tmp_path / "b"])
    assert "--dates" in exc.value.messages[0]
    with pytest.raises(InputError) as exc:
        build_record([tmp_path / "a", tmp_path / "b"], [dt.date(2026, 1, 1)])
    assert exc.value.messages[0].startswith("--dates: 1 values for 2")


def test_bad_scan_folder(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError) as exc:
        build_record([tmp_path / "x", tmp_path / "x"])
    assert "lesions.json: missing" in exc.value.messages[0]
    (tmp_path / "x" / "lesions.json").write_text('{"lesions": [{"id": 1}]}')
    with pytest.raises(InputError) as exc:
        build_record([tmp_path / "x", tmp_path / "x"])
    assert any("lesions[0].centroid_mm: required" in m for m in exc.value.messages)


def test_date_from_dicom_header(tmp_path, write_scan):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from brainmets.response.tracking import load_scan_dir

    dcm = tmp_path / "dicom"
    dcm.mkdir()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyDate = "20260214"
    ds.save_as(dcm / "a.dcm", enforce_file_format=True)
    (dcm / "0_notes.txt").write_text("not dicom")  # sorted first: must be skipped
    out = write_scan(tmp_path / "s", lesions=[A], write_image=False)
    meta = json.loads((out / "lesions.json").read_text())
    meta["input"] = str(dcm)
    (out / "lesions.json").write_text(json.dumps(meta))
    assert load_scan_dir(out).date == dt.date(2026, 2, 14)


def test_folders_out_of_order(tmp_path, write_scan):
    write_scan(tmp_path / "a", lesions=[A], write_image=False, date="2026-03-01")
    write_scan(tmp_path / "b", lesions=[A], write_image=False, date="2026-01-01")
    with pytest.raises(InputError) as exc:
        build_record([tmp_path / "a", tmp_path / "b"])
    assert "oldest first" in exc.value.messages[0]
