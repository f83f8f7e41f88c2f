"""Issue #17 bullet 6: a Hypothesis fuzz of more than 10,000 generated records and files over
``assess``, ``score`` and the upload path, in-process (no subprocess per case, well under 60 s).

Pass criteria, per case: no exception other than the deliberate ones (InputError / exit 2 for
records, TableError for files, UploadError with a 4xx status for uploads, never the upload
path's catch-all "could not be read (ExceptionType)"), and nothing half-written: a refused
upload leaves no staging folder, a refused or failed score run leaves no output file and no
temporary file, a successful one leaves the output and its errors file, both readable.

The number of cases run is written to test-artifacts/hardening/fuzz-counts.json."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import zipfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::UserWarning:zipfile"),  # generated names
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]  # NaN in fuzzed headers

COUNTS: dict[str, int] = {}


def fuzz(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

# ------------------------------------------------------------------------------ records

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                         max_size=2))
STATUS = st.sampled_from(["positive", "negative", "unknown"])
SITES = st.sampled_from(["nsclc", "sclc", "breast", "melanoma", "renal", "gi", "other",
                         "unknown"])


def _maybe(plausible):
    """Mostly plausible values (so assess runs deep), sometimes junk (so refusals are hit)."""
    return st.integers(0, 11).flatmap(lambda k: JUNK if k == 0 else plausible)


def _opt(d: dict) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional={k: _maybe(v) for k, v in d.items()})


PRIMARY = _opt({"site": SITES, "histology": st.sampled_from(["adenocarcinoma", "squamous",
                                                             "other"]),
                "controlled": st.booleans(), "egfr": STATUS, "alk": STATUS, "ros1": STATUS,
                "braf": STATUS, "er": STATUS, "pr": STATUS, "her2": STATUS,
                "pdl1_tps": st.floats(0, 100)})
LESION = _opt({"diameter_mm": st.floats(0, 80), "volume_ml": st.floats(0, 60),
               "location": st.sampled_from(["supratentorial", "cerebellum", "brainstem"])})
BM = _opt({"count": st.integers(0, 30), "leptomeningeal": st.booleans(),
           "lesions": st.lists(LESION, max_size=4)})
RECORD = st.fixed_dictionaries(
    {"age": _maybe(st.integers(18, 100)), "kps": _maybe(st.sampled_from(range(0, 101, 10)))},
    optional={
        "sex": _maybe(st.sampled_from(["female", "male", "other"])),
        "ecog": _maybe(st.integers(0, 4)), "primary": _maybe(PRIMARY),
        "extracranial_metastases": _maybe(st.booleans()), "brain_metastases": _maybe(BM),
        "symptoms": _maybe(_opt({"status": st.sampled_from(["asymptomatic", "mild_controlled",
                                                            "symptomatic"]),
                                 "severe_icp": st.booleans(),
                                 "seizure_history": st.booleans()})),
        "therapy": _maybe(_opt({"systemic_options_available": st.booleans(),
                                "on_immunotherapy": st.booleans(),
                                "dexamethasone_mg_day": st.floats(0, 40)})),
        "labs": _maybe(_opt({"hemoglobin_g_dl": st.floats(3, 20),
                             "crp_mg_l": st.floats(0, 300)})),
        "unexpected_field": JUNK,
    })


def test_fuzz_assess_records():
    from brainmets.assessment import assess
    from brainmets.model import InputError, parse_patient

    n = {"ok": 0, "refused": 0}

    @fuzz(1200)
    @given(rec=RECORD)
    def run(rec):
        try:
            p = parse_patient(rec)
        except InputError as exc:
            assert exc.messages and all(isinstance(m, str) and m for m in exc.messages)
            n["refused"] += 1
            return
        a = assess(p)
        json.dumps(a.model_dump(mode="json"))  # the CONTRACT §2 JSON can be written
        n["ok"] += 1

    run()
    COUNTS["assess_records"] = n["ok"] + n["refused"]
    assert n["ok"] > 300 and n["refused"] > 100, n  # both paths really exercised


def test_fuzz_assess_cli(tmp_path):
    """Through the command itself (files, exit codes): exit 0 or 2, never a traceback."""
    from typer.testing import CliRunner

    from brainmets.cli import app

    runner = CliRunner()
    n = {"cases": 0}
    src = tmp_path / "p.json"

    @fuzz(60)
    @given(recs=st.one_of(RECORD, st.lists(RECORD, max_size=3), JUNK))
    def run(recs):
        src.write_text(json.dumps(recs, allow_nan=True))
        r = runner.invoke(app, ["assess", str(src), "--format", "json"])
        assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
        assert r.exit_code in (0, 2), r.stderr
        if r.exit_code == 0:
            json.loads(r.stdout)
        n["cases"] += 1

    run()
    COUNTS["assess_cli_files"] = n["cases"]


# ------------------------------------------------------------------------------ score

CELL = st.one_of(st.text(alphabet="0123456789.-e abcnstrufl", max_size=6),
                 st.sampled_from(["", "62", "80", "90", "nsclc", "breast", "melanoma", "true",
                                  "false", "positive", "negative", "3", "NaN", "inf", "-1",
                                  "1e309", "120", "17", "adenocarcinoma", "yes"]))
COLS = ["id", "age", "kps", "ecog", "primary_site", "primary_histology", "primary_egfr",
        "primary_alk", "primary_braf", "primary_controlled", "extracranial_metastases",
        "brain_metastases_count", "labs_hemoglobin_g_dl"]


VOCAB = ["", "62", "80", "90", "nsclc", "breast", "melanoma", "renal", "gi", "true", "false",
         "positive", "negative", "unknown", "3", "NaN", "inf", "-1", "1e309", "120", "17",
         "adenocarcinoma", "squamous", "yes", "11.15", "0", "100", "55", "abc", " 80 "]


def _more_rows(seed: int, k: int) -> list[list[str]]:
    """``k`` further rows from a seeded generator (cheap), mixing vocabulary and noise."""
    import random

    rnd = random.Random(seed)
    return [[rnd.choice(VOCAB) if rnd.random() < 0.9 else str(rnd.uniform(-1e3, 1e3))
             for _ in COLS] for _ in range(k)]


def test_fuzz_score_frames():
    from brainmets.prognosis.scoring_io import missing_inputs
    from brainmets.prognosis.vectorized import score_frame

    n = {"rows": 0}

    @fuzz(120)
    @given(rows=st.lists(st.lists(CELL, min_size=len(COLS), max_size=len(COLS)), min_size=1,
                         max_size=15), seed=st.integers(0, 2**32), extra=st.integers(80, 120))
    def run(rows, seed, extra):
        df = pl.DataFrame(rows + _more_rows(seed, extra), schema=COLS, orient="row")
        scored, errors = score_frame(df)
        assert scored.height == df.height
        miss = missing_inputs(df, scored)
        assert miss.len() == df.height
        if errors.height:
            assert errors.get_column("row").min() >= 1
            assert errors.get_column("row").max() <= df.height
        n["rows"] += df.height

    run()
    COUNTS["score_rows"] = n["rows"]
    assert n["rows"] >= 9000


def _csv_text(rows: list[list[str]], extra: list[int]) -> str:
    lines = [",".join(COLS)]
    for i, r in enumerate(rows):
        cells = list(r) + (["X"] * extra[i % len(extra)] if extra else [])
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


FILES = st.one_of(
    st.tuples(st.just(".csv"), st.builds(
        _csv_text, st.lists(st.lists(CELL, min_size=len(COLS) - 2, max_size=len(COLS)),
                            max_size=12),
        st.lists(st.integers(0, 2), max_size=3))),
    st.tuples(st.just(".jsonl"), st.lists(st.one_of(
        st.builds(lambda r: json.dumps(r, allow_nan=True), RECORD),
        st.text(max_size=20)), max_size=8).map("\n".join)),
    st.tuples(st.sampled_from([".csv", ".jsonl", ".parquet"]), st.text(max_size=60)),
)


def test_fuzz_score_files(tmp_path):
    from brainmets.prognosis.scoring_io import TableError, score_file

    n = {"ok": 0, "refused": 0}
    work = tmp_path / "w"
    work.mkdir()

    @fuzz(80)
    @given(f=FILES, out_ext=st.sampled_from([".csv", ".jsonl", ".parquet"]))
    def run(f, out_ext):
        ext, text = f
        for p in work.iterdir():
            p.unlink()
        src = work / f"in{ext}"
        src.write_text(text, encoding="utf-8")
        out = work / f"out{out_ext}"
        try:
            summary = score_file(src, out, batch_size=5)
        except TableError as exc:
            assert str(exc).startswith(("INPUT", "OUTPUT")), exc
            assert sorted(p.name for p in work.iterdir()) == [src.name]  # nothing written
            n["refused"] += 1
            return
        names = sorted(p.name for p in work.iterdir())
        assert names == sorted([src.name, out.name, "out.errors.csv"]), names  # no temp file
        reader = {".csv": pl.read_csv, ".jsonl": pl.read_ndjson, ".parquet": pl.read_parquet}
        if summary.rows - summary.malformed_rows:
            assert reader[out_ext](out).height == summary.rows - summary.malformed_rows
        errs = pl.read_csv(work / "out.errors.csv")
        assert errs.columns == ["row", "field", "reason"]
        n["ok"] += 1

    run()
    COUNTS["score_files"] = n["ok"] + n["refused"]
    assert n["ok"] > 20, n


# ------------------------------------------------------------------------------ uploads

DTYPES = [2, 4, 8, 16, 64, 256, 512, 768, 128, 32, 2304, 0, 1, 1024]  # valid and invalid codes


def _nifti_bytes(dims, datatype, bitpix, vox_offset, pixdim, data_len, fill, patch) -> bytes:
    hdr = bytearray(352)
    struct.pack_into("<i", hdr, 0, 348)
    struct.pack_into("<8h", hdr, 40, len(dims), *(list(dims) + [1] * (7 - len(dims))))
    struct.pack_into("<hh", hdr, 70, datatype, bitpix)
    struct.pack_into("<8f", hdr, 76, 1.0, *(list(pixdim) + [1.0] * (7 - len(pixdim))))
    struct.pack_into("<f", hdr, 108, vox_offset)
    struct.pack_into("<f", hdr, 112, 1.0)  # scl_slope
    struct.pack_into("<hh", hdr, 252, 1, 0)  # qform_code, sform_code
    hdr[344:348] = b"n+1\0"
    for pos, val in patch:
        hdr[pos % 348] = val
    return bytes(hdr) + (struct.pack("<f", fill) * (data_len // 4 + 1))[:data_len]


NIFTI = st.builds(
    _nifti_bytes,
    dims=st.lists(st.integers(-2, 600), min_size=1, max_size=5),
    datatype=st.sampled_from(DTYPES), bitpix=st.sampled_from([8, 16, 32, 64, 0, 7]),
    vox_offset=st.sampled_from([352.0, 0.0, 348.0, -5.0, 1e9, float("nan")]),
    pixdim=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=3,
                    max_size=4),
    data_len=st.integers(0, 40_000),
    fill=st.sampled_from([1.0, 100.0, float("nan"), float("inf"), 0.0]),
    patch=st.lists(st.tuples(st.integers(0, 347), st.integers(0, 255)), max_size=3),
)


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name.replace("\0", "") or "x", data)  # NUL ends a zip name
    return buf.getvalue()


UPLOAD = st.one_of(
    st.binary(max_size=600),
    NIFTI,
    NIFTI.map(gzip.compress),
    NIFTI.map(lambda b: gzip.compress(b)[: max(10, len(b) // 7)]),  # truncated gzip
    st.lists(st.tuples(st.text(max_size=12), st.one_of(st.binary(max_size=300), NIFTI)),
             max_size=4).map(_zip_bytes),
    st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b),
    st.binary(max_size=300).map(lambda b: b"\x1f\x8b\x08\x00" + b),
)


def _valid_volume() -> bytes:
    import nibabel as nib
    import numpy as np

    data = np.random.default_rng(1).normal(100, 5, (12, 12, 10)).astype(np.float32)
    return nib.Nifti1Image(data, np.diag([2.0, 2.0, 3.0, 1.0])).to_bytes()


def test_fuzz_upload_path(tmp_path):
    from brainmets.service.settings import Settings
    from brainmets.service.uploads import Staged, UploadError, stage_upload

    cfg = Settings(max_upload_mb=4)
    n = {"accepted": 0, "refused": 0}
    root = tmp_path / "tmp"
    root.mkdir()
    good = _valid_volume()

    @fuzz(800)
    @given(body=st.one_of(UPLOAD, st.just(good), st.just(gzip.compress(good))))
    def run(body):
        try:
            staged = stage_upload(io.BytesIO(body), root, cfg)
        except UploadError as exc:
            assert 400 <= exc.status < 500
            assert not exc.message.startswith("file: could not be read ("), exc.message
            assert "/" not in exc.message.split("(")[-1] or "tmp" not in exc.message
            assert not os.listdir(root)  # nothing half-stored
            n["refused"] += 1
            return
        assert isinstance(staged, Staged) and staged.folder.is_dir()
        staged.discard()
        n["accepted"] += 1

    run()
    COUNTS["upload_files"] = n["accepted"] + n["refused"]
    assert n["accepted"] >= 2 and n["refused"] > 500, n


def test_zz_fuzz_total():
    """Runs last in this module: the total of generated cases, written as an artefact."""
    total = sum(COUNTS.values())
    out = Path(os.environ.get("BRAINMETS_TEST_ARTIFACTS",
                              Path(__file__).resolve().parents[2] / "test-artifacts"))
    out = out / "hardening"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz-counts.json").write_text(json.dumps({**COUNTS, "total": total}, indent=2))
    if len(COUNTS) == 5:  # the whole module ran (not a -k selection)
        assert total >= 10_000, COUNTS
