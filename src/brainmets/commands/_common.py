"""Helpers shared by CLI commands: reading input files and failing cleanly."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import typer

EXIT_BAD_INPUT = 2


def fail(messages: list[str] | str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print each message as ``error: ...`` on stderr and exit (no traceback)."""
    for line in [messages] if isinstance(messages, str) else messages:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


def read_json(path: Path, what: str = "FILE") -> Any:
    """Read a JSON file or ``-`` for stdin; bad or missing files exit 2 with a clear message."""
    try:
        text = sys.stdin.read() if str(path) == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{what}: no such file: {path}")
    except IsADirectoryError:
        fail(f"{what}: is a directory, expected a JSON file: {path}")
    except UnicodeDecodeError:
        fail(f"{what}: not a UTF-8 text file: {path}")
    except OSError as exc:
        fail(f"{what}: cannot read {path}: {exc.strerror}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")
