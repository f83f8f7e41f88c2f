"""Plain-text rendering of a :class:`ResponseResult` (what ``--format text`` prints)."""

from __future__ import annotations

from typing import Any

from brainmets.response.rano import ResponseResult


def _num(x: float | None, unit: str = "") -> str:
    return "-" if x is None else f"{x:.1f}{unit}"


def _signed(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1f}%"


def render_text(res: ResponseResult, tracking: dict[str, Any] | None = None) -> str:
    cat = res.category + (" (provisional)" if res.provisional else "")
    lines = [
        f"RANO-BM response on {res.assessed_date}: {cat}",
        f"  source: {res.source}",
        f"  sum of target LDs: baseline {_num(res.baseline_sum_mm)} mm ({res.baseline_date}), "
        f"nadir before this scan {_num(res.nadir_sum_mm)} mm, now {_num(res.current_sum_mm)} mm "
        f"({_signed(res.pct_vs_baseline)} vs baseline, {_signed(res.pct_vs_nadir)} vs nadir)",
    ]
    if res.pd_date:
        lines.append(f"  progression dated to: {res.pd_date}")
    lines.append("  reasons:")
    lines += [f"    - {r}" for r in res.reasons]
    lines.append("  time line:")
    for h in res.history:
        c = "baseline" if h.category is None else h.category + (" (prov.)" if h.provisional else "")
        lines.append(
            f"    {h.date}  day {h.days_from_baseline:>4}  sum {h.sum_mm:6.1f} mm  {c}"
        )
    if res.targets:
        lines.append("  targets (LD mm over time):")
        for t in res.targets:
            series = " -> ".join(f"{v:.1f}" for v in t.history_mm)
            lines.append(f"    {t.id}: {series}")
    if res.non_targets:
        lines.append("  non-targets:")
        for n in res.non_targets:
            lines.append(f"    {n.id}: {n.status} ({n.why_non_target})")
    if res.new_lesions:
        lines.append("  new lesions:")
        for new in res.new_lesions:
            eq = ", equivocal" if new.equivocal else ""
            lines.append(
                f"    {new.id}: {new.current_mm:.1f} mm, first seen {new.first_seen}{eq}"
            )
    if tracking:
        lines.append("  lesion tracking (image path):")
        for row in tracking.get("tracks", []):
            lines.append(f"    {row['id']}: {row['status']}  {row.get('summary', '')}".rstrip())
        for reg in tracking.get("registrations", []):
            lines.append(
                f"    registration {reg['date']}: {reg['method']}"
                + (f" (metric {reg['metric']:.3f})" if reg.get("metric") is not None else "")
            )
    if res.volumetric:
        lines.append(f"  volumes ({res.volumetric['label']}):")
        for row in res.volumetric["lesions"]:
            series = " -> ".join(f"{v['ml']:.3f}" for v in row["volumes_ml"])
            lines.append(f"    {row['id']}: {series} ml")
        if "total_change_vs_baseline_pct" in res.volumetric:
            lines.append(
                f"    total: {res.volumetric['total_change_vs_baseline_pct']:+.1f}% vs baseline"
            )
    if res.flags_for_review:
        lines.append("  flags for manual review:")
        lines += [f"    ! {f}" for f in res.flags_for_review]
    if res.warnings:
        lines.append("  warnings:")
        lines += [f"    {w}" for w in res.warnings]
    lines.append(f"  {res.disclaimer}")
    return "\n".join(lines) + "\n"
