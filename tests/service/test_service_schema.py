"""schemathesis against the OpenAPI schema: generated requests (bounded) never get a 5xx.

Uses schemathesis' Hypothesis strategies directly (its pytest fixture integration does not
work with this pytest version); every operation gets a bounded number of examples, sent with a
clinician's and a researcher's token."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

EXAMPLES = 4


def _runner(op, api, calls, known):
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def run(data):
        case = data.draw(op.as_strategy())
        params = case.path_parameters or {}
        # half the cases address existing records, so real code paths (not just 404s) run
        # (not the PDF: WeasyPrint is slow and the report has its own tests)
        if params and not op.path.endswith("report.pdf") and data.draw(st.booleans()):
            for key in params:
                if key in known:
                    params[key] = known[key]
        calls.append(op.path)
        for who in ("a", "r"):
            case.call_and_validate(headers=api.h(who), checks=[not_a_server_error])

    return run


def test_no_server_errors(sqlite_api, helpers):
    api = sqlite_api
    pid = api.post("/api/patients", "a", json=helpers.PATIENT).json()["id"]
    import tempfile
    from pathlib import Path

    nii = helpers.tiny_nifti(Path(tempfile.mkdtemp()) / "t.nii.gz").read_bytes()
    job = api.post(f"/api/patients/{pid}/scans", "a",
                   files={"file": ("t.nii.gz", nii)}).json()["job"]
    api.wait_job(job)
    known = {"pid": pid, "job": job, "sid": job, "name": "lesions.json"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 10
    failures: list[str] = []
    calls: list[str] = []
    for op in ops:
        try:
            _runner(op, api, calls, known)()
        except Exception as exc:  # collect, report all operations at once
            failures.append(f"{op.method.upper()} {op.path}: {type(exc).__name__}: {exc}"[:800])
    assert not failures, "\n".join(failures)
    assert len(calls) >= 2 * len(ops)  # the generator really ran several cases per operation
