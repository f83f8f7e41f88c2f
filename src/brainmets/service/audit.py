"""Audit + limits middleware (pure ASGI): one audit-log row per request touching patient data
(who, what, when, outcome), written *before* the response leaves the server, so no read or
write reaches a client unaudited. Rows hold the route, registry ids and status only: never PHI.

Every refused credential (missing or wrong token on a patient route, a wrong token or failed
login anywhere, a rate-limited address) is audited with outcome ``unauthenticated`` or
``rate_limited`` (never ``ok``, even when the UI answers with a redirect to the login page) and
the client address in the resource column. The same middleware refuses oversized uploads early
and adds the security headers of :mod:`brainmets.service.security` (CSP on every response)."""

from __future__ import annotations

import logging
from typing import Any

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse

from brainmets.service.security import HSTS, SECURITY_HEADERS, client_address
from brainmets.store import repo

log = logging.getLogger("brainmets.service")

AUDITED_PREFIXES = ("/api/patients", "/api/jobs", "/patients")
ACTIONS = {"GET": "read", "HEAD": "read", "POST": "create", "PUT": "update", "DELETE": "delete",
           "PATCH": "update"}


def _refused(scope: dict) -> bool:
    return bool((scope.get("state") or {}).get("auth_refused"))


def outcome_for(status: int) -> str:
    if status < 400:
        return "ok"
    return {401: "unauthenticated", 429: "rate_limited", 403: "denied", 404: "not_found",
            409: "conflict", 413: "invalid", 415: "invalid", 422: "invalid", 400: "invalid"}.get(
        status, "error" if status >= 500 else "invalid")


class AuditMiddleware:
    def __init__(self, app: Any, store: Any, max_body: int, max_mb: int,
                 hsts: bool = False) -> None:
        self.app, self.store, self.max_body, self.max_mb = app, store, max_body, max_mb
        self.headers = SECURITY_HEADERS + ([HSTS] if hsts else [])

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length and length.isdigit() and int(length) > self.max_body:
            resp = JSONResponse(
                {"detail": f"file: larger than the {self.max_mb} MB upload limit"}, 413,
                headers=dict(self.headers))
            await resp(scope, receive, send)
            return
        path: str = scope["path"]
        audited = path.startswith(AUDITED_PREFIXES) and scope["method"] != "OPTIONS"
        sent = False

        async def wrapped_send(message: dict) -> None:
            nonlocal sent
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in self.headers:
                    if k not in headers:
                        headers.append(k, v)
                if path.startswith(("/api/patients", "/patients", "/api/jobs")):
                    headers["cache-control"] = "no-store"
                if audited or _refused(scope):
                    await anyio.to_thread.run_sync(self._write, scope, message["status"])
                sent = True
            await send(message)

        try:
            await self.app(scope, receive, wrapped_send)
        except BaseException:
            if (audited or _refused(scope)) and not sent:
                await anyio.to_thread.run_sync(self._write, scope, 500)
            raise

    def _write(self, scope: dict, status: int) -> None:
        state = scope.get("state") or {}
        user = state.get("user")
        pid = state.get("patient_id")
        if pid is None:
            pid = (scope.get("path_params") or {}).get("pid")
        method = scope["method"]
        action = state.get("audit_action") or ACTIONS.get(method, method.lower())
        resource, outcome = f"{method} {scope['path']}", outcome_for(status)
        refused = state.get("auth_refused")
        if refused:  # who knocked: the client address (the user is unknown)
            outcome = "rate_limited" if refused == "rate_limited" else "unauthenticated"
            resource = f"{resource[:200]} [client {client_address(scope)}: {refused}]"
        try:
            with self.store.session() as s:
                repo.audit(s, user, action, resource, outcome,
                           status, pid if isinstance(pid, str) and len(pid) <= 32 else None)
        except Exception:  # never silent: log loudly (ids and route only, no PHI)
            log.exception("audit write failed for %s %s", method, scope["path"])
