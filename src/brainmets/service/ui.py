"""Server-rendered web UI (Jinja2 + htmx; NiiVue as the one JavaScript island).

Pages authenticate with the same tokens as the API: the login page stores the token in an
HttpOnly, SameSite=Strict cookie. Every page touching patient data is audited (middleware).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from brainmets.model import InputError, parse_patient
from brainmets.report.pdf import TEMPLATES as REPORT_TEMPLATES
from brainmets.report.pdf import install_filters
from brainmets.service import api, core
from brainmets.service.auth import COOKIE, check_patient, current_user, require_writer
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

STATUS = ["positive", "negative", "unknown"]
BOOL = "bool"
# (field path, label, kind, choices)
FIELDS: list[tuple[str, str, str, list[Any] | None]] = [
    ("age", "Age at brain-metastasis diagnosis (years)", "int", None),
    ("sex", "Sex", "choice", ["female", "male", "other"]),
    ("kps", "Karnofsky performance status", "choice", list(range(100, -1, -10))),
    ("ecog", "ECOG performance status (not converted to KPS)", "choice", [0, 1, 2, 3, 4]),
    ("primary.site", "Primary site", "choice",
     ["nsclc", "sclc", "breast", "melanoma", "renal", "gi", "other", "unknown"]),
    ("primary.histology", "NSCLC histology", "choice", ["adenocarcinoma", "squamous", "other"]),
    ("primary.controlled", "Primary controlled", BOOL, None),
    ("primary.egfr", "EGFR", "choice", STATUS),
    ("primary.alk", "ALK", "choice", STATUS),
    ("primary.ros1", "ROS1", "choice", STATUS),
    ("primary.braf", "BRAF V600", "choice", STATUS),
    ("primary.er", "ER", "choice", STATUS),
    ("primary.pr", "PR", "choice", STATUS),
    ("primary.her2", "HER2", "choice", STATUS),
    ("primary.pdl1_tps", "PD-L1 TPS (%)", "float", None),
    ("extracranial_metastases", "Extracranial metastases", BOOL, None),
    ("brain_metastases.count", "Number of brain metastases", "int", None),
    ("brain_metastases.leptomeningeal", "Leptomeningeal disease", BOOL, None),
    ("symptoms.status", "Neurological symptoms", "choice",
     ["asymptomatic", "mild_controlled", "symptomatic"]),
    ("symptoms.severe_icp", "Severe raised intracranial pressure", BOOL, None),
    ("symptoms.seizure_history", "Seizure history", BOOL, None),
    ("therapy.systemic_options_available", "Systemic options available", BOOL, None),
    ("therapy.immunotherapy_naive", "Immunotherapy naive", BOOL, None),
    ("therapy.on_immunotherapy", "On immunotherapy", BOOL, None),
    ("therapy.dexamethasone_mg_day", "Dexamethasone (mg/day)", "float", None),
]


def _render(request: Request, template: str, code: int = 200, **ctx: Any) -> HTMLResponse:
    ctx.setdefault("user", getattr(request.state, "user", None))
    return templates.TemplateResponse(request=request, name=template, context=ctx,
                                      status_code=code)


def form_to_record(form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Form fields (dotted names) -> CONTRACT §1 record and conversion errors."""
    record: dict[str, Any] = {}
    errors: list[str] = []
    for path, _label, kind, _choices in [("id", "", "str", None), *FIELDS]:
        raw = (form.get(path) or "").strip()
        if raw == "":
            continue
        value: Any = raw
        try:
            if kind == "int" or (kind == "choice" and path in ("kps", "ecog")):
                value = int(raw)
            elif kind == "float":
                value = float(raw)
            elif kind == BOOL:
                if raw not in ("yes", "no"):
                    raise ValueError
                value = raw == "yes"
        except ValueError:
            errors.append(f"{path}: expected a number, got {raw!r}")
            continue
        api.fhir._set_path(record, path, value)
    return record, errors


