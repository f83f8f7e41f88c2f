"""Tumour-board PDF report: the shared Jinja2 templates rendered with WeasyPrint."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).resolve().parent / "templates"


@lru_cache(maxsize=1)
def environment():  # noqa: ANN201 - jinja2.Environment
    """Jinja2 environment over the report templates (autoescaping on)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    install_filters(env)
    return env


def render_html(context: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (images inlined)."""
    return environment().get_template("report.html").render(**context)


def render_pdf(context: dict[str, Any]) -> bytes:
    """The report as PDF bytes (A4). Never fetches anything over the network."""
    from weasyprint import HTML

    try:  # WeasyPrint >= 66: a fetcher restricted to inline data: URLs
        from weasyprint.urls import URLFetcher

        fetcher = URLFetcher(allowed_protocols=("data",))
    except ImportError:  # older WeasyPrint: a function fetcher
        from weasyprint import default_url_fetcher

        def fetcher(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
            if not url.startswith("data:"):
                raise ValueError("report: external resources are refused")
            return default_url_fetcher(url, *args, **kwargs)

    return HTML(string=render_html(context), url_fetcher=fetcher).write_pdf()


def dash(value: Any, missing: str = "—") -> Any:
    """Jinja filter: the value, or a dash when it is missing (undefined or None)."""
    from jinja2 import Undefined

    return missing if value is None or isinstance(value, Undefined) else value


def num(value: Any, digits: int = 1) -> str:
    """Jinja filter: a number with fixed decimals, or a dash when missing."""
    v = dash(value)
    if v == "—":
        return v
    try:
        return f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def install_filters(env: Any) -> None:
    from brainmets.report import fields

    env.filters["dash"] = dash
    env.filters["num"] = num
    fields.install(env)
