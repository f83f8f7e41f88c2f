"""Durability: kill -9 of the server (uvicorn subprocess, SQLite WAL) during a burst of writes
loses no write that the server had acknowledged."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

pytestmark = pytest.mark.slow


def test_kill9_during_write_burst_loses_no_committed_record(server_factory, helpers):
    from sqlalchemy import select, text

    from brainmets.store import open_store, repo
    from brainmets.store.models import Patient

    srv = server_factory()
    st = open_store(None, srv.data_dir)
    with st.session() as s:
        token = repo.create_user(s, "writer", "clinician")[1]
    st.dispose()
    srv.start()
    headers = {"Authorization": f"Bearer {token}"}
    acked: dict[str, str] = {}  # registry id -> external id the client sent
    lock = threading.Lock()
    stop = threading.Event()

    def writer(k: int) -> None:
        with httpx.Client(base_url=srv.url, headers=headers, timeout=5) as c:
            i = 0
            while not stop.is_set():
                ext = f"DUR-{k}-{i}"
                i += 1
                try:
                    r = c.post("/api/patients", json=dict(helpers.PATIENT, id=ext))
                except httpx.HTTPError:
                    return  # server killed mid-request: this write was never acknowledged
                if r.status_code == 201:
                    with lock:
                        acked[r.json()["id"]] = ext

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.kill9()  # mid-burst: writers are still sending
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) >= 40, "the burst did not get going"

    st = open_store(None, srv.data_dir)
    try:
        with st.engine.connect() as c:
            assert c.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        with st.session() as s:
            rows = {p.id: p.record.get("id") for p in s.scalars(select(Patient))}
    finally:
        st.dispose()
    missing = {k: v for k, v in acked.items() if rows.get(k) != v}
    assert not missing, f"{len(missing)} acknowledged writes lost"
    # and the restarted server serves them
    srv.start()
    sample = list(acked)[:: max(1, len(acked) // 10)]
    with httpx.Client(base_url=srv.url, headers=headers, timeout=10) as c:
        for pid in sample:
            assert c.get(f"/api/patients/{pid}").json()["record"]["id"] == acked[pid]
