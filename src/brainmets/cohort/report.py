"""Self-contained HTML validation report (plots embedded as base64 PNG) and results.json."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from brainmets._atomic import atomic_write_bytes


def _m(x: float | None) -> str:
    return "NR" if x is None else f"{x:.1f}"


def render_html(results: dict[str, Any], images: dict[str, dict[str, bytes]],
                source_name: str) -> str:
    """Render the Jinja2 template in cohort/templates (autoescaped)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from brainmets._version import __version__
    from brainmets.knowledge import knowledge_version

    kb = knowledge_version()
    env = Environment(loader=PackageLoader("brainmets.cohort", "templates"),
                      autoescape=select_autoescape(["html", "j2"]))
    tpl = env.get_template("validation_report.html.j2")
    return tpl.render(
        r=results, images=images, source_name=source_name, version=__version__,
        kb_version=kb, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        m=_m, pct=lambda x: f"{100 * x:.1f}%",
        b64=lambda b: base64.b64encode(b).decode("ascii"),
    )


def write_outputs(out_dir: Path, results: dict[str, Any],
                  images: dict[str, dict[str, bytes]], source_name: str) -> list[Path]:
    """Write the PNGs, results.json and report.html (each atomically, the report last)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = render_html(results, images, source_name).encode("utf-8")  # render before writing
    body = json.dumps(results, indent=2, allow_nan=False).encode("utf-8")
    written = []
    for index, pngs in images.items():
        for kind, png in pngs.items():
            p = out_dir / f"{kind}_{index}.png"
            atomic_write_bytes(p, png)
            written.append(p)
    for name, data in (("results.json", body), ("report.html", html)):
        atomic_write_bytes(out_dir / name, data)
        written.append(out_dir / name)
    return written
