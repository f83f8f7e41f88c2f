"""The ``brainmets`` command.

Each sub-command lives in its own module under :mod:`brainmets.commands` and exposes
``register(app)``; this file only discovers and mounts them, so the CLI grows without every
feature editing one file. Bad input exits with status 2 and a message naming the field.
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
) -> None:
    """Decision support for adult brain metastases (not a medical device)."""


def _mount_commands() -> None:
    from brainmets import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"brainmets.commands.{info.name}")
        module.register(app)


_mount_commands()


def main() -> None:
    from brainmets.model import InputError

    try:
        app()
    except InputError as exc:  # raised outside a command's own handler
        for line in exc.messages:
            typer.echo(f"error: {line}", err=True)
        sys.exit(2)