def record_to_form(record: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path, _l, kind, _c in [("id", "", "str", None), *FIELDS]:
        cur: Any = record
        for k in path.split("."):
            cur = cur.get(k) if isinstance(cur, dict) else None
        if cur is None:
            continue
        out[path] = ("yes" if cur else "no") if kind == BOOL else str(cur)
    return out


def validate_form(form: dict[str, str]) -> tuple[dict[str, Any] | None, dict[str, str]]:
    record, errors = form_to_record(form)
    if not errors:
        try:
            p = parse_patient(record)
            record = p.model_dump(mode="json", exclude_none=True)
        except InputError as exc:
            errors = exc.messages
    by_field: dict[str, str] = {}
    for e in errors:
        path, _, msg = e.partition(": ")
        by_field.setdefault(path, msg or e)
    return (None if by_field else record), by_field


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
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                    secure=request.app.state.settings.secure_cookies, max_age=12 * 3600)
    return resp


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
    return _render(request, "patient_form.html", fields=FIELDS, values={}, errors={},
                   display_name="", action="/patients/new", title="New patient")


@router.post("/patients/validate", response_class=HTMLResponse)
async def validate(request: Request, user: User = Depends(current_user)) -> HTMLResponse:
    """htmx: inline validation of the whole form; returns the error list fragment."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    _, errors = validate_form(form)
    return _render(request, "_form_errors.html", errors=errors)


async def _save(request: Request, user: User, pid: str | None) -> Response:
    form = {k: str(v) for k, v in (await request.form()).items()}
    record, errors = validate_form(form)
    name = form.get("display_name", "").strip()[:200] or None
    if record is None:
        return _render(request, "patient_form.html", 422, fields=FIELDS, values=form,
                       errors=errors, display_name=name or "",
                       action=request.url.path, title="Fix the highlighted fields")
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


def _patient(request: Request, s: Any, user: User, pid: str, write: bool = False) -> Patient:
    request.state.patient_id = pid if len(pid) <= 32 else None
    return check_patient(user, s.get(Patient, pid) if len(pid) <= 32 else None, write)


@router.get("/patients/{pid}/edit", response_class=HTMLResponse)
def edit(request: Request, pid: str, user: User = Depends(require_writer)) -> HTMLResponse:
    with request.app.state.store.session() as s:
        p = _patient(request, s, user, pid, write=True)
        values, name = record_to_form(p.record), p.display_name or ""
    return _render(request, "patient_form.html", fields=FIELDS, values=values, errors={},
                   display_name=name, action=f"/patients/{pid}/edit", title="Edit patient")


@router.post("/patients/{pid}/edit")
async def save_edit(request: Request, pid: str, user: User = Depends(require_writer)) -> Response:
    return await _save(request, user, pid)


@router.get("/patients/{pid}", response_class=HTMLResponse)
def patient_page(request: Request, pid: str, user: User = Depends(current_user)) -> HTMLResponse:
    store = request.app.state.store
    with store.session() as s:
        p = _patient(request, s, user, pid)
        ctx = core.report_context(store, s, p, user)
        pending = [sc.id for sc in p.scans if sc.status in ("queued", "running")]
    return _render(request, "patient.html", pending=pending, today=dt.date.today().isoformat(),
                   **ctx)


@router.post("/patients/{pid}/scans", response_class=HTMLResponse)
def upload(request: Request, pid: str, file: UploadFile = File(...),
           date: str | None = Form(None), user: User = Depends(require_writer)) -> Response:
    try:
        job = api.upload_scan(request, pid, file, date or None, None, None, user)
    except api.InvalidRecord as exc:
        # 200 so htmx swaps the message in (htmx ignores 4xx bodies by default)
        return _render(request, "_job.html", 200, pid=pid, job=None, status="rejected",
                       error="; ".join(exc.messages))
    except HTTPException as exc:
        if exc.status_code in (403, 404):
            raise
        return _render(request, "_job.html", 200, pid=pid, job=None,
                       status="rejected", error=str(exc.detail))
    return _render(request, "_job.html", 200, pid=pid, job=job.job, status=job.status,
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
