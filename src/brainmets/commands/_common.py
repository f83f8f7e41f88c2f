"""Helpers shared by CLI commands: reading input files and failing cleanly.

Exit codes: 0 success, 2 bad input (a one-line ``error: ...`` naming the field, file or path),
1 internal error (one line with the exception type and a hint to rerun with ``--debug``, which
shows the traceback). :func:`guard` wraps every command so no traceback reaches a user.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import typer

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
DEBUG = {"on": os.environ.get("BRAINMETS_DEBUG", "") not in ("", "0")}
F = TypeVar("F", bound=Callable[..., Any])


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
    except RecursionError:
        fail(f"{what}: JSON nested too deeply (more than about "
             f"{sys.getrecursionlimit()} levels)")


def _one_line(text: str) -> str:
    lines = [x.strip() for x in str(text).strip().splitlines() if x.strip()]
    return lines[0] if lines else ""


def _bad_input(exc: BaseException) -> list[str] | None:
    """Messages when ``exc`` is a user's mistake (exit 2), else None."""
    from brainmets.errors import BrainmetsError
    from brainmets.model import InputError

    if isinstance(exc, InputError):
        return list(exc.messages)
    if isinstance(exc, RecursionError):
        return ["input: nested too deeply to process"]
    if isinstance(exc, OSError) and getattr(exc, "filename", None):
        what = "cannot write" if isinstance(exc, PermissionError | IsADirectoryError) else (
            "cannot use path")
        return [f"{what} {exc.filename}: {exc.strerror or _one_line(str(exc))}"]
    if isinstance(exc, BrainmetsError):
        return [_one_line(str(exc)) or type(exc).__name__]
    return None


def guard(fn: F) -> F:
    """Run a command so that no traceback reaches the user (see the module docstring)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, click.exceptions.ClickException, SystemExit,
                KeyboardInterrupt, GeneratorExit):
            raise
        except Exception as exc:  # the last-resort guard of every CLI command: no traceback
            if DEBUG["on"]:
                raise
            messages = _bad_input(exc)
            if messages is not None:
                fail(messages)
            detail = _one_line(str(exc))
            fail(f"internal error ({type(exc).__name__}{': ' + detail if detail else ''}); "
                 "run again with --debug for the traceback", EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


def guard_app(app: typer.Typer) -> None:
    """Wrap every command of ``app`` and of its sub-apps with :func:`guard` (once)."""
    for cmd in app.registered_commands:
        if cmd.callback is not None and not getattr(cmd.callback, "_guarded", False):
            cmd.callback = guard(cmd.callback)
            cmd.callback._guarded = True  # type: ignore[attr-defined]
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard_app(group.typer_instance)
