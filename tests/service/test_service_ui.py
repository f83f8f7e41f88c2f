"""Web UI routes (server-rendered) through the TestClient: login, pages, inline validation,
CSRF refusal, upload partial, job polling, researcher view; and the PDF report."""

from __future__ import annotations

import re

import pytest

H = None


@pytest.fixture(autouse=True)
def _helpers(helpers):
    global H
    H = helpers


ORIGIN = {"Origin": "http://testserver"}


def _login(api, who="a"):
    c = api.client
    r = c.post("/login", data={"token": api.tokens[who], "next": "/patients"},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/patients"
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    c.cookies.set("bm_token", api.tokens[who])
    return c


def test_pages_redirect_to_login_without_token(sqlite_api):
    c = sqlite_api.client
    r = c.get("/patients", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c.get("/login").status_code == 200
    r = c.post("/login", data={"token": "bm_nope"})
    assert r.status_code == 401 and "Unknown or revoked token" in r.text
    assert c.get("/static/vendor/niivue/niivue.umd.js").status_code == 200
    for evil in ("//evil.example", "/\\evil.example", "https://evil.example"):
        r = c.post("/login", data={"token": sqlite_api.tokens["a"], "next": evil},
                   follow_redirects=False)
        assert r.headers["location"] == "/patients", evil


def test_form_inline_validation_and_create(sqlite_api):
    c = _login(sqlite_api)
    assert "New patient" in c.get("/patients/new").text
    r = c.post("/patients/validate", data={"age": "12", "kps": "85", "primary.site": "nsclc"},
               headers=ORIGIN)
    assert r.status_code == 200 and 'data-field="age"' in r.text and 'data-field="kps"' in r.text
    r = c.post("/patients/validate", data={"age": "abc"}, headers=ORIGIN)
    assert "expected a number" in r.text
    r = c.post("/patients/new", data={"age": "12"}, headers=ORIGIN)
    assert r.status_code == 422 and "Fix the highlighted fields" in r.text
    form = {"display_name": "Ann Example", "id": "MRN-9", "age": "70", "kps": "70",
            "primary.site": "breast", "primary.her2": "positive",
            "extracranial_metastases": "yes", "brain_metastases.count": "3"}
    assert c.post("/patients/new", data=form, follow_redirects=False).status_code == 403  # CSRF
    r = c.post("/patients/new", data=form, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    pid = r.headers["location"].rsplit("/", 1)[1]
    rec = sqlite_api.get(f"/api/patients/{pid}").json()
    assert rec["record"]["primary"] == {"site": "breast", "her2": "positive"}
    assert rec["record"]["extracranial_metastases"] is True and rec["display_name"] == "Ann Example"
    page = c.get(f"/patients/{pid}")
    assert page.status_code == 200 and "Ann Example" in page.text
    assert "Not a medical device" in page.text and 'id="upload-form"' in page.text
    assert "Ann Example" in c.get("/patients").text
    edit = c.get(f"/patients/{pid}/edit")
    assert 'value="MRN-9"' in edit.text
    form["kps"] = "60"
    assert c.post(f"/patients/{pid}/edit", data=form, headers=ORIGIN,
                  follow_redirects=False).status_code == 303
    assert sqlite_api.get(f"/api/patients/{pid}").json()["record"]["kps"] == 60


def test_upload_partial_and_job_polling(sqlite_api, tmp_path):
    c = _login(sqlite_api)
    pid = sqlite_api.post("/api/patients", json=H.PATIENT).json()["id"]
    r = c.post(f"/patients/{pid}/scans", files={"file": ("x.txt", b"not an image")},
               headers=ORIGIN)
    assert r.status_code == 200 and "Upload rejected" in r.text and "unsupported" in r.text
    data = H.tiny_nifti(tmp_path / "t.nii.gz").read_bytes()
    r = c.post(f"/patients/{pid}/scans", files={"file": ("t.nii.gz", data)}, headers=ORIGIN)
    assert r.status_code == 200 and 'data-status="queued"' in r.text and "hx-get" in r.text
    job = r.text.split(f"/patients/{pid}/jobs/")[1].split('"')[0]
    sqlite_api.client.app.state.jobs.wait(job, 60)
    r = c.get(f"/patients/{pid}/jobs/{job}")
    assert 'data-status="done"' in r.text and r.headers.get("hx-refresh") == "true"
    page = c.get(f"/patients/{pid}").text
    assert 'id="lesion-table"' in page and 'data-centroid="' in page and 'id="gl1"' in page
    assert "/static/vendor/niivue/niivue.umd.js" in page and 'id="fallback"' in page


def test_researcher_page_is_deidentified_and_read_only(sqlite_api):
    rec = dict(H.PATIENT, id="MRN-HIDDEN")
    pid = sqlite_api.post("/api/patients", json=rec).json()["id"]
    c = _login(sqlite_api, "r")
    page = c.get(f"/patients/{pid}").text
    assert "MRN-HIDDEN" not in page and "De-identified" in page and "upload-form" not in page
    assert c.get("/patients/new").status_code == 403
    pdf = sqlite_api.get(f"/api/patients/{pid}/report.pdf", "r")
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"


def test_report_html_has_every_section_and_no_external_fetch(sqlite_api):
    from brainmets.report.pdf import render_html
    from brainmets.service import core
    from brainmets.store.models import Patient, User

    pid = sqlite_api.post("/api/patients", json=H.PATIENT).json()["id"]
    store = sqlite_api.store
    with store.session() as s:
        user = s.query(User).filter(User.name == "a").one()
        ctx = core.report_context(store, s, s.get(Patient, pid), user)
    html = render_html(ctx)
    for part in ("Tumour-board summary", "Lesions", "Prognosis", "Options to discuss",
                 "Response time line", "References", "Not a medical device", "knowledge base"):
        assert part in html, part
    assert re.search(r'(src|href)="(https?:)?//', html) is None  # nothing fetched from outside


def test_ui_routes_odd_input_never_5xx(sqlite_api):
    c = _login(sqlite_api)
    long = "x" * 500
    for url in (f"/patients/{long}", "/patients/%00", f"/patients/{long}/edit",
                f"/patients/abc/jobs/{long}", "/patients/abc/jobs/x"):
        assert c.get(url).status_code in (403, 404, 422), url
    odd = {"age": "1e400", "kps": "NaN", "primary.pdl1_tps": "inf", "ecog": "-0",
           "primary.controlled": "maybe", "brain_metastases.count": "9" * 50}
    r = c.post("/patients/validate", data=odd, headers=ORIGIN)
    assert r.status_code == 200 and "<li" in r.text
    assert c.post("/patients/new", data=odd, headers=ORIGIN).status_code == 422
    r = c.post(f"/patients/{long}/scans", files={"file": ("a.nii", b"x")}, headers=ORIGIN)
    assert r.status_code in (403, 404)
