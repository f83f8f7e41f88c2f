"""Cohort benchmarks (not a test). Last line of output: one JSON object.

1. Harrell's C on 1 M rows: brainmets.cohort.cindex vs lifelines.utils.concordance_index on the
   same data (ties and censoring), equality checked, ratio = lifelines time / ours.
2. Scoring 10 M synthetic patients with the prognosis engine (score_table) in batches, in a child
   process: wall time and the child's peak RSS (ceiling 6 GB).
3. Batch scan throughput on Dask LocalCluster with 1 vs 2 worker processes on small phantoms
   (cases / s, scaling ratio). Skipped with a reason if the imaging pipeline is missing.

Usage: python bench/cohort.py [--rows-cindex N] [--rows-score N] [--batch N] [--cases N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SITES = ["nsclc", "sclc", "breast", "melanoma", "renal", "gi", "other"]


def bench_cindex(n: int) -> dict:
    from lifelines.utils import concordance_index as lifelines_c

    from brainmets.cohort.cindex import concordance_index

    rng = np.random.default_rng(0)
    t = np.round(rng.exponential(10, n), 1)  # tied times
    s = np.round(rng.normal(size=n) - 0.02 * t, 2)  # tied scores
    e = rng.random(n) < 0.7
    t0 = time.perf_counter()
    ours = concordance_index(t, s, e)
    t1 = time.perf_counter()
    ref = lifelines_c(t, s, e)
    t2 = time.perf_counter()
    return {"rows": n, "ours_s": round(t1 - t0, 3), "lifelines_s": round(t2 - t1, 3),
            "speedup": round((t2 - t1) / (t1 - t0), 2), "c": ours,
            "equal_to_lifelines": bool(abs(ours - ref) < 1e-12)}


def _patients(n: int, seed: int):
    import polars as pl

    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "age": rng.integers(30, 90, n, dtype=np.int64),
        "kps": rng.choice(np.arange(40, 101, 10), n),
        "primary_site": pl.Series(rng.choice(SITES, n)).cast(pl.Categorical).cast(pl.String),
        "extracranial_metastases": rng.random(n) < 0.5,
        "brain_metastases_count": rng.integers(1, 12, n, dtype=np.int64),
        "primary_controlled": rng.random(n) < 0.5,
    })


def score_child(rows: int, batch: int) -> dict:
    """Runs in a child process: score ``rows`` patients in batches, no per-row Python."""
    from brainmets.prognosis.vectorized import score_table

    t_gen = t_score = 0.0
    scored = 0
    counts: dict[str, int] = {}
    for i, start in enumerate(range(0, rows, batch)):
        t0 = time.perf_counter()
        df = _patients(min(batch, rows - start), seed=i)
        t1 = time.perf_counter()
        out = score_table(df)
        t2 = time.perf_counter()
        t_gen += t1 - t0
        t_score += t2 - t1
        scored += out.height
        for col in ("rpa_group", "gpa_2008_group"):
            counts[col] = counts.get(col, 0) + int(out.get_column(col).is_not_null().sum())
        del df, out
    return {"rows": scored, "batch": batch, "score_s": round(t_score, 2),
            "generate_s": round(t_gen, 2), "rows_per_s": round(scored / t_score),
            "non_null": counts}


def bench_score(rows: int, batch: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--score-child", str(rows), str(batch)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    res["peak_rss_gb"] = round(peak_kb / 1e6, 3)
    res["under_6gb"] = peak_kb / 1e6 < 6.0
    return res


def bench_batch_scan(cases: int) -> dict:
    try:
        from brainmets.imaging.phantom import make_case
        from brainmets.imaging.pipeline import scan  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"imaging pipeline not available: {exc}"}
    from brainmets.cohort.batch import scan_jobs, scan_task
    from brainmets.distributed import dask_client, run_batch

    out: dict = {"cases": cases, "phantom": "4 mm skull-stripped, 1 lesion"}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        for seed in range(cases):
            d = Path(tmp) / f"ph{seed}"
            make_case(seed, d, voxel_mm=(4.0, 4.0, 4.0), full_head=False,
                      random_orientation=False, n_lesions=1, diameter_range=(12.0, 20.0))
            (src / f"case{seed}.nii.gz").write_bytes((d / "t1c.nii.gz").read_bytes())
        for workers in (1, 2):
            jobs, _ = scan_jobs(src, Path(tmp) / f"out{workers}")
            t0 = time.perf_counter()
            with dask_client(None, workers, memory_limit="2GiB") as client:
                t1 = time.perf_counter()
                s = run_batch(scan_task, jobs, client, progress=False)
            out[f"workers_{workers}"] = {"startup_s": round(t1 - t0, 2),
                                         "run_s": s["seconds"], "done": s["done"],
                                         "failed": s["failed"],
                                         "cases_per_s": round(s["done"] / s["seconds"], 3)}
    r1, r2 = out["workers_1"]["cases_per_s"], out["workers_2"]["cases_per_s"]
    out["scaling_2_vs_1"] = round(r2 / r1, 2) if r1 else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows-cindex", type=int, default=1_000_000)
    ap.add_argument("--rows-score", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=2_000_000)
    ap.add_argument("--cases", type=int, default=4)
    ap.add_argument("--score-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.score_child:
        print(json.dumps(score_child(*args.score_child)))
        return
    import os

    result = {"bench": "cohort", "cpus": os.cpu_count(),
              "load_avg_1m": round(os.getloadavg()[0], 2)}
    result["cindex"] = bench_cindex(args.rows_cindex)
    print("cindex", result["cindex"], flush=True)
    result["score"] = bench_score(args.rows_score, args.batch)
    print("score", result["score"], flush=True)
    result["batch_scan"] = bench_batch_scan(args.cases)
    print("batch_scan", result["batch_scan"], flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
