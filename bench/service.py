"""Bounded loopback load test of the assess endpoint.

Starts ``brainmets serve`` on 127.0.0.1 (a fresh SQLite registry in a temporary data directory,
one user, one patient), then runs N concurrent clients for D seconds, each repeatedly calling
``GET /api/patients/{id}/assessment`` (every request authenticated and audited). Prints p50/p99
latency, throughput and errors; the last line is JSON. Loopback only; the server is always
terminated.

    .venv/bin/python bench/service.py [--clients 50] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _example_patient() -> dict:
    """The bundled example patient (the same record the demo assesses)."""
    from brainmets.examples import EXAMPLE_PATIENT

    return json.loads(EXAMPLE_PATIENT.read_text(encoding="utf-8"))


PATIENT = _example_patient()

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    k = min(len(sorted_ms) - 1, max(0, round(q / 100 * (len(sorted_ms) - 1))))
    return sorted_ms[k]


async def _load(url: str, token: str, pid: str, clients: int, duration: float) -> dict:
    import httpx

    lat: list[float] = []
    errors: dict[str, int] = {}
    stop_at = time.monotonic() + duration
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30, limits=limits) as c:

        async def worker() -> None:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    r = await c.get(f"/api/patients/{pid}/assessment")
                    if r.status_code != 200:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                        continue
                except Exception as exc:  # noqa: BLE001 - counted, not raised
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    continue
                lat.append((time.perf_counter() - t0) * 1000)

        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.monotonic() - t0
    lat.sort()
    return {"requests_ok": len(lat), "errors": sum(errors.values()), "error_kinds": errors,
            "p50_ms": round(_percentile(lat, 50), 1), "p99_ms": round(_percentile(lat, 99), 1),
            "max_ms": round(lat[-1], 1) if lat else None,
            "throughput_rps": round(len(lat) / wall, 1), "wall_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=30.0)
    args = ap.parse_args()
    if not (1 <= args.clients <= 500 and 1 <= args.duration <= 600):
        sys.exit("error: --clients 1-500 and --duration 1-600 s")

    import httpx

    from brainmets.store import open_store, repo

    with tempfile.TemporaryDirectory(prefix="bm-bench-") as tmp:
        data = Path(tmp) / "data"
        st = open_store(None, data)
        with st.session() as s:
            token = repo.create_user(s, "bench", "clinician")[1]
        st.dispose()
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "BRAINMETS_DATA_DIR": str(data)}
        env.pop("BRAINMETS_DATABASE_URL", None)
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-c", "from brainmets.cli import main; main()", "serve",
             "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data)],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            else:
                sys.exit("error: server did not start")
            h = {"Authorization": f"Bearer {token}"}
            pid = httpx.post(url + "/api/patients", json=PATIENT, headers=h).json()["id"]
            assert httpx.get(f"{url}/api/patients/{pid}/assessment", headers=h).status_code == 200
            res = asyncio.run(_load(url, token, pid, args.clients, args.duration))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    res = {"bench": "service_assess", "clients": args.clients, "duration_s": args.duration,
           "backend": "sqlite", "cpus": os.cpu_count(), **res}
    print(f"assess endpoint, {args.clients} clients, {args.duration:.0f} s on loopback: "
          f"p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, {res['throughput_rps']} req/s, "
          f"{res['errors']} errors")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
