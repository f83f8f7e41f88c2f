"""``brainmets serve`` in process (uvicorn.run replaced): every branch of commands/serve.py.

The real server is started as a subprocess by tests/service; these cover what that cannot
measure: the arguments handed to uvicorn, the first-run hint, --demo seeding, and the
bad-input exits (status 2, ``error: ...``, no traceback).
"""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from brainmets.cli import app


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def fake_run(application: Any, **kw: Any) -> None:
        calls.append({"app": application, **kw})

    monkeypatch.setattr("uvicorn.run", fake_run)
    monkeypatch.delenv("BRAINMETS_DATABASE_URL", raising=False)
    monkeypatch.delenv("BRAINMETS_DATA_DIR", raising=False)
    return calls


def _invoke(*args: Any):
    return CliRunner().invoke(app, ["serve", *map(str, args)])


def test_serve_hands_loopback_and_port_to_uvicorn(tmp_path, served):
    r = _invoke("--data-dir", tmp_path / "data", "--port", 8765)
    assert r.exit_code == 0, r.output
    (call,) = served
    assert (call["host"], call["port"]) == ("127.0.0.1", 8765)
    assert call["proxy_headers"] is False and call["server_header"] is False
    assert call["app"].title  # a FastAPI application
    # first run, no users: the hint says how to create one
    assert "no users yet: create one with `brainmets users add NAME --role clinician`" in (
        r.stderr)
    assert (tmp_path / "data").is_dir()


def test_serve_with_a_user_gives_no_hint(tmp_path, served):
    from brainmets.store import open_store, repo

    store = open_store(None, tmp_path / "data")
    with store.session() as s:
        repo.create_user(s, "dr", "clinician")
    store.dispose()
    r = _invoke("--data-dir", tmp_path / "data")
    assert r.exit_code == 0, r.output
    assert "no users yet" not in r.stderr and len(served) == 1


def test_serve_demo_seeds_a_user_and_patient(tmp_path, served):
    r = _invoke("--data-dir", tmp_path / "data", "--demo", "--port", 8123)
    assert r.exit_code == 0, r.output
    assert "demo: log in at http://127.0.0.1:8123/login with token bm_" in r.stdout
    assert "demo: patient http://127.0.0.1:8123/patients/" in r.stdout
    assert "(scan running)" in r.stdout  # the phantom scan is queued for the job runner
    assert len(served) == 1


def test_serve_bad_database_url_exits_2_naming_it(tmp_path, served):
    r = _invoke("--data-dir", tmp_path / "data", "--database-url", "nosuchdb://x")
    assert r.exit_code == 2
    assert r.stderr.startswith("error: database: cannot open the registry")
    assert "Traceback" not in r.output and served == []


def test_serve_more_than_one_worker_is_refused(tmp_path, served):
    r = _invoke("--data-dir", tmp_path / "data", "--workers", 2)
    assert r.exit_code == 2
    assert "error: --workers > 1 is not supported" in r.stderr and served == []


@pytest.mark.parametrize("args", [["--port", "0"], ["--port", "70000"], ["--workers", "0"]])
def test_serve_option_ranges(tmp_path, served, args):
    r = _invoke("--data-dir", tmp_path / "data", *args)
    assert r.exit_code == 2 and served == []
