"""Server-rendered web UI (Jinja2 + htmx; NiiVue as the one JavaScript island).

Pages authenticate with the same tokens as the API: the login page stores the token in an
HttpOnly, SameSite=Strict cookie. Every page touching patient data is audited (middleware).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from pydantic import ValidationError

from brainmets.model import InputError, format_errors, parse_patient
from brainmets.report.fields import FIELD_GROUPS, FIELDS
from brainmets.report.pdf import TEMPLATES as REPORT_TEMPLATES
from brainmets.report.pdf import install_filters
from brainmets.service import core, fhir, review
from brainmets.service.auth import COOKIE, check_patient, current_user, require_writer
from brainmets.service.records import InvalidRecord, is_empty_record, patient_for
from brainmets.service.scans import submit_scan, volume_path
from brainmets.store import repo
from brainmets.store.models import Patient, Scan, User

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.loader = ChoiceLoader(
    [FileSystemLoader(HERE / "templates"), FileSystemLoader(REPORT_TEMPLATES)]
)
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
install_filters(templates.env)

router = APIRouter(include_in_schema=False)

BOOL = "bool"
# a new patient needs at least one of these (an empty form creates nothing)
ESSENTIAL = ("age", "kps", "primary.site")


def _render(request: Request, template: str, code: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("user", getattr(request.state, "user", None))
    return templates.TemplateResponse(request=request, name=template, context=ctx,
                                      status_code=code)


def _get_path(record: dict[str, Any], path: str) -> Any:
    cur: Any = record
    for k in path.split("."):
        cur = cur.get(k) if isinstance(cur, dict) else None
    return cur


def _del_path(record: dict[str, Any], path: str) -> None:
    *head, last = path.split(".")
    cur: Any = record
    for k in head:
        cur = cur.get(k) if isinstance(cur, dict) else None
    if isinstance(cur, dict):
        cur.pop(last, None)


def _convert(kind: str, path: str, raw: str) -> Any:
    if kind == "int" or (kind == "choice" and path in ("kps", "ecog")):
        return int(raw)
    if kind == "float":
        v = float(raw)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError
        return v
    if kind == BOOL:
        if raw not in ("yes", "no"):
            raise ValueError
        return raw == "yes"
    if kind == "json":
        v = json.loads(raw)
        if not isinstance(v, list):
            raise ValueError
        return v
    return raw


def _base_record(form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The record the form was opened with (hidden ``_record`` JSON): every field the form
    does not show is kept from it, so saving unchanged loses nothing."""
    raw = form.get("_record") or ""
    if not raw.strip():
        return {}, []
    try:
        base = json.loads(raw)
    except ValueError:
        return {}, ["_record: the hidden copy of the record is not valid JSON; reload the form"]
    return (base, []) if isinstance(base, dict) else ({}, ["_record: expected an object"])


