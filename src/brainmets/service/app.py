"""The FastAPI application: REST API, web UI, audit, background scan jobs.

``create_app()`` opens (and migrates) the registry from the environment unless a store is
given; ``brainmets serve`` runs it with uvicorn.
"""

from __future__ import annotations

import hashlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from brainmets._version import __version__
from brainmets.case import ResponseCache
from brainmets.service.api import InvalidRecord, invalid_response
from brainmets.service.api import router as api_router
from brainmets.service.audit import AuditMiddleware
from brainmets.service.docs import document_responses, mount_docs
from brainmets.service.jobs import JobRunner, ScanFn
from brainmets.service.security import AuthLimiter, redact_paths
from brainmets.service.settings import Settings
from brainmets.store.db import Store, open_store

HERE = Path(__file__).resolve().parent
log = logging.getLogger("brainmets.service")


def create_app(
    store: Store | None = None,
    settings: Settings | None = None,
    scan_fn: ScanFn | None = None,
    limiter: AuthLimiter | None = None,
) -> FastAPI:
    """Build the app; the registry is migrated and unfinished scan jobs re-queued at start."""
    settings = settings or Settings()
    store = store or open_store()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        n = app.state.jobs.resume()
        if n:
            log.info("re-queued %d unfinished scan jobs", n)
        yield
        app.state.jobs.shutdown()

    app = FastAPI(
        title="brainmets",
        version=__version__,
        summary="Brain-metastases decision support: registry, assessment, imaging, reports "
        "(not a medical device).",
        lifespan=lifespan,
        docs_url=None,  # served offline by mount_docs (no CDN)
        redoc_url=None,
    )
    app.state.store = store
    app.state.settings = settings
    app.state.jobs = JobRunner(store, scan_fn, settings.scan_workers)
    # response (registration + RANO-BM) memo: owned by this app, shared by its requests
    app.state.response_cache = ResponseCache()
    app.state.deid_salt = _salt(store)
    app.state.limiter = limiter or AuthLimiter()

    @app.exception_handler(InvalidRecord)
    async def _invalid(_request: Request, exc: InvalidRecord) -> JSONResponse:
        return invalid_response([redact_paths(m) for m in exc.messages])

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ())]
            detail.append({"loc": loc, "field": ".".join(loc[1:]) or ".".join(loc),
                           "msg": e.get("msg", ""), "type": e.get("type", "")})
        return JSONResponse({"detail": detail,
                             "errors": [f"{d['field']}: {d['msg']}" for d in detail]}, 422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):  # noqa: ANN202
        if exc.status_code == 401 and not request.url.path.startswith("/api"):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        detail = redact_paths(exc.detail) if isinstance(exc.detail, str) else exc.detail
        return JSONResponse({"detail": detail}, exc.status_code,
                            headers=getattr(exc, "headers", None))

    app.add_middleware(AuditMiddleware, store=store, max_body=settings.max_upload_bytes + 2**20,
                       max_mb=settings.max_upload_mb, hsts=settings.secure_cookies)

    @app.get("/health", summary="Liveness (no token needed)")
    def health() -> dict[str, Any]:
        from brainmets.service.core import versions

        return {"status": "ok", **versions()}

    app.include_router(api_router)
    from brainmets.service.ui import router as ui_router

    app.include_router(ui_router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    mount_docs(app)
    document_responses(app)
    return app


def _salt(store: Store) -> str:
    """Per-install secret for one-way UID replacement in de-identified DICOM."""
    path = store.data_dir / "deid-salt"
    if not path.exists():
        import os
        import secrets

        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_hex(32))
        os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()
