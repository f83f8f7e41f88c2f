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


# ------------------------------------------------------------- issue #20: records never lose data

FULL = {
    "id": "MRN-77", "age": 58, "sex": "male", "kps": 70, "ecog": 2,
    "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": False,
                "egfr": "positive", "egfr_variant": "exon20_insertion", "alk": "negative",
                "ros1": "unknown", "ret": "negative", "met_ex14": "unknown", "ntrk": "negative",
                "kras_g12c": "unknown", "pdl1_tps": 60.0},
    "extracranial_metastases": True,
    "brain_metastases": {"count": 2, "leptomeningeal": False, "lesions": [
        {"diameter_mm": 12.0, "volume_ml": 0.9, "location": "supratentorial", "eloquent": True,
         "mass_effect": False, "hippocampus_distance_mm": 25.0},
        {"diameter_mm": 8.0, "volume_ml": 0.3, "location": "cerebellum"}]},
    "symptoms": {"status": "mild_controlled", "severe_icp": False, "seizure_history": True},
    "therapy": {"systemic_options_available": True, "immunotherapy_naive": True,
                "on_immunotherapy": False, "planned_pemetrexed_platinum": True,
                "prior_her2_therapies": [], "dexamethasone_mg_day": 4.0},
    "labs": {"hemoglobin_g_dl": 11.5, "hemoglobin_lln_g_dl": 12.0, "crp_mg_l": 20.0,
             "crp_uln_mg_l": 5.0, "ldh_above_uln": True},
    "radiation_history": [{"date": "2026-01-20", "modality": "srs", "lesion_ids": ["L1"],
                           "dose_gy": 20.0, "fractions": 1}],
    "advanced_imaging": {"prior_srs": True, "lesion_adc": 1.1},
    "brain_metastasis_markers": {"her2": "negative", "source": "resection"},
}


def _form_values(html: str) -> dict[str, str]:
    """What a browser submits for the page's patient form: inputs (hidden ones too), the
    selected option of each select, textarea contents."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.values: dict[str, str] = {}
            self.select = self.textarea = None
            self.first: dict[str, str] = {}

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "input" and a.get("name") and a.get("type") not in ("submit", "file"):
                self.values[a["name"]] = a.get("value") or ""
            elif tag == "select":
                self.select = a["name"]
            elif tag == "option" and self.select:
                self.first.setdefault(self.select, a.get("value") or "")
                if "selected" in a:
                    self.values[self.select] = a.get("value") or ""
            elif tag == "textarea":
                self.textarea = a["name"]
                self.values[self.textarea] = ""

        def handle_endtag(self, tag):
            if tag == "select":
                self.values.setdefault(self.select, self.first.get(self.select, ""))
                self.select = None
            elif tag == "textarea":
                self.textarea = None

        def handle_data(self, data):
            if self.textarea:
                self.values[self.textarea] += data

    p = P()
    p.feed(html[html.index('id="patient-form"'):])
    return p.values


def test_edit_form_saved_unchanged_keeps_every_field(sqlite_api):
    """Issue #20: saving the edit form unchanged deleted labs, planned pemetrexed-platinum and
    the clinician's lesion list. Every field (shown or not) must survive."""
    from brainmets.model import parse_patient

    c = _login(sqlite_api)
    pid = sqlite_api.post("/api/patients", json=FULL).json()["id"]
    before = sqlite_api.get(f"/api/patients/{pid}").json()["record"]
    expected = parse_patient(FULL).model_dump(mode="json", exclude_none=True)
    assert before == expected
    form = _form_values(c.get(f"/patients/{pid}/edit").text)
    for shown in ("labs.hemoglobin_g_dl", "therapy.planned_pemetrexed_platinum",
                  "primary.egfr_variant", "primary.kras_g12c", "brain_metastases.lesions",
                  "radiation_history"):
        assert shown in form, shown
    r = c.post(f"/patients/{pid}/edit", data=form, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    after = sqlite_api.get(f"/api/patients/{pid}").json()
    assert after["record"] == before and after["version"] == 2
    # a change to one field changes only that field
    form["labs.hemoglobin_g_dl"] = "10.5"
    c.post(f"/patients/{pid}/edit", data=form, headers=ORIGIN)
    rec = sqlite_api.get(f"/api/patients/{pid}").json()["record"]
    assert rec["labs"]["hemoglobin_g_dl"] == 10.5
    rec["labs"]["hemoglobin_g_dl"] = before["labs"]["hemoglobin_g_dl"]
    assert rec == before


def test_empty_new_patient_form_is_refused_with_field_errors(sqlite_api):
    c = _login(sqlite_api)
    empty = {k: "" for k in _form_values(c.get("/patients/new").text)}
    assert "age" in empty and "_record" in empty
    r = c.post("/patients/new", data=empty, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 422
    assert 'aria-invalid="true"' in r.text and "autofocus" in r.text
    assert 'href="#f-age"' in r.text  # the error summary links to the field
    assert sqlite_api.get("/api/patients").json() == []
    # the API refuses an empty record as well
    r = sqlite_api.post("/api/patients", json={"id": "X"})
    assert r.status_code == 422 and "empty record" in r.text
    assert sqlite_api.get("/api/patients").json() == []


def test_upload_form_refuses_future_scan_date(sqlite_api, tmp_path):
    c = _login(sqlite_api)
    pid = sqlite_api.post("/api/patients", json=H.PATIENT).json()["id"]
    data = H.tiny_nifti(tmp_path / "t.nii.gz").read_bytes()
    r = c.post(f"/patients/{pid}/scans", files={"file": ("t.nii.gz", data)},
               data={"date": "2031-01-01"}, headers=ORIGIN)
    assert "Upload rejected" in r.text and "in the future" in r.text
    assert sqlite_api.get(f"/api/patients/{pid}").json()["scans"] == []
