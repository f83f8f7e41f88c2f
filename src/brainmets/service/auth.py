"""Bearer-token authentication, roles and per-patient access rules.

Tokens arrive as ``Authorization: Bearer ...`` (API) or, for the web UI only, in the HttpOnly,
SameSite=Strict ``bm_token`` cookie set by the login page; unsafe requests authenticated by the
cookie must also come from the same origin (CSRF check). Every presented token passes the
per-address brute-force limiter of :mod:`brainmets.service.security` (429 + ``Retry-After``
while locked out); every refusal is marked on ``request.state`` for the audit.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from brainmets.service.security import AuthLimiter, RateLimited, client_address
from brainmets.store import repo
from brainmets.store.models import Patient, User

COOKIE = "bm_token"
bearer = HTTPBearer(auto_error=False, description="API token from `brainmets users add`")


class AuthError(HTTPException):
    def __init__(self, detail: str = "missing or invalid API token") -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


def _limiter(request: Request) -> AuthLimiter | None:
    return getattr(request.app.state, "limiter", None)


def refuse(request: Request, reason: str) -> None:
    """Mark the request as an authentication refusal (audited with the client address)."""
    request.state.auth_refused = reason


def authenticate(request: Request, token: str) -> User:
    """Look a presented token up, rate-limited per client address.

    Raises :class:`RateLimited` (429) while the address is locked out and :class:`AuthError`
    (401) for an unknown or revoked token; both are audited as refusals.
    """
    limiter = _limiter(request)
    addr = client_address(request)
    if limiter is not None:
        try:
            limiter.check(addr)
        except RateLimited:
            refuse(request, "rate_limited")
            raise
    with request.app.state.store.session() as s:
        user = repo.user_by_token(s, token)
    if user is None:
        refuse(request, "invalid_token")
        if limiter is not None:
            limiter.failure(addr)
        raise AuthError()
    return user


def current_user(
    request: Request, creds: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> User:
    """The authenticated user (401 otherwise); also kept on ``request.state`` for the audit."""
    token = creds.credentials if creds else None
    via_cookie = False
    if not token:
        token = request.cookies.get(COOKIE)
        via_cookie = token is not None
    if not token:
        refuse(request, "no_token")
        raise AuthError()
    user = authenticate(request, token)
    request.state.user = user
    if via_cookie and request.method not in ("GET", "HEAD", "OPTIONS") and not _same_origin(
        request
    ):
        raise HTTPException(403, "cross-origin request refused")
    return user


def require_writer(user: User = Depends(current_user)) -> User:
    """Clinicians and admins may write; researchers have read-only, de-identified access."""
    if user.role == "researcher":
        raise HTTPException(403, "role researcher has read-only access")
    return user


def check_patient(user: User, p: Patient | None, write: bool = False) -> Patient:
    """404 if absent; 403 if this user may not read (or write) this patient's record."""
    if p is None:
        raise HTTPException(404, "no such patient")
    if user.role == "clinician" and p.owner_id != user.id:
        raise HTTPException(403, "patient belongs to another clinician")
    if write and user.role == "researcher":
        raise HTTPException(403, "role researcher has read-only access")
    return p


def deidentify_for(user: User) -> bool:
    """Whether data leaving the system for this user must be de-identified."""
    return user.role == "researcher"
