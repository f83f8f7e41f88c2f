"""Issue #17 bullets 1, 2 and 4: brute-force limits, audit of refusals, security headers, /docs.

Before the fix: 30 bad logins and 30 bad bearer tokens all got 401, failed logins were not
audited, unauthenticated UI requests were audited as "ok", there was no CSP, and /docs loaded
Swagger UI from a CDN."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from brainmets.service.security import AuthLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _client(app, addr: str = "203.0.113.7") -> TestClient:
    return TestClient(app, client=(addr, 40000), follow_redirects=False)


@pytest.fixture
def _app(hmake):
    def make(tmp_path, clock=None):
        limiter = AuthLimiter(burst=10, refill_per_s=0.1, base_lockout_s=30,
                              clock=clock or Clock())
        return hmake(tmp_path, limiter=limiter)

    return make


def test_bad_bearer_tokens_get_429_within_40(tmp_path, _app):
    app, tokens, store = _app(tmp_path)
    with _client(app) as c:
        codes = [c.get("/api/patients", headers={"Authorization": f"Bearer guess-{i}"})
                 for i in range(40)]
        statuses = [r.status_code for r in codes]
        assert 429 in statuses, statuses
        first = statuses.index(429)
        assert set(statuses[:first]) == {401} and set(statuses[first:]) == {429}
        retry = int(codes[first].headers["retry-after"])
        assert retry >= 1
        # during the lockout even the right token is refused from this address ...
        assert c.get("/api/patients", headers={"Authorization": f"Bearer {tokens['a']}"}
                     ).status_code == 429
    # ... but another address is not affected
    with _client(app, "198.51.100.9") as other:
        assert other.get("/api/patients", headers={"Authorization": f"Bearer {tokens['a']}"}
                         ).status_code == 200
    assert app.state.limiter.refused == 40 - first + 1
    store.dispose()


def test_failed_logins_limited_and_audited(tmp_path, _app):
    app, tokens, store = _app(tmp_path)
    with _client(app) as c:
        statuses = [c.post("/login", data={"token": f"wrong-{i}", "next": "/patients"}
                           ).status_code for i in range(40)]
    assert 429 in statuses and statuses[0] == 401
    from brainmets.store import repo

    with store.session() as s:
        rows = [r for r in repo.audit_entries(s, None, 1000) if r.action == "login"]
    assert len(rows) == 40
    assert all("client 203.0.113.7" in r.resource and r.at is not None for r in rows)
    assert {r.outcome for r in rows} == {"unauthenticated", "rate_limited"}
    assert all(r.user_name is None for r in rows)
    store.dispose()


def test_lockout_backs_off_and_recovers():
    clock = Clock()
    lim = AuthLimiter(burst=3, refill_per_s=0.1, base_lockout_s=30, clock=clock)

    def lock_len() -> float:
        while True:
            try:
                lim.check("x")
            except Exception as exc:  # RateLimited: the lockout started
                return exc.retry_after
            lim.failure("x")

    first = lock_len()
    clock.t += first + 0.1
    second = lock_len()
    assert first == 30 and second == 60  # doubles with every lockout
    clock.t += 3600  # a quiet hour refills the bucket and forgives the lockouts
    lim.check("x")
    for _ in range(2):
        lim.failure("x")
    lim.check("x")  # burst not yet used up


def test_unauthenticated_requests_audited_as_refused(tmp_path, _app):
    app, tokens, store = _app(tmp_path)
    with _client(app) as c:
        r = c.get("/patients")  # the UI answers with a redirect to the login page
        assert r.status_code == 303
        assert c.get("/api/patients").status_code == 401
        assert c.get("/patients", headers={"Authorization": "Bearer nope"}).status_code == 303
    from brainmets.store import repo

    with store.session() as s:
        rows = repo.audit_entries(s, None, 100)
    assert len(rows) == 3
    assert all(r.outcome == "unauthenticated" for r in rows), [r.outcome for r in rows]
    assert all("client 203.0.113.7" in r.resource for r in rows)
    store.dispose()


PATHS = ["/login", "/patients", "/api/patients", "/health", "/static/app.css", "/docs",
         "/openapi.json", "/no-such-page"]


def test_csp_and_headers_on_every_response(hapi):
    for path in PATHS:
        for auth in ({}, hapi.h()):
            r = hapi.client.get(path, headers=auth, follow_redirects=False)
            csp = r.headers.get("content-security-policy", "")
            assert "default-src 'self'" in csp and "script-src 'self'" in csp, path
            assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
            assert "frame-ancestors 'none'" in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert "strict-transport-security" not in r.headers  # only behind TLS
    big = hapi.client.post("/api/patients", headers={**hapi.h(), "content-length": str(2**40)},
                           content=b"{}")
    assert big.status_code == 413 and "content-security-policy" in big.headers


def test_hsts_and_secure_cookie_behind_tls(tmp_path, hmake):
    app, tokens, store = hmake(tmp_path, secure_cookies=True)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        r = c.post("/login", data={"token": tokens["a"], "next": "/patients"})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert "max-age=31536000" in r.headers["strict-transport-security"]
    store.dispose()


def test_no_inline_script_in_templates():
    from pathlib import Path

    import brainmets.report as rep
    import brainmets.service as svc

    roots = [Path(svc.__file__).parent / "templates",  # + the report partials the page includes
             Path(rep.__file__).parent / "templates" / "partials"]
    for t in (t for root in roots for t in root.rglob("*.html")):
        text = t.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), t  # inline script
        assert not re.search(r"\son[a-z]+\s*=", text), t  # inline event handler
        assert not re.search(r"\sstyle\s*=", text), t  # inline style attribute
        assert "<style" not in text, t


def test_docs_offline(hapi):
    r = hapi.client.get("/docs")
    assert r.status_code == 200
    srcs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert srcs and all(s.startswith("/") and not s.startswith("//") for s in srcs), srcs
    for s in srcs:
        assert hapi.client.get(s).status_code == 200, s
    assert "<script>" not in r.text  # initialiser is a file (CSP)
    assert hapi.client.get("/redoc").status_code == 404  # would load from a CDN


def test_every_api_status_code_documented(hapi):
    schema = hapi.client.get("/openapi.json").json()
    for path, item in schema["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            if path.startswith("/api"):
                assert {"401", "429"} <= codes, (method, path)
            if "{" in path:
                assert {"403", "404"} <= codes, (method, path)
            if method in ("post", "put"):
                assert {"413", "422"} <= codes, (method, path)
    upload = schema["paths"]["/api/patients/{pid}/scans"]["post"]["responses"]
    assert {"413", "415", "422"} <= set(upload)
    links = schema["paths"]["/api/patients"]["post"]["responses"]["201"]["links"]
    assert links["GetPatient"]["parameters"] == {"pid": "$response.body#/id"}
