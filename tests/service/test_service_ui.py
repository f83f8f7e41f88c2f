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
    # one stated left-right convention (viewer, thumbnails, PDF): radiological
    assert "patient's right is on the image left" in page


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


# ------------------------------------------------- issue #20 item 3 / issue #15 item 7: the page


BOARD = {"id": "MRN-B", "age": 62, "sex": "female", "kps": 80, "ecog": 1,
         "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                     "egfr": "positive", "alk": "negative", "pdl1_tps": 60},
         "extracranial_metastases": False, "brain_metastases": {"count": 2},
         "symptoms": {"status": "symptomatic"}, "therapy": {"dexamethasone_mg_day": 8}}


def _board_context(api, record):
    from brainmets.service import core
    from brainmets.store.models import Patient, User

    pid = api.post("/api/patients", json=record).json()["id"]
    with api.store.session() as s:
        user = s.query(User).filter(User.name == "a").one()
        return pid, core.report_context(api.store, s, s.get(Patient, pid), user)


def test_patient_page_reads_in_one_minute(sqlite_api):
    """Primary survival first, in words, its index named in plain language; the other indices
    folded below; missing inputs in clinical words linking the form field that fills them."""
    c = _login(sqlite_api)
    pid = sqlite_api.post("/api/patients", json=BOARD).json()["id"]
    page = c.get(f"/patients/{pid}").text
    a = sqlite_api.get(f"/api/patients/{pid}/assessment").json()
    ps = a["primary_survival"]
    first = page.index('id="primary-survival"')
    assert first < page.index("<details class=\"other-indices\"")
    assert f"median {ps['median_survival_months']} months" in page[first:first + 400]
    assert "Lung cancer molecular GPA" in page[first:first + 600]  # not "lung_molgpa_2017"
    assert "<h3>gpa_2008</h3>" not in page and "Graded Prognostic Assessment (GPA, 2008)" in page
    # missing inputs: clinical words, each a link to the edit form's field, which exists
    form = c.get(f"/patients/{pid}/edit").text
    links = re.findall(rf'href="/patients/{pid}/edit#(f-[\w-]+)">([^<]+)</a>', page)
    assert links, "missing inputs must link the form fields"
    for fid, label in links:
        assert f'id="{fid}"' in form, fid
        assert "." not in label and "_" not in label, label  # no code names
    # the summary at the top links to every section, and each section exists
    for sec in ("summary", "review", "prognosis", "options", "warnings", "timeline",
                "references"):
        assert f'href="#{sec}"' in page and f'id="{sec}"' in page, sec
    # accessibility basics the issue found missing (issue #20 item 6)
    assert '<label for="scan-file">' in page and 'class="skip-link"' in page
    assert 'role="application"' in page or "gl1" not in page


def test_report_header_and_no_placeholders(sqlite_api):
    """Issue #15 item 7: header with histology, driver markers, symptoms and steroid dose; BSBM
    says "not reached"; no placeholder text; one stated left-right convention."""
    from brainmets.report.pdf import render_html

    _pid, ctx = _board_context(sqlite_api, BOARD)
    html = render_html(ctx)
    header = html[html.index('id="facts"'):html.index("</dl>")]
    for part in ("adenocarcinoma", "EGFR positive", "ALK negative", "PD-L1 TPS 60",
                 "symptomatic", "8.0 mg/day"):
        assert part in header, part
    assert "not reported" not in html and "not stated in the spec" not in html
    for e in ctx["assessment"]["prognosis"]:
        if e["index"] == "bsbm" and e["median_survival_months"] is None:
            card = html[html.index('data-index="bsbm"'):]
            assert "not reached" in card[:1500] or "not given in the source" in card[:1500]
    assert "Radiological convention" in render_html(
        {**ctx, "overlay_b64": "iVBORw0KGgo="})  # the PDF thumbnails state it


def test_pdf_option_table_is_not_clipped(sqlite_api):
    """Issue #20: the PDF options table lost its Sources text and Flags column. Every cell box
    of the laid-out PDF lies inside the page's content width."""
    from weasyprint import HTML

    from brainmets.report.pdf import render_html

    _pid, ctx = _board_context(sqlite_api, BOARD)
    doc = HTML(string=render_html(ctx)).render()
    seen = 0

    def walk(box, right):
        nonlocal seen
        if getattr(box, "element_tag", None) in ("td", "th"):
            seen += 1
            assert box.position_x + box.margin_width() <= right + 0.5, box.element_tag
        for child in getattr(box, "children", []) or []:
            walk(child, right)

    for page in doc.pages:
        right = page._page_box.content_box_x() + page._page_box.width
        walk(page._page_box, right)
    assert seen > 20
    assert ">Flags</th>" in render_html(ctx) and 'class="sources"' in render_html(ctx)


def test_input_checks_are_shown_beside_the_form_fields(sqlite_api):
    """Issue #15 item 4: the web form shows the consistency checks beside the fields they
    name (decision 12: KPS 90 with ECOG 4; asymptomatic on dexamethasone)."""
    c = _login(sqlite_api)
    rec = {"age": 60, "kps": 90, "ecog": 4, "primary": {"site": "breast"},
           "symptoms": {"status": "asymptomatic"}, "therapy": {"dexamethasone_mg_day": 16}}
    pid = sqlite_api.post("/api/patients", json=rec).json()["id"]
    form = c.get(f"/patients/{pid}/edit").text

    def field_block(fid):
        start = form.index(f'<label for="{fid}"')
        return form[start:form.index('<div class="field', start + 1)]

    assert "check-" in field_block("f-kps") and "check-" in field_block("f-ecog")
    assert "check-" in field_block("f-therapy-dexamethasone_mg_day")
    assert "check-" not in field_block("f-age")
    page = c.get(f"/patients/{pid}").text
    warnings = page[page.index('id="warnings"'):]
    assert f'href="/patients/{pid}/edit#f-kps"' in warnings


def test_partial_edit_form_without_the_hidden_copy_keeps_the_rest(sqlite_api):
    """A client posting only some fields (no hidden record copy) changes those fields only."""
    c = _login(sqlite_api)
    pid = sqlite_api.post("/api/patients", json=FULL).json()["id"]
    before = sqlite_api.get(f"/api/patients/{pid}").json()["record"]
    r = c.post(f"/patients/{pid}/edit", data={"kps": "60"}, headers=ORIGIN,
               follow_redirects=False)
    assert r.status_code == 303
    after = sqlite_api.get(f"/api/patients/{pid}").json()["record"]
    assert after["kps"] == 60
    after["kps"] = before["kps"]
    assert after == before
