"""Security policy of the service: response headers (CSP), brute-force limits, path redaction.

Authentication rate limit (per client address, in process): every *presented but refused*
credential (a wrong bearer token, a stale ``bm_token`` cookie, a failed login) takes one token
from the address's bucket (``burst`` tokens, refilled at ``refill_per_s``). When the bucket is
empty the address is locked out for ``base_lockout_s`` seconds, doubling with every further
lockout up to ``max_lockout_s`` (forgotten after ``max_lockout_s`` without a failure); a
locked-out address gets ``429`` with ``Retry-After`` for every credential it presents, right
or wrong, so a guess cannot be confirmed during the lockout. Requests with no credential at
all (a browser before login) do not count. The address is the TCP peer (``brainmets serve``
does not trust ``X-Forwarded-For``): behind a reverse proxy every client shares the proxy's
address, so rate-limit at the proxy too (docs/deploy.md).
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException

# Strict policy for every response: scripts, styles, fonts and data only from this origin; no
# inline script or style, no eval, no framing, no plugins. ``img-src data:`` is needed by the
# vendored Swagger UI's CSS icons; ``blob:`` by NiiVue's screenshot/worker helpers.
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])
SECURITY_HEADERS: list[tuple[str, str]] = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cross-origin-resource-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
]
# sent only when the deployment says it is served over TLS (BRAINMETS_SECURE_COOKIES=1)
HSTS = ("strict-transport-security", "max-age=31536000; includeSubDomains")


def _float_env(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class _Bucket:
    tokens: float
    updated: float
    strikes: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class RateLimited(HTTPException):
    """429 with ``Retry-After`` (whole seconds, at least 1)."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            429, f"too many failed authentication attempts from this address; retry in "
            f"{self.retry_after} s", headers={"Retry-After": str(self.retry_after)})


@dataclass
class AuthLimiter:
    """Per-address token bucket of refused credentials with exponential lockout."""

    burst: int = field(default_factory=lambda: int(_float_env("BRAINMETS_AUTH_BURST", 10)))
    refill_per_s: float = field(
        default_factory=lambda: _float_env("BRAINMETS_AUTH_REFILL_PER_MIN", 6) / 60.0)
    base_lockout_s: float = field(
        default_factory=lambda: _float_env("BRAINMETS_AUTH_LOCKOUT_S", 30))
    max_lockout_s: float = 900.0
    max_addresses: int = 100_000
    clock: Callable[[], float] = time.monotonic
    refused: int = 0  # 429s sent (for the figures in the hardening tests)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _bucket(self, addr: str, now: float) -> _Bucket:
        b = self._buckets.get(addr)
        if b is None:
            if len(self._buckets) >= self.max_addresses:
                self._prune(now)
            b = self._buckets[addr] = _Bucket(float(self.burst), now)
        b.tokens = min(float(self.burst), b.tokens + (now - b.updated) * self.refill_per_s)
        b.updated = now
        return b

    def _prune(self, now: float) -> None:
        idle = [a for a, b in self._buckets.items()
                if b.blocked_until <= now and b.tokens + (now - b.updated) * self.refill_per_s
                >= self.burst]
        for a in idle:
            del self._buckets[a]

    def check(self, addr: str) -> None:
        """Raise :class:`RateLimited` while ``addr`` is locked out."""
        now = self.clock()
        with self._lock:
            b = self._buckets.get(addr)
            if b is not None and b.blocked_until > now:
                self.refused += 1
                raise RateLimited(b.blocked_until - now)

    def failure(self, addr: str) -> None:
        """Count one refused credential; locks the address out when its bucket is empty."""
        now = self.clock()
        with self._lock:
            b = self._bucket(addr, now)
            if now - b.last_failure > self.max_lockout_s:  # a quiet spell forgives lockouts
                b.strikes = 0
            b.last_failure = now
            b.tokens -= 1
            if b.tokens < 1:
                b.strikes += 1
                b.blocked_until = now + min(self.base_lockout_s * 2 ** (b.strikes - 1),
                                            self.max_lockout_s)


def client_address(scope_or_request: object) -> str:
    """The TCP peer address of a request (``unknown`` when the server gives none)."""
    client = getattr(scope_or_request, "client", None)
    if client is None and isinstance(scope_or_request, dict):
        client = scope_or_request.get("client")
    if not client:
        return "unknown"
    host = client[0] if isinstance(client, tuple | list) else getattr(client, "host", None)
    return str(host or "unknown")[:64]


# absolute POSIX or Windows paths inside a message (e.g. an exception text naming a temp file)
_PATH = re.compile(r"(?<![\w.:/])(?:/(?:[\w.@+\-]+/)+[\w.@+\-]*|[A-Za-z]:\\(?:[^\\\s'\"]+\\)+"
                   r"[^\\\s'\"]*)")


def redact_paths(message: str) -> str:
    """Replace server file paths in a user-facing message by ``<file NAME>``."""

    def repl(m: re.Match[str]) -> str:
        name = re.split(r"[\\/]", m.group(0).rstrip("/\\"))[-1]
        return f"<file {name}>" if name else "<file>"

    return _PATH.sub(repl, message)
