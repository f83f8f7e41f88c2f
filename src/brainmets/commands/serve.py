"""``brainmets serve``: the REST API and web UI (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
        data_dir: Path = typer.Option(None, "--data-dir", envvar="BRAINMETS_DATA_DIR",
                                      help="Data directory (default ./brainmets-data)."),
        database_url: str = typer.Option(None, "--database-url", envvar="BRAINMETS_DATABASE_URL",
                                         help="SQLAlchemy URL (default: SQLite in the data dir)."),
        demo: bool = typer.Option(False, "--demo", help="Seed a demo user and patient."),
        workers: int = typer.Option(1, min=1, max=64, help="uvicorn worker processes."),
    ) -> None:
        """Serve the REST API (OpenAPI at /docs) and the clinician web UI."""
        import logging

        import uvicorn

        from brainmets.commands._common import fail
        from brainmets.store import open_store

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        try:
            store = open_store(database_url, data_dir)
        except Exception as exc:  # bad URL, unreachable database, unwritable directory
            fail(f"database: cannot open the registry ({type(exc).__name__}: {exc})")
        if demo:
            from brainmets.service.demo import seed

            # the phantom scan is left queued: the server's job runner scans it after start-up
            info = seed(store, phantom=True, run_scan=False)
            typer.echo(f"demo: log in at http://{host}:{port}/login with token {info['token']}")
            typer.echo(f"demo: patient http://{host}:{port}/patients/{info['patient_id']}"
                       + (" (scan running)" if info["scan_id"] else " (no phantom MRI)"))
        else:
            from brainmets.store import repo

            with store.session() as s:
                if not repo.list_users(s):
                    typer.echo("no users yet: create one with "
                               "`brainmets users add NAME --role clinician`", err=True)
        from brainmets.service.app import create_app

        if workers > 1:
            fail("--workers > 1 is not supported with the in-process scan queue; use 1")
        uvicorn.run(create_app(store), host=host, port=port, log_level="info",
                    proxy_headers=False, server_header=False)
