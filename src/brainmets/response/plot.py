"""Trajectory plot: sum of LD and each target over time with the PR/PD thresholds, plus a
per-lesion volume panel (research only) when volumes are known. PNG or SVG, written atomically.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from brainmets._atomic import atomic_write_with
from brainmets.response.config import ResponseConfig, get_config
from brainmets.response.rano import ResponseResult

FORMATS = {".png": "png", ".svg": "svg"}


def plot_trajectory(
    res: ResponseResult, out: Path | str, config: ResponseConfig | None = None,
    title: str | None = None,
) -> Path:
    """Write the plot to ``out`` (.png or .svg); returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"--plot: expected a .png or .svg file name, got {out.name!r}")
    cfg = get_config(config)
    pr = float(cfg.t("pr_min_decrease_vs_baseline"))
    pd = float(cfg.t("pd_min_increase_vs_nadir"))
    vol = res.volumetric
    panels = 2 if vol else 1
    fig = Figure(figsize=(8, 4.2 * panels), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(panels, 1, 1)
    dates: list[Any] = [h.date for h in res.history]  # matplotlib takes dates
    sums = [h.sum_mm for h in res.history]
    ax.plot(dates, sums, "o-", color="black", lw=2.2, label="sum of target LDs")
    for t in res.targets:
        ax.plot(dates, t.history_mm, ".--", lw=1, alpha=0.8, label=f"target {t.id}")
    base = res.baseline_sum_mm
    ax.axhline(base * (1 - pr), color="tab:green", ls=":", lw=1.4,
               label=f"PR threshold (-{pr * 100:.0f}% of baseline)")
    pd_x: list[Any] = []
    pd_y: list[float] = []
    for h in res.history[1:]:
        if h.nadir_sum_mm is not None:
            pd_x.append(h.date)
            pd_y.append(h.nadir_sum_mm * (1 + pd))
    if pd_x:
        ax.plot(pd_x, pd_y, "v:", color="tab:red", lw=1.4, ms=5,
                label=f"PD threshold at each scan (+{pd * 100:.0f}% of the nadir before it)")
    for h in res.history[1:]:
        if h.category:
            lab = h.category + ("?" if h.provisional else "")
            ax.annotate(lab, (h.date, h.sum_mm), textcoords="offset points", xytext=(0, 8),
                        ha="center", fontsize=9)
    ax.set_ylabel("longest diameter (mm)")
    ax.set_ylim(bottom=0)
    cat = res.category + (" (provisional)" if res.provisional else "")
    ax.set_title(title or f"RANO-BM trajectory - latest: {cat} ({res.source})", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    if vol:
        ax2 = fig.add_subplot(panels, 1, 2, sharex=ax)
        for row in vol["lesions"]:
            xs: list[Any] = [dt.date.fromisoformat(v["date"]) for v in row["volumes_ml"]]
            ys = [v["ml"] for v in row["volumes_ml"]]
            ax2.plot(xs, ys, "o-", lw=1, label=row["id"])
        ax2.set_ylabel("volume (ml)")
        ax2.set_title("Per-lesion volume - research display only, not RANO-BM", fontsize=10)
        ax2.legend(fontsize=7, loc="best", ncol=2)
        ax2.grid(alpha=0.3)
        ax2.set_ylim(bottom=0)
    fig.autofmt_xdate()
    fig.tight_layout()
    metadata = {"Date": None} if fmt == "svg" else None
    atomic_write_with(out, lambda fh: fig.savefig(fh, format=fmt, metadata=metadata))
    return out
