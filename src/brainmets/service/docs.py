"""Offline API documentation and a complete OpenAPI document.

``/docs`` is Swagger UI served from the ``swagger-ui-bundle-v2`` package (Apache-2.0; its
licence ships in the wheel) under ``/swagger-ui``: no CDN, no inline script (the initialiser is
``/static/docs.js``), so it works offline and under the strict Content-Security-Policy.

:func:`document_responses` adds every status code an operation can return to its OpenAPI
``responses`` (401/429 from authentication, 403 role or ownership, 404 unknown id, 409 scan not
done, 413/415/422 upload and body checks) and OpenAPI links from the ids an operation returns
to the operations that take them (so schemathesis' stateful tests use real ids).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Body of every 4xx/5xx response except 422."""

    detail: str = Field(description="what was refused and why (no server paths)")


class FieldError(BaseModel):
    loc: list[str]
    field: str
    msg: str
    type: str


class InvalidBody(BaseModel):
    """Body of a 422: one entry per invalid field."""

    detail: list[FieldError]
    errors: list[str] = Field(description="'field: reason' lines")


DESCRIPTIONS = {
    400: "the body cannot be parsed (malformed multipart form data, or bytes that are not "
         "UTF-8 JSON)",
    401: "missing, unknown or revoked API token",
    403: "role or ownership does not allow this (researchers are read-only; clinicians see "
         "their own patients)",
    404: "no such patient, scan, job or file",
    409: "conflict: the scan is not done yet (queued, running or failed), or the record or "
         "lesion changed since it was read",
    413: "upload larger than the size limit, or unpacks beyond the unpacked-size limit",
    415: "upload is neither NIfTI nor a zip of one DICOM series",
    422: "invalid input: every bad field named",
    429: "too many failed authentication attempts from this address (see Retry-After)",
}


_BINARY = {"schema": {"type": "string", "format": "binary"}}
#: success media types of the file downloads (FastAPI documents application/json otherwise)
MEDIA: dict[str, tuple[str, ...]] = {
    "/api/patients/{pid}/labelmap.nii.gz": ("application/gzip",),
    "/api/patients/{pid}/seg.dcm": ("application/dicom",),
    "/api/patients/{pid}/scans/{sid}/{name}": (
        "application/gzip", "application/octet-stream", "image/png", "application/json",
        "application/dicom"),
    "/api/patients/{pid}/fhir": ("application/fhir+json",),
    "/api/patients/{pid}/report.pdf": ("application/pdf",),
}


def _document_media(schema: dict[str, Any]) -> None:
    for path, types in MEDIA.items():
        op = schema.get("paths", {}).get(path, {}).get("get")
        if not op or "200" not in op.get("responses", {}):
            continue
        content = op["responses"]["200"].setdefault("content", {})
        for t in types:
            content.setdefault(t, {"schema": {}} if "json" in t else dict(_BINARY))
        if "application/json" not in types:
            content.pop("application/json", None)


def swagger_dir() -> Path | None:
    try:
        import swagger_ui_bundle
    except ImportError:  # docs degrade to the raw schema; the API itself is unaffected
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


def docs_page(title: str) -> str:
    t = html.escape(title)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{t} API</title>"
        '<link rel="stylesheet" href="/swagger-ui/swagger-ui.css">'
        '<link rel="icon" type="image/png" href="/swagger-ui/favicon-32x32.png"></head>\n'
        f'<body><main><h1 class="visually-hidden">{t} API</h1><div id="swagger-ui"></div></main>'
        '<script src="/swagger-ui/swagger-ui-bundle.js"></script>'
        '<script src="/static/docs.js"></script></body></html>\n'
    )


def mount_docs(app: FastAPI) -> None:
    """Serve ``/docs`` (Swagger UI, offline); the app must be created with ``docs_url=None``."""
    folder = swagger_dir()
    if folder is not None:
        app.mount("/swagger-ui", StaticFiles(directory=folder), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if folder is None:
            return HTMLResponse("<p>Swagger UI is not installed; the schema is at "
                                '<a href="/openapi.json">/openapi.json</a>.</p>')
        return HTMLResponse(docs_page(app.title))


def _codes(path: str, method: str, op: dict[str, Any]) -> set[int]:
    """Status codes an /api operation can return besides its success code."""
    if not path.startswith("/api"):
        return set()
    codes = {401, 429}  # every /api operation needs a token (rate-limited per address)
    has_params = "{" in path
    writes = method in ("post", "put", "patch", "delete")
    if has_params or writes or path.endswith("/audit"):
        codes |= {403}
    if has_params:
        codes |= {404}
    if writes or op.get("parameters"):
        codes |= {422}
    if writes:
        codes |= {400, 413}  # a body that cannot be decoded at all is 400 (Starlette/FastAPI)
    if "/scans" in path and writes:
        codes |= {415}
    if ("/scans/" in path and method == "get") or (writes and has_params):
        codes |= {409}
    return codes


def _links() -> dict[tuple[str, str], dict[str, Any]]:
    """(path, method) -> links of its success response (ids it returns -> operations)."""
    pid = {"pid": "$response.body#/id"}
    job = {"job": "$response.body#/job"}
    to_patient = {
        name: {"operationRef": f"#/paths/~1api~1patients~1{{pid}}{suffix}/get",
               "parameters": pid}
        for name, suffix in [("GetPatient", ""), ("GetAssessment", "~1assessment"),
                             ("GetResponse", "~1response"), ("GetFhir", "~1fhir")]
    }
    to_patient["PutPatient"] = {"operationRef": "#/paths/~1api~1patients~1{pid}/put",
                                "parameters": pid}
    to_patient["UploadScan"] = {"operationRef": "#/paths/~1api~1patients~1{pid}~1scans/post",
                                "parameters": pid}
    return {
        ("/api/patients", "post"): to_patient,
        ("/api/patients/{pid}/scans", "post"): {
            "GetJob": {"operationRef": "#/paths/~1api~1jobs~1{job}/get", "parameters": job}},
    }


def _add_error_responses(schema: dict[str, Any]) -> None:
    comps = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (ErrorBody, InvalidBody):
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in js.pop("$defs", {}).items():
            comps.setdefault(name, sub)
        comps[model.__name__] = js
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            for code in sorted(_codes(path, method, op)):
                if str(code) in responses and code != 422:
                    continue  # the route's own responses= wins
                name = "InvalidBody" if code == 422 else "ErrorBody"
                responses[str(code)] = {
                    "description": DESCRIPTIONS[code],
                    "content": {"application/json": {
                        "schema": {"$ref": f"#/components/schemas/{name}"}}}}
                if code == 429:
                    responses["429"]["headers"] = {"Retry-After": {
                        "description": "seconds until the address may try again",
                        "schema": {"type": "integer", "minimum": 1}}}


def document_responses(app: FastAPI) -> None:
    """Declare every operation's error responses and the links between operations."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base_openapi()
        _add_error_responses(schema)
        _document_media(schema)
        for (path, method), links in _links().items():
            op = schema.get("paths", {}).get(path, {}).get(method)
            if not op:
                continue
            for code, resp in op.get("responses", {}).items():
                if code.startswith("2"):
                    known = {k: v for k, v in links.items()
                             if _ref_exists(schema, v["operationRef"])}
                    resp.setdefault("links", {}).update(known)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _ref_exists(schema: dict[str, Any], ref: str) -> bool:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in ref.lstrip("#/").split("/")]
    cur: Any = schema
    for p in parts:
        if not isinstance(cur, dict) or p not in cur:
            return False
        cur = cur[p]
    return True