def form_to_record(form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Form fields (dotted names) over the record the form was opened with -> CONTRACT §1
    record and conversion errors. A shown field left empty removes that value (unknown)."""
    record, errors = _base_record(form)
    record = copy.deepcopy(record)
    for path, _label, kind, _choices in [("id", "", "str", None), *FIELDS]:
        if path not in form:
            continue  # not sent: keep what the record holds
        raw = (form.get(path) or "").strip()
        if raw == "":
            _del_path(record, path)
            continue
        try:
            value = _convert(kind, path, raw)
        except ValueError:
            what = "a JSON list" if kind == "json" else "yes or no" if kind == BOOL \
                else "a number"
            errors.append(f"{path}: expected {what}, got {raw[:60]!r}")
            continue
        fhir.set_path(record, path, value)
    return record, errors


def record_to_form(record: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, _l, kind, _c in [("id", "", "str", None), *FIELDS]:
        cur = _get_path(record, path)
        if cur is None or (kind == "json" and cur == []):
            continue
        if kind == BOOL:
            out[path] = "yes" if cur else "no"
        elif kind == "json":
            out[path] = json.dumps(cur)
        else:
            out[path] = str(cur)
    return out


def empty_record_errors(record: dict[str, Any]) -> list[str]:
    """An empty record (nothing but an id) creates nothing: errors on the essential fields."""
    if not is_empty_record({k: v for k, v in record.items() if k != "id"}):
        return []
    return [f"{f}: required: the form is empty (enter at least the age, KPS or primary site)"
            for f in ESSENTIAL]


def validate_form(form: dict[str, str],
                  new: bool = False) -> tuple[dict[str, Any] | None, dict[str, str]]:
    record, errors = form_to_record(form)
    if not errors and new:
        errors = empty_record_errors(record)
    if not errors:
        try:
            p = parse_patient(record)
            record = _drop_added_defaults(p.model_dump(mode="json", exclude_none=True), record)
        except InputError as exc:
            errors = exc.messages
    by_field: dict[str, str] = {}
    for e in errors:
        path, _, msg = e.partition(": ")
        path = _form_path(path)
        by_field.setdefault(path, msg or e)
    return (None if by_field else record), by_field


def _drop_added_defaults(dumped: Any, given: Any) -> Any:
    """The parsed record without the empty lists/objects the model adds by default where the
    submitted record had no such key (a record saved unchanged stays byte-for-byte the same)."""
    if not isinstance(dumped, dict) or not isinstance(given, dict):
        return dumped
    out = {}
    for k, v in dumped.items():
        if k not in given and v in ([], {}):
            continue
        out[k] = _drop_added_defaults(v, given.get(k))
    return out


def _form_path(path: str) -> str:
    """An error path -> the form field that holds it (``brain_metastases.lesions[0].x`` is in
    the lesions field)."""
    known = {f[0] for f in FIELDS} | {"id", "_record"}
    probe = path.split("[")[0]
    while probe and probe not in known:
        probe = probe.rpartition(".")[0]
    return probe or path


def form_checks(record: dict[str, Any] | None) -> dict[str, list[Any]]:
    """Input consistency checks (decision 12) by form field, shown beside the fields."""
    if not record:
        return {}
    try:
        from brainmets.checks import input_checks

        checks = input_checks(parse_patient(record))
    except (ImportError, InputError):
        return {}
    out: dict[str, list[Any]] = {}
    for c in checks:
        for f in c.fields:
            out.setdefault(_form_path(f), []).append(c)
    return out


def _form_page(request: Request, code: int, values: dict[str, str], errors: dict[str, str],
               record: dict[str, Any], name: str, action: str, title: str) -> HTMLResponse:
    return _render(request, "patient_form.html", code, fields=FIELDS, field_groups=FIELD_GROUPS,
                   values=values, errors=errors, display_name=name, action=action, title=title,
                   record_json=json.dumps(record), checks=form_checks(record))


# ------------------------------------------------------------------------------ login


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/patients") -> HTMLResponse:
    return _render(request, "login.html", next=next if next.startswith("/") and not
                   next.startswith("//") else "/patients",
                   error=None, user=None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, token: str = Form(...), next: str = Form("/patients")) -> Response:
    from brainmets.service.auth import AuthError, authenticate
    from brainmets.service.security import RateLimited

    request.state.audit_action = "login"  # failures audited with the client address
    try:
        authenticate(request, token.strip())
    except RateLimited as exc:
        resp = _render(request, "login.html", 429, next=next, error=str(exc.detail), user=None)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except AuthError:
        return _render(request, "login.html", 401, next=next, error="Unknown or revoked token.",
                       user=None)
    safe = next.startswith("/") and not next.startswith(("//", "/\\")) and "\\" not in next
    target = next if safe else "/patients"  # no open redirect
    ok = RedirectResponse(target, status_code=303)
    ok.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                  secure=request.app.state.settings.secure_cookies, max_age=12 * 3600)
    return ok


@router.get("/logout")
def logout() -> Response:
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE)
    return resp


@router.get("/")
def home() -> Response:
    return RedirectResponse("/patients", status_code=303)


# ------------------------------------------------------------------------------ patients


@router.get("/patients", response_class=HTMLResponse)
def patients(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
    with request.app.state.store.session() as s:
        rows = [core.patient_view(s, p, user) for p in repo.visible_patients(s, user)]
    return _render(request, "patients.html", patients=rows)


@router.get("/patients/new", response_class=HTMLResponse)
def new_patient(request: Request, user: User = Depends(require_writer)) -> HTMLResponse:
    return _form_page(request, 200, {}, {}, {}, "", "/patients/new", "New patient")


@router.post("/patients/validate", response_class=HTMLResponse)
async def validate(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
    """htmx: inline validation of the whole form; returns the error list fragment."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    _, errors = validate_form(form)
    return _render(request, "_form_errors.html", errors=errors, inline=True)


async def _save(request: Request, user: User, pid: str | None) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    if pid is not None and "_record" not in form:
        # a client that did not send the hidden copy: start from the stored record, so the
        # fields it did not send are kept (nothing is lost by a partial form)
        with request.app.state.store.session() as s:
            stored = check_patient(user, s.get(Patient, pid) if len(pid) <= 32 else None,
                                   write=True)
            form["_record"] = json.dumps(stored.record)
    record, errors = validate_form(form, new=pid is None)
    name = form.get("display_name", "").strip()[:200] or None
    if record is None:
        base, _ = _base_record(form)
        return _form_page(request, 422, form, errors, base, name or "", request.url.path,
                          "Fix the highlighted fields")
    with request.app.state.store.session() as s:
        if pid is None:
            p = repo.create_patient(s, user, record, name)
        else:
            p = check_patient(user, s.get(Patient, pid), write=True)
            repo.update_patient(s, p, record, name)
        request.state.patient_id = p.id
        target = f"/patients/{p.id}"
    return RedirectResponse(target, status_code=303)


@router.post("/patients/new")
async def create(request: Request, user: User = Depends(require_writer)) -> Response:
    return await _save(request, user, None)


_patient = patient_for  # the same access check as the REST API


@router.get("/patients/{pid}/edit", response_class=HTMLResponse)
def edit(request: Request, pid: str, user: User = Depends(require_writer)) -> HTMLResponse:
    with request.app.state.store.session() as s:
        p = _patient(request, s, user, pid, write=True)
        record, name = dict(p.record), p.display_name or ""
    return _form_page(request, 200, record_to_form(record), {}, record, name,
                      f"/patients/{pid}/edit", "Edit patient")


@router.post("/patients/{pid}/edit")
async def save_edit(request: Request, pid: str, user: User = Depends(require_writer)) -> Response:
    return await _save(request, user, pid)


@router.get("/patients/{pid}", response_class=HTMLResponse)
def patient_page(request: Request, pid: str, user: User = Depends(current_user)) -> HTMLResponse:
    store = request.app.state.store
    with store.session() as s:
        p = _patient(request, s, user, pid)
        ctx = core.report_context(store, s, p, user,
                                  getattr(request.app.state, "response_cache", None))
        pending = [sc.id for sc in p.scans if sc.status in ("queued", "running")]
        current = repo.latest_done_scan(s, p.id)
        res = (current.result or {}) if current is not None else {}
    findings = {"low_confidence_candidates": res.get("low_confidence_candidates") or [],
                "findings": res.get("findings") or []}
    err = request.query_params.get("review_error")
    return _render(request, "patient.html", pending=pending,
                   today=dt.datetime.now(dt.UTC).date().isoformat(), findings=findings,
                   can_write=user.role != "researcher", review_error=err[:300] if err else None,
                   **ctx)


def _num(form: Any, key: str) -> float | None:
    raw = str(form.get(key) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise review.ReviewError([f"{key}: expected a number, got {raw[:20]!r}"]) from None


def _review_redirect(pid: str, error: str | None = None) -> Response:
    q = f"?review_error={quote(error)}" if error else ""
    return RedirectResponse(f"/patients/{pid}{q}#review", status_code=303)


@router.post("/patients/{pid}/lesions/{lid}")
async def review_form(request: Request, pid: str, lid: str,
                      user: User = Depends(require_writer)) -> Response:
    """The review buttons without JavaScript: the same action as PATCH /api/.../lesions/{lid}."""
    form = await request.form()
    try:
        body: dict[str, Any] = {}
        status = str(form.get("status") or "").strip()
        if status:
            body["status"] = status
        d = _num(form, "diameter_mm")
        if d is not None:
            body["diameter_mm"] = d
        patch = review.LesionPatch.model_validate(body)
        with request.app.state.store.session() as s:
            p = _patient(request, s, user, pid, write=True)
            request.state.audit_action = "review"
            review.patch_lesion(s, p, lid[:20], patch, user, f"POST {request.url.path}")
    except review.ReviewError as exc:
        return _review_redirect(pid, "; ".join(exc.messages))
    except ValidationError as exc:
        return _review_redirect(pid, "; ".join(format_errors(exc)))
    return _review_redirect(pid)


@router.post("/patients/{pid}/lesions")
async def add_lesion_form(request: Request, pid: str,
                          user: User = Depends(require_writer)) -> Response:
    """Add a lesion from the form (seed point x, y, z; optional diameter by hand)."""
    form = await request.form()
    store = request.app.state.store
    try:
        xyz = [_num(form, k) for k in ("x", "y", "z")]
        if any(v is None for v in xyz):
            raise review.ReviewError(["centroid_mm: give x, y and z (click the image)"])
        body: dict[str, Any] = {"centroid_mm": xyz}
        d = _num(form, "diameter_mm")
        if d is not None:
            body["diameter_mm"] = d
        add = review.LesionAdd.model_validate(body)
        with store.session() as s:
            p = _patient(request, s, user, pid, write=True)
            scan = repo.latest_done_scan(s, p.id)
            vol = volume_path(store, scan) if scan is not None else None
            request.state.audit_action = "review"
            review.add_lesion(s, p, add, user, vol, f"POST {request.url.path}")
    except review.ReviewError as exc:
        return _review_redirect(pid, "; ".join(exc.messages))
    except ValidationError as exc:
        return _review_redirect(pid, "; ".join(format_errors(exc)))
    return _review_redirect(pid)


@router.post("/patients/{pid}/scans", response_class=HTMLResponse)
def upload(request: Request, pid: str, file: UploadFile = File(...),
           date: str | None = Form(None), user: User = Depends(require_writer)) -> Response:
    try:
        job_id = submit_scan(request, pid, file.file, date or None, None, None, user)
    except InvalidRecord as exc:
        # 200 so htmx swaps the message in (htmx ignores 4xx bodies by default)
        return _render(request, "_job.html", 200, pid=pid, job=None, status="rejected",
                       error="; ".join(exc.messages))
    except HTTPException as exc:
        if exc.status_code in (403, 404):
            raise
        return _render(request, "_job.html", 200, pid=pid, job=None,
                       status="rejected", error=str(exc.detail))
    return _render(request, "_job.html", 200, pid=pid, job=job_id, status="queued",
                   error=None)


@router.get("/patients/{pid}/jobs/{job}", response_class=HTMLResponse)
def job_status(request: Request, pid: str, job: str,
               user: User = Depends(current_user)) -> Response:
    with request.app.state.store.session() as s:
        p = _patient(request, s, user, pid)
        scan = s.get(Scan, job) if len(job) <= 32 else None
        if scan is None or scan.patient_id != p.id:
            raise HTTPException(404, "no such job")
        status, error = scan.status, scan.error
    resp = _render(request, "_job.html", pid=pid, job=job, status=status, error=error)
    if status == "done":
        resp.headers["HX-Refresh"] = "true"
    return resp


def login_redirect(path: str) -> str:
    return f"/login?next={quote(path)}"
