"""No silent zero (issue #16 item 4): scan-level findings when no lesion is reported.

When the detector reports no lesion but the scan shows a large abnormal enhancing region (a whole
object rejected or below the confidence operating point) or a cluster of rejected enhancing
pieces deep in the brain, ``lesions.json`` carries a finding per region:
``{kind, centroid_mm, location, side, volume_ml, reason, text}`` with the text
"possible lesion not characterised: review". Findings are review prompts, never lesions.
Constants are engineering parameters (mm, ml), not clinical numbers.
"""

from __future__ import annotations

import numpy as np

REVIEW_TEXT = "possible lesion not characterised: review"
FINDING_MIN_ML = 1.0  # a rejected / low-confidence object at least this large is shown
FINDING_OBJECT_REASONS = ("irregular", "not_enhancing", "vessel", "choroid_plexus", "falx",
                          "low_confidence")
CLUSTER_MM = 12.0  # rejected blob pieces closer than this (single linkage) form a cluster
CLUSTER_MIN_PIECES = 6
CLUSTER_MIN_DEPTH_MM = 10.0
CLUSTER_REASONS = ("vessel", "vessel_or_dura", "irregular", "not_enhancing", "weak",
                   "low_confidence")
MAX_FINDINGS = 3


def _where(cw: np.ndarray, frame: dict | None, xmid: float) -> dict:
    from brainmets.imaging import measure as ms

    out = {"side": "right" if cw[0] > xmid else "left"}
    if frame is not None:
        out["location"] = ms.location(cw, frame)
    return out


def _object_findings(objects: list, rejected: list[dict]) -> list[dict]:
    out = []
    for o in objects:
        f = o.features
        ml = f["volume_mm3"] / 1000.0
        if o.reason in FINDING_OBJECT_REASONS and ml >= FINDING_MIN_ML:
            out.append({"kind": "abnormal_enhancing_region", "centroid": f["centroid_world"],
                        "volume_ml": ml, "reason": f"enhancing object rejected as {o.reason}"})
    for r in rejected:
        if (r["reason"] == "low_confidence" and r.get("found_by") == "classical-object"
                and r["volume_ml"] >= FINDING_MIN_ML):
            out.append({"kind": "abnormal_enhancing_region", "centroid": r["centroid_mm"],
                        "volume_ml": r["volume_ml"],
                        "reason": f"enhancing object below the confidence operating point "
                                  f"({r.get('confidence')})"})
    return out


def _cluster_findings(rejected: list[dict], depth_of) -> list[dict]:
    pieces = [r for r in rejected if r.get("stage") == "blob" and r["reason"] in CLUSTER_REASONS
              and depth_of(r["centroid_mm"]) >= CLUSTER_MIN_DEPTH_MM]
    if len(pieces) < CLUSTER_MIN_PIECES:
        return []
    from scipy.cluster.hierarchy import fcluster, linkage

    pts = np.array([p["centroid_mm"] for p in pieces], dtype=np.float64)
    lab = fcluster(linkage(pts, method="single"), t=CLUSTER_MM, criterion="distance")
    out = []
    for k in np.unique(lab):
        sel = np.nonzero(lab == k)[0]
        if len(sel) < CLUSTER_MIN_PIECES:
            continue
        out.append({"kind": "cluster_of_rejected_enhancement",
                    "centroid": pts[sel].mean(axis=0).tolist(),
                    "volume_ml": float(sum(pieces[i]["volume_ml"] for i in sel)),
                    "reason": f"{len(sel)} enhancing pieces within {CLUSTER_MM:g} mm of each "
                              "other, each rejected on its own"})
    return out


def scan_findings(objects: list, rejected: list[dict], n_reported: int, frame: dict | None,
                  xmid: float, depth_of) -> list[dict]:
    """Scan-level findings (empty when a lesion is reported)."""
    if n_reported:
        return []
    cands = _object_findings(objects, rejected) + _cluster_findings(rejected, depth_of)
    cands.sort(key=lambda c: -c["volume_ml"])
    out = []
    for c in cands[:MAX_FINDINGS]:
        cw = np.asarray(c["centroid"], dtype=np.float64)
        out.append({"kind": c["kind"], "centroid_mm": [round(float(v), 1) for v in cw],
                    **_where(cw, frame, xmid), "volume_ml": round(float(c["volume_ml"]), 3),
                    "reason": c["reason"], "text": REVIEW_TEXT})
    return out
