"""Report context: what the tumour-board page shows, built from plain data (no database).

The web service builds the same keys from its registry; the demo and the CLI build them here.
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

from brainmets.model import Assessment


def versions() -> dict[str, str]:
    """Software and knowledge-base versions printed on every report."""
    from brainmets._version import __version__

    try:
        from brainmets.knowledge import knowledge_version

        kb = knowledge_version()
    except Exception:  # knowledge base missing or broken: say so rather than fail the page
        kb = "unavailable"
    return {"brainmets": __version__, "knowledge_base": kb}


def citations(a: dict[str, Any]) -> list[dict[str, str]]:
    """Every reference id the assessment cites, once, in order of first use, with its citation."""
    from brainmets.knowledge import reference

    ids: list[str] = []
    card_text: dict[str, str] = {}
    for o in a.get("options", []) + a.get("not_recommended", []):
        ids.extend(src["id"] for src in o.get("sources", []))
        card_text.update((o.get("card") or {}).get("citations") or {})
    for est in a.get("prognosis", []):
        ids.extend(est.get("reference_ids", []))
    ids.extend(card_text)
    out = []
    for i in dict.fromkeys(ids):
        try:
            text = reference(i).citation
        except KeyError:
            text = card_text.get(i, "(reference text not in the knowledge base)")
        out.append({"id": i, "citation": text})
    return out


def option_groups(a: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Options grouped local / systemic / supportive, in the engine's order."""
    groups: dict[str, list[dict[str, Any]]] = {"local": [], "systemic": [], "supportive": []}
    for o in a.get("options", []):
        groups.setdefault(o.get("kind", "supportive"), []).append(o)
    return groups


def standalone_context(
    record: dict[str, Any],
    assessment: Assessment | dict[str, Any],
    scan_result: dict[str, Any] | None = None,
    overlay: Path | None = None,
) -> dict[str, Any]:
    """Report context for one patient record, its assessment and optionally one scan."""
    a = assessment.model_dump(mode="json") if isinstance(assessment, Assessment) else assessment
    lesions = (scan_result or {}).get("lesions", [])
    overlay_b64 = None
    if overlay is not None and Path(overlay).exists():
        overlay_b64 = base64.b64encode(Path(overlay).read_bytes()).decode("ascii")
    pid = record.get("id") or "unnamed"
    scan = None
    if scan_result is not None:
        scan = {"id": "-", "status": "done", "kind": "nifti", "n_lesions": len(lesions),
                "date": None, "day": None, "links": {}}
    return {
        "patient": {"id": pid, "record": record},
        "record": record,
        "title": pid,
        "assessment": a,
        "option_groups": option_groups(a),
        "lesions": lesions,
        "scan": scan,
        "overlay_b64": overlay_b64,
        "timeline": {"points": [], "rano": None, "rano_note": None},
        "citations": citations(a),
        "versions": versions(),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "deidentified": False,
    }


def case_lesion_rows(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The lesions a case used, in the lesion-table shape (``longest_axial_diameter_mm`` is
    the case's ``diameter_mm``, the RANO-BM convention)."""
    return [{**x, "longest_axial_diameter_mm": x.get("diameter_mm")}
            for x in case.get("lesions", [])]


def case_context(record: dict[str, Any], case: Any, overlay: Path | None = None) -> dict[str, Any]:
    """Report context built from a :class:`brainmets.case.Case` (or its JSON): the lesions it
    used, its current scan, its response block and its warnings (provisional included)."""
    c = case.model_dump(mode="json") if hasattr(case, "model_dump") else case
    ctx = standalone_context(record, c, None, overlay)
    ctx["case"] = c
    ctx["lesions"] = case_lesion_rows(c)
    cur = c.get("current_scan")
    if cur is not None:
        ctx["scan"] = {"id": cur["id"], "status": "done", "kind": "nifti",
                       "n_lesions": len(ctx["lesions"]), "date": cur.get("date"), "day": None,
                       "links": {}}
    ctx["timeline"] = {"points": [], "rano": c.get("response"),
                       "rano_note": c.get("response_note")}
    return ctx
