"""Browser test: Playwright (Python) driving Debian's chromium against a real `brainmets serve`:
log in, create a patient (inline validation), upload a phantom MRI, wait for the scan, see the
lesion table, prognosis and options, jump to a lesion, download the PDF. Screenshots and the
PDF are saved under test-artifacts/service/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]



def test_clinician_workflow_in_browser(browser, chromium_launcher, server_factory, phantom_mri):
    from playwright.sync_api import expect

    import brainmets.imaging.pipeline  # noqa: F401  (own module: an import error fails)

    artifacts = Path(os.environ.get("BRAINMETS_TEST_ARTIFACTS",
                                    Path(__file__).resolve().parents[2] / "test-artifacts"))
    out = artifacts / "service"
    out.mkdir(parents=True, exist_ok=True)
    srv = server_factory()
    from brainmets.store import open_store, repo

    st = open_store(None, srv.data_dir)
    with st.session() as s:
        token = repo.create_user(s, "dr-browser", "clinician")[1]
    st.dispose()
    srv.start()

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(srv.url + "/patients")  # not logged in: redirected to the login page
    expect(page.locator("#token")).to_be_visible()
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Patients")

    page.click("#new-patient")
    page.fill("input[name=display_name]", "Browser Test")
    page.fill("input[name=age]", "12")  # below 18: inline validation names the field
    page.select_option("select[name=kps]", "80")
    expect(page.locator("#form-errors li[data-field=age]")).to_be_visible()
    page.fill("input[name=age]", "62")
    page.select_option("select[name='primary.site']", "nsclc")
    page.select_option("select[name='primary.histology']", "adenocarcinoma")
    page.select_option("select[name='primary.egfr']", "positive")
    page.select_option("select[name='primary.controlled']", "yes")
    page.select_option("select[name=extracranial_metastases]", "no")
    page.select_option("select[name='symptoms.status']", "asymptomatic")
    expect(page.locator("#form-errors li")).to_have_count(0)
    page.screenshot(path=str(out / "01-patient-form.png"), full_page=True)
    page.click("#save")
    expect(page.locator("#patient-title")).to_have_text("Browser Test")

    page.set_input_files("#scan-file", str(phantom_mri))
    page.click("#upload")
    expect(page.locator("#job")).to_have_attribute("data-status", "queued", timeout=20_000)
    # the job partial polls; when the scan is done the page reloads with the results
    expect(page.locator("#lesion-table tbody tr").first).to_be_visible(timeout=180_000)
    expect(page.locator("#primary-survival")).to_be_visible()  # other indices are folded
    expect(page.locator("#options")).to_be_visible()
    viewer = page.locator("#viewer")
    page.wait_for_function(
        "() => ['ready', 'fallback'].includes(document.getElementById('viewer').dataset.state)",
        timeout=60_000)
    state = viewer.get_attribute("data-state")
    if state == "fallback":
        expect(page.locator("#overlay-img")).to_be_visible()
    page.locator("#lesion-table tbody tr button.jump").first.click()
    expect(page.locator("#lesion-table tbody tr.selected")).to_have_count(1)
    expect(page.locator("#lesion-table tbody tr[aria-current=true]")).to_have_count(1)
    page.screenshot(path=str(out / "02-patient-page.png"), full_page=True)
    page.locator("#viewer:visible, #fallback:visible").first.screenshot(
        path=str(out / "03-viewer.png"))

    pdf = page.request.get(srv.url + page.locator("#pdf-link").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    body = pdf.body()
    assert body[:5] == b"%PDF-" and len(body) > 5000
    (out / "report.pdf").write_bytes(body)

    page.goto(srv.url + "/patients")
    expect(page.locator("#patient-list")).to_contain_text("Browser Test")
    page.screenshot(path=str(out / "04-patient-list.png"), full_page=True)
    (out / "viewer-state.txt").write_text(f"{state}\n")
    assert not errors, errors
    patient_url = srv.url + page.locator("#patient-list a").first.get_attribute("href")

    # without WebGL the page falls back to the overlay PNG
    from playwright.sync_api import sync_playwright  # noqa: F401  (same driver, new browser)

    nogl = chromium_launcher(extra=("--disable-webgl", "--disable-3d-apis"))
    try:
        p2 = nogl.new_page(viewport={"width": 1400, "height": 1000})
        p2.goto(srv.url + "/login")
        p2.fill("#token", token)
        p2.click("button[type=submit]")
        p2.goto(patient_url)
        expect(p2.locator("#overlay-img")).to_be_visible(timeout=20_000)
        assert p2.locator("#viewer").get_attribute("data-state") == "fallback"
        expect(p2.locator("#fallback-reason")).to_contain_text("WebGL2")
        p2.locator("#fallback").screenshot(path=str(out / "05-viewer-fallback-no-webgl.png"))
    finally:
        nogl.close()
