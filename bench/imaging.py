"""Imaging benchmark: unseen synthetic phantoms -> ``brainmets scan`` -> lesion-wise metrics.

Usage: ``.venv/bin/python bench/imaging.py [--seeds 9001-9010] [--voxel 1,1,1] [--keep DIR]``;
real scans, separately: ``bench/imaging.py --real [--baseline /work/coord/imaging_before.json]``
(lesion-wise sensitivity, false positives, volume error against the expert / fusion reference,
seconds and peak memory per scan on ../shared/real-scans; see ``bench/imaging_real.py``).

Phantoms come from seeds never used in tests or development (9001-9010 by default); every third
case is skull-stripped (240x240x155 mm), the rest are full-head scans in random orientations.
Scans run in a child process so that its peak memory (ru_maxrss) is the scan's alone.
The last printed line is JSON: sensitivity per equivalent-diameter bin, FP per scan, median
|volume error| of lesions >= 10 mm, seconds per scan, peak RSS of the scanning process (MB).
Optional baseline: with torch + dynamic-network-architectures installed, one forward pass of
nnU-Net's default 3d_fullres network (random weights) is timed on a 128^3 patch and scaled to
the sliding-window patch count of the same volume.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out += list(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def _worker(truth_root: Path, pred_root: Path, timings: Path) -> None:
    """Child process: scan every case, record wall time per scan."""
    from brainmets.imaging.pipeline import scan

    rows = {}
    for case in sorted(p for p in truth_root.iterdir() if (p / "t1c.nii.gz").exists()):
        t0, c0 = time.perf_counter(), time.process_time()
        res = scan(case / "t1c.nii.gz", pred_root / case.name)
        rows[case.name] = {"seconds": time.perf_counter() - t0,
                           "cpu_seconds": time.process_time() - c0, "found": len(res["lesions"])}
        print(f"  scanned {case.name}: {rows[case.name]['found']} lesion(s) in "
              f"{rows[case.name]['seconds']:.1f} s", flush=True)
    timings.write_text(json.dumps(rows))


def _nnunet_baseline(shape: tuple[int, ...]) -> dict | None:
    try:
        import torch
        from dynamic_network_architectures.architectures.unet import PlainConvUNet
    except ImportError as exc:
        print(f"baseline skipped: nnU-Net network not importable ({exc.name})")
        return None
    import math

    torch.set_num_threads(2)
    net = PlainConvUNet(
        input_channels=1, n_stages=6, features_per_stage=[32, 64, 128, 256, 320, 320],
        conv_op=torch.nn.Conv3d, kernel_sizes=3, strides=[1, 2, 2, 2, 2, 2],
        n_conv_per_stage=2, num_classes=2, n_conv_per_stage_decoder=2, conv_bias=True,
        norm_op=torch.nn.InstanceNorm3d, norm_op_kwargs={"eps": 1e-5, "affine": True},
        nonlin=torch.nn.LeakyReLU, nonlin_kwargs={"inplace": True},
    ).eval()
    x = torch.randn(1, 1, 128, 128, 128)
    with torch.no_grad():
        t0 = time.perf_counter()
        net(x)
        per_patch = time.perf_counter() - t0
    n = math.prod(max(1, math.ceil((s - 128) / 64) + 1) for s in shape)
    return {"seconds_per_patch": round(per_patch, 2), "patches": n,
            "seconds_per_volume": round(per_patch * n, 1)}


def _main_real(args: argparse.Namespace) -> None:
    import imaging_real

    if not args.real_root.is_dir():
        sys.exit(f"--real: {args.real_root} not found (the real-scan development set)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="brainmets-real-"))
    line = imaging_real.run_real(args.real_root, work, args.baseline)
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(line))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="9001-9010")
    ap.add_argument("--voxel", default="1,1,1")
    ap.add_argument("--keep", type=Path, default=None, help="keep phantoms and outputs here")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--_worker", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--_scan", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--real", action="store_true",
                    help="lesion-wise results on ../shared/real-scans instead of phantoms")
    ap.add_argument("--real-root", type=Path, default=ROOT.parent / "shared" / "real-scans")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="JSON of an earlier --real run (the named baseline for the ratio)")
    args = ap.parse_args()
    if args._worker:
        _worker(*(Path(p) for p in args._worker))
        return
    if args._scan:
        import imaging_real

        imaging_real.scan_child(*args._scan)
        return
    if args.real:
        _main_real(args)
        return

    from brainmets.commands.evaluate import evaluate_dirs, render_text
    from brainmets.imaging.phantom import make_case

    seeds = _seeds(args.seeds)
    vox = tuple(float(v) for v in args.voxel.split(","))
    vox = vox * 3 if len(vox) == 1 else vox
    work = args.keep or Path(tempfile.mkdtemp(prefix="brainmets-bench-"))
    truth_root, pred_root = work / "truth", work / "pred"
    t0 = time.perf_counter()
    shapes = []
    for i, seed in enumerate(seeds):
        tr = make_case(seed, truth_root / f"case_{seed}", voxel_mm=vox, full_head=i % 3 != 2,
                       confounder_map=True)
        shapes.append(tr["shape"])
    gen = time.perf_counter() - t0
    print(f"generated {len(seeds)} phantoms (voxel {vox} mm) in {gen:.1f} s -> {truth_root}")
    timings = work / "timings.json"
    subprocess.run([sys.executable, __file__, "--_worker", str(truth_root), str(pred_root),
                    str(timings)], check=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    trows = json.loads(timings.read_text()).values()
    secs = [r["seconds"] for r in trows]
    cpu = [r["cpu_seconds"] for r in trows]
    load = os.getloadavg()[0]
    result = evaluate_dirs(pred_root, truth_root)
    print(render_text(result))
    s = result["summary"]
    sps = sum(secs) / len(secs)
    cps = sum(cpu) / len(cpu)
    print(f"seconds per scan: mean {sps:.1f}, max {max(secs):.1f} (CPU {cps:.1f} s; "
          f"load average {load:.1f} on {os.cpu_count()} cores); peak RSS {peak_mb:.0f} MB")
    base = None if args.no_baseline else _nnunet_baseline(tuple(shapes[0]))
    if base:
        print(f"nnU-Net 3d_fullres (random weights, no TTA): {base['seconds_per_patch']} s per "
              f"128^3 patch x {base['patches']} patches = {base['seconds_per_volume']} s per "
              f"volume; ratio to scan {base['seconds_per_volume'] / sps:.1f}x")
    line = {
        "sensitivity": s["sensitivity"],
        "fp_per_scan": s["fp_per_scan"],
        "median_volume_error_ge10mm": s["median_volume_error_ge10mm"],
        "seconds_per_scan": round(sps, 2),
        "cpu_seconds_per_scan": round(cps, 2),
        "load_average": round(load, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "scans": s["scans"],
        "lesions": s["lesions"],
        "detected_of_total": s["detected_of_total"],
        "brats_lesionwise_dice": s["brats_lesionwise_dice"],
        "fp_by_cause": s["fp_by_cause"],
        "voxel_mm": list(vox),
        "seeds": args.seeds,
        "nnunet_baseline_seconds": base["seconds_per_volume"] if base else None,
    }
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
