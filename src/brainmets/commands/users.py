"""``brainmets users``: API users and their tokens (shown once, stored hashed)."""

from __future__ import annotations

from pathlib import Path

import typer

users_app = typer.Typer(help="Manage API users and tokens.", no_args_is_help=True)

DATA = typer.Option(None, "--data-dir", envvar="BRAINMETS_DATA_DIR",
                    help="Data directory (default ./brainmets-data).")
URL = typer.Option(None, "--database-url", envvar="BRAINMETS_DATABASE_URL",
                   help="SQLAlchemy URL (default: SQLite in the data dir).")


def _store(data_dir: Path | None, url: str | None):  # noqa: ANN202
    from brainmets.commands._common import fail
    from brainmets.store import open_store

    try:
        return open_store(url, data_dir)
    except Exception as exc:  # bad URL, unreachable server, unwritable folder: all one message
        fail(f"database: cannot open the registry ({type(exc).__name__}: {exc})")


@users_app.command("add")
def add(
    name: str = typer.Argument(..., help="User name (unique)."),
    role: str = typer.Option(..., "--role", help="clinician | researcher | admin"),
    data_dir: Path = DATA,
    database_url: str = URL,
) -> None:
    """Create a user and print its token once (only its SHA-256 is stored)."""
    from brainmets.commands._common import fail
    from brainmets.store import repo

    store = _store(data_dir, database_url)
    try:
        with store.session() as s:
            user, token = repo.create_user(s, name, role)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(token)
    typer.echo(f"user {user.name!r} ({user.role}) created; the token above is shown only once",
               err=True)


@users_app.command("list")
def list_(data_dir: Path = DATA, database_url: str = URL) -> None:
    """List users (never tokens)."""
    from brainmets.store import repo

    store = _store(data_dir, database_url)
    with store.session() as s:
        for u in repo.list_users(s):
            typer.echo(f"{u.name}\t{u.role}\t{'active' if u.active else 'revoked'}")


@users_app.command("revoke")
def revoke(name: str, data_dir: Path = DATA, database_url: str = URL) -> None:
    """Revoke a user's token."""
    from brainmets.commands._common import fail
    from brainmets.store import repo

    store = _store(data_dir, database_url)
    with store.session() as s:
        if not repo.revoke_user(s, name):
            fail(f"name: no user {name!r}")
    typer.echo(f"user {name!r} revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
