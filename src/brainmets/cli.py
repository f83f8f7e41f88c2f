"""The ``brainmets`` command.

Each sub-command lives in its own module under :mod:`brainmets.commands` and exposes
``register(app)``; this file only discovers and mounts them, so the CLI grows without every
feature editing one file. Bad input exits with status 2 and a message naming the field;
an internal error exits 1 with one line and a hint to ``--debug`` (no traceback without it).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from brainmets._version import __version__

app = typer.Typer(
    name="brainmets",
    help="Decision support for adult brain metastases (not a medical device).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"brainmets {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of an internal error."
    ),
) -> None:
    """Decision support for adult brain metastases (not a medical device)."""
    from brainmets.commands._common import DEBUG

    DEBUG["on"] = debug or DEBUG["on"]


def _mount_commands() -> None:
    from brainmets import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"brainmets.commands.{info.name}")
        module.register(app)
    from brainmets.commands._common import guard_app

    guard_app(app)  # no traceback reaches a user (exit 2 bad input, 1 internal + --debug)


_mount_commands()


def main() -> None:
    from brainmets.commands._common import DEBUG, _bad_input

    try:
        app()
    except Exception as exc:  # outside any command (e.g. a plugin's import): still one line
        if DEBUG["on"] or "--debug" in sys.argv:
            raise
        messages = _bad_input(exc)
        for line in messages or [f"internal error ({type(exc).__name__}); run again with "
                                 "--debug for the traceback"]:
            typer.echo(f"error: {line}", err=True)
        sys.exit(2 if messages is not None else 1)
