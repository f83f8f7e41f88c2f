"""Benchmark: vectorised cohort scoring vs per-patient ``brainmets.assess``.

Generates N synthetic patients (numpy, seeded), scores them with
``brainmets.prognosis.vectorized.score_frame`` and pushes a sample through the per-patient
``brainmets.assess`` (validation + every index + treatment options). Prints the figures; the
last line is JSON::

    {"vectorized_rows_per_s": ..., "per_patient_rows_per_s": ..., "ratio": ..., "peak_rss_mb": ...}

Usage: python bench/score_throughput.py [--rows 1000000] [--sample 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import polars as pl

SITES = ["nsclc", "sclc", "breast", "melanoma", "renal", "gi", "other", "unknown"]
STATUS = ["positive", "negative", "unknown"]


def generate(n: int, seed: int = 0) -> pl.DataFrame:
    """Synthetic flattened patients (all valid; a few missing values), no per-row Python."""
    rng = np.random.default_rng(seed)

    def pick(values: list, p_null: float = 0.05) -> pl.Series:
        idx = rng.integers(0, len(values), n)
        arr = np.asarray(values)[idx]
        mask = rng.random(n) < p_null
        return pl.Series(arr).set(pl.Series(mask), None) if mask.any() else pl.Series(arr)

    site = pl.Series(np.asarray(SITES)[rng.integers(0, len(SITES), n)])
    hist = pl.Series(np.asarray(["adenocarcinoma", "squamous", "other"])[rng.integers(0, 3, n)])
    histology = pl.select(pl.when(site == "nsclc").then(hist).otherwise(None)).to_series()
    df = pl.DataFrame({
        "id": pl.int_range(0, n, eager=True).cast(pl.String),
        "age": pl.Series(rng.integers(18, 95, n)),
        "kps": pl.Series(rng.integers(3, 11, n) * 10),
        "primary_site": site,
        "primary_histology": histology,
        "primary_controlled": pl.Series(rng.random(n) < 0.5),
        "primary_egfr": pick(STATUS),
        "primary_alk": pick(STATUS),
        "primary_braf": pick(STATUS),
        "primary_er": pick(STATUS),
        "primary_pr": pick(STATUS),
        "primary_her2": pick(STATUS),
        "extracranial_metastases": pl.Series(rng.random(n) < 0.6),
        "brain_metastases_count": pl.Series(rng.integers(1, 12, n)),
        "labs_hemoglobin_g_dl": pl.Series(np.round(rng.normal(12.5, 1.6, n).clip(6, 18), 1)),
        "labs_hemoglobin_lln_g_dl": pl.Series(np.full(n, 12.0)),
        "labs_crp_above_uln": pl.Series(rng.random(n) < 0.4),
        "labs_ldh_above_uln": pl.Series(rng.random(n) < 0.3),
        "labs_platelets_below_lln": pl.Series(rng.random(n) < 0.1),
        "labs_albumin_below_lln": pl.Series(rng.random(n) < 0.2),
    })
    return df


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--sample", type=int, default=10_000)
    ap.add_argument("--batch", type=int, default=250_000)
    args = ap.parse_args()

    from brainmets import assess
    from brainmets.prognosis.columns import row_to_record
    from brainmets.prognosis.vectorized import score_frame

    t0 = time.perf_counter()
    df = generate(args.rows)
    print(f"generated {df.height:,} patients in {time.perf_counter() - t0:.2f} s")

    score_frame(df.head(1000))  # warm-up (table loading, expression build)
    t0, c0 = time.perf_counter(), time.process_time()
    n_err = n_gpa = 0
    for start in range(0, df.height, args.batch):  # batches, as `brainmets score` does
        scored, errors = score_frame(df.slice(start, args.batch), row_offset=start)
        n_err += errors.height
        n_gpa += scored.get_column("gpa_2008_score").is_not_null().sum()
    vec_s, vec_cpu = time.perf_counter() - t0, time.process_time() - c0
    vec_rate = df.height / vec_s
    print(f"vectorised: {df.height:,} rows in {vec_s:.2f} s wall ({vec_cpu:.2f} s CPU, all "
          f"threads) = {vec_rate:,.0f} rows/s ({n_err} error lines, gpa_2008 for {n_gpa:,})")
    records = [row_to_record(r) for r in df.head(args.sample).to_dicts()]
    assess(records[0])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for rec in records:
        assess(rec)
    pp_s, pp_cpu = time.perf_counter() - t0, time.process_time() - c0
    pp_rate = len(records) / pp_s
    print(f"per-patient assess: {len(records):,} patients in {pp_s:.2f} s wall "
          f"({pp_cpu:.2f} s CPU) = {pp_rate:,.0f} rows/s")
    ratio = vec_rate / pp_rate
    rss = peak_rss_mb()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"ratio {ratio:,.0f}x; peak RSS {rss:,.0f} MB; CPUs {os.cpu_count()}, "
          f"load average {load:.1f} (wall-clock figures fall when other work shares the CPUs)")
    print(json.dumps({
        "vectorized_rows_per_s": round(vec_rate),
        "per_patient_rows_per_s": round(pp_rate, 1),
        "ratio": round(ratio, 1),
        "peak_rss_mb": round(rss, 1),
        "vectorized_cpu_rows_per_s": round(df.height / vec_cpu),
        "per_patient_cpu_rows_per_s": round(len(records) / pp_cpu, 1),
        "load_avg": round(load, 1),
    }))


if __name__ == "__main__":
    main()
