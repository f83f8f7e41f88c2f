"""Audit middleware: one audit-log row per request touching patient data (who, what, when,
outcome). Rows hold the route, registry ids and status only: never PHI."""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request

from brainmets.store import repo

log = logging.getLogger("brainmets.service")

AUDITED_PREFIXES = ("/api/patients", "/api/jobs", "/patients")
ACTIONS = {"GET": "read", "HEAD": "read", "POST": "create", "PUT": "update", "DELETE": "delete",
           "PATCH": "update"}


def outcome_for(status: int) -> str:
    if status < 400:
        return "ok"
    return {401: "unauthenticated", 403: "denied", 404: "not_found", 409: "conflict",
            413: "invalid", 415: "invalid", 422: "invalid", 400: "invalid"}.get(
        status, "error" if status >= 500 else "invalid")


class AuditMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next):  # noqa: ANN001, ANN201
        path = request.url.path
        if not path.startswith(AUDITED_PREFIXES) or request.method == "OPTIONS":
            return await call_next(request)
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            await run_in_threadpool(self._write, request, status)

    @staticmethod
    def _write(request: Request, status: int) -> None:
        user = getattr(request.state, "user", None)
        pid = getattr(request.state, "patient_id", None)
        if pid is None:
            pid = (request.scope.get("path_params") or {}).get("pid")
        action = getattr(request.state, "audit_action", None) or ACTIONS.get(
            request.method, request.method.lower())
        resource = f"{request.method} {request.url.path}"
        try:
            with request.app.state.store.session() as s:
                repo.audit(s, user, action, resource, outcome_for(status), status,
                           pid if isinstance(pid, str) and len(pid) <= 32 else None)
        except Exception:  # the audit must never be silently skipped: log loudly (no PHI)
            log.exception("audit write failed for %s %s", request.method, request.url.path)
