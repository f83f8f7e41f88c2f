"""Figures for issue #17 from a real ``brainmets serve`` (a script, not a test module): peak
server memory under each upload bomb, and how many of 40 bad bearer tokens / 40 bad logins from
one address are refused with 429.

Starts ``brainmets serve`` on loopback per bomb (a fresh process, so the peak is the bomb's),
warms it with one valid upload, then posts the bomb and reads the process's peak resident set
(VmHWM, Linux /proc) before and after. Usage::

    .venv/bin/python tests/hardening/measure_bombs.py [OUT.json]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import PATIENT, nifti_stream, tiny_nifti, zip_bomb  # noqa: E402


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _serve(data_dir: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from brainmets.cli import main; main()", "serve", "--host",
         "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def measure(name: str, bomb: Path, work: Path, port: int) -> dict:
    from brainmets.store import open_store, repo

    data = work / f"data-{name}"
    st = open_store(None, data)
    with st.session() as s:
        token = repo.create_user(s, "m", "clinician")[1]
    st.dispose()
    proc = _serve(data, port)
    try:
        url, h = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
        pid = httpx.post(url + "/api/patients", json=PATIENT, headers=h).json()["id"]
        warm = tiny_nifti(work / "warm.nii.gz").read_bytes()
        httpx.post(f"{url}/api/patients/{pid}/scans", headers=h,
                   files={"file": ("warm.nii.gz", warm)}, timeout=60)
        time.sleep(3)  # let the warm-up scan job finish
        before = _hwm_mb(proc.pid)
        t0 = time.monotonic()
        with bomb.open("rb") as f:
            r = httpx.post(f"{url}/api/patients/{pid}/scans", headers=h,
                           files={"file": (bomb.name, f)}, timeout=300)
        secs = time.monotonic() - t0
        after = _hwm_mb(proc.pid)
        return {"bomb": name, "upload_mb": round(bomb.stat().st_size / 2**20, 2),
                "status": r.status_code, "reason": r.json().get("detail", r.json())
                if r.headers.get("content-type", "").startswith("application/json") else "",
                "peak_rss_before_mb": round(before), "peak_rss_after_mb": round(after),
                "increase_mb": round(after - before), "seconds": round(secs, 2)}
    finally:
        proc.terminate()
        proc.wait(10)


def measure_auth(work: Path, port: int, kind: str) -> dict:
    """40 bad bearer tokens (kind "tokens") or 40 failed logins ("logins") on a fresh server."""
    from brainmets.store import open_store, repo

    data = work / f"data-auth-{kind}"
    st = open_store(None, data)
    with st.session() as s:
        repo.create_user(s, "m", "clinician")
    st.dispose()
    proc = _serve(data, port)
    try:
        url = f"http://127.0.0.1:{port}"
        if kind == "tokens":
            codes = [httpx.get(url + "/api/patients", headers={"Authorization": f"Bearer b{i}"})
                     .status_code for i in range(40)]
        else:
            codes = [httpx.post(url + "/login", data={"token": f"b{i}", "next": "/patients"})
                     .status_code for i in range(40)]
        return {f"bad_{kind}": 40, "401": codes.count(401), "429": codes.count(429),
                "first_429_at": codes.index(429) + 1 if 429 in codes else None}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bombs-"))
    bombs = {
        "zip_one_512MB_member": zip_bomb(work / "bomb.zip", 512),
        "all_nan_512cubed_niigz": nifti_stream(work / "nan512.nii.gz", (512, 512, 512),
                                               float("nan")),
        "header_1024cubed_float32": nifti_stream(work / "huge1024.nii.gz", (1024, 1024, 1024),
                                                 1.0, data_mb=1),
    }
    import socket

    def free_port() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    rows: list[dict] = []
    for kind in ("tokens", "logins"):
        rows.append(measure_auth(work, free_port(), kind))
        print(json.dumps(rows[-1]), flush=True)
    for name, path in bombs.items():
        rows.append(measure(name, path, work, free_port()))
        print(json.dumps(rows[-1]), flush=True)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
