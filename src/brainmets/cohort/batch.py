"""Batch jobs (scan a folder of images, score cohort tables) for :mod:`brainmets.distributed`.

Task functions take (input path, output folder) as strings and import their engines lazily on
the worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NIFTI_SUFFIXES = (".nii.gz", ".nii")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq", ".jsonl", ".ndjson")


@dataclass(frozen=True)
class Job:
    """One unit of a batch: read ``input``, write into the folder ``output``."""

    key: str
    input: str
    output: str
    depends: tuple[str, ...] = ()  # other files the job reads (a changed one redoes it)


def _stem(path: Path, suffixes: tuple[str, ...]) -> str:
    name = path.name
    for s in suffixes:
        if name.lower().endswith(s):
            return name[: -len(s)]
    return name


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "case"


def _unique_jobs(pairs: list[tuple[str, Path]], out_dir: Path) -> list[Job]:
    jobs, seen = [], set()
    for key, path in pairs:
        base = _safe(key)
        k, i = base, 1
        while k in seen:
            i += 1
            k = f"{base}-{i}"
        seen.add(k)
        rec = record_for(path)
        jobs.append(Job(key=k, input=str(path), output=str(out_dir / k),
                        depends=(str(rec),) if rec.is_file() else ()))
    return jobs


def scan_jobs(in_dir: Path, out_dir: Path) -> tuple[list[Job], list[str]]:
    """One job per NIfTI file and per sub-folder (a DICOM series) of ``in_dir``; other files are
    returned as ignored."""
    pairs: list[tuple[str, Path]] = []
    ignored: list[str] = []
    for p in sorted(Path(in_dir).iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            pairs.append((p.name, p))
        elif p.name.lower().endswith(NIFTI_SUFFIXES):
            pairs.append((_stem(p, NIFTI_SUFFIXES), p))
        else:
            ignored.append(str(p))
    records = {str(record_for(p)) for _, p in pairs}
    ignored = [f for f in ignored if f not in records]  # patient records: used, not ignored
    return _unique_jobs(pairs, Path(out_dir)), ignored


def record_for(image: Path) -> Path:
    """The patient record (CONTRACT §1 JSON) a batch case may have beside its image:
    ``case1.nii.gz`` -> ``case1.json``; a DICOM folder ``case2/`` -> ``case2.json``."""
    image = Path(image)
    stem = image.name if image.is_dir() else _stem(image, NIFTI_SUFFIXES)
    return image.with_name(stem + ".json")


def score_jobs(files: list[Path], out_dir: Path) -> list[Job]:
    """One job per cohort table."""
    return _unique_jobs([(_stem(Path(f), TABLE_SUFFIXES), Path(f)) for f in files], Path(out_dir))


def scan_task(input_path: str, out_dir: str) -> dict[str, Any]:
    """Run the imaging pipeline (``brainmets scan``) on one case; when a patient record sits
    beside the image (:func:`record_for`), the case is composed by the one composer
    (:func:`brainmets.case.assess_case`, as the CLI and the web do) into ``case.json``."""
    from brainmets.imaging.pipeline import scan

    result = scan(Path(input_path), Path(out_dir))
    lesions = result.get("lesions") if isinstance(result, dict) else None
    info: dict[str, Any] = {"lesions": len(lesions) if isinstance(lesions, list) else None}
    record = record_for(Path(input_path))
    if record.is_file():
        info.update(assess_task(record, Path(input_path), Path(out_dir)))
    return info


def assess_task(record: Path, image: Path, out_dir: Path) -> dict[str, Any]:
    """Compose the case of one batch scan with its record; writes ``out_dir/case.json``."""
    import json

    from brainmets._atomic import atomic_write_text
    from brainmets.case import ScanInput, assess_case
    from brainmets.imaging.result import ScanResult

    data = json.loads(record.read_text(encoding="utf-8"))
    date = None
    if image.is_dir():
        from brainmets.response.tracking import dicom_date

        date = dicom_date(image)
    scan_in = ScanInput(id=record.stem, date=date, result=ScanResult.load(out_dir),
                        folder=out_dir)
    case = assess_case(data, [scan_in])
    atomic_write_text(out_dir / "case.json",
                      json.dumps(case.model_dump(mode="json"), indent=2) + "\n")
    return {"case": "case.json", "provisional": case.provisional,
            "lesions_used": len(case.lesions)}


def score_task(input_path: str, out_dir: str) -> dict[str, Any]:
    """Score one cohort table with every index; writes ``scored.parquet``."""
    from brainmets.cohort.io import read_table
    from brainmets.prognosis.vectorized import score_table

    scored = score_table(read_table(Path(input_path)))
    if not hasattr(scored, "write_parquet"):
        import polars as pl

        scored = pl.from_pandas(scored)
    scored.write_parquet(Path(out_dir) / "scored.parquet")
    return {"rows": scored.height}
