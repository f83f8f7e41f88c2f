"""Browser tests of the clinician's loop (issue #20): Playwright driving Debian's chromium
against a real ``brainmets serve``. Review flow (reject, jump, add by seed point), form round
trip, keyboard-only navigation, axe-core (vendored, tests/service/vendor/axe-core) with no
violation on the login, list, patient and form pages, and no sideways scroll at 1024 and 1440 px
and at 200 % zoom. Screenshots under test-artifacts/review/."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
AXE = REPO / "tests" / "service" / "vendor" / "axe-core" / "axe.min.js"
OUT = Path(os.environ.get("BRAINMETS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "review"
RECORD = {"id": "MRN-AXE", "age": 64, "sex": "female", "kps": 80, "ecog": 1,
          "primary": {"site": "nsclc", "histology": "adenocarcinoma", "controlled": True,
                      "egfr": "unknown", "alk": "negative"},
          "extracranial_metastases": False, "brain_metastases": {"leptomeningeal": False},
          "symptoms": {"status": "asymptomatic"},
          "therapy": {"planned_pemetrexed_platinum": True, "dexamethasone_mg_day": 0},
          "labs": {"hemoglobin_g_dl": 12.5}}


def _seed(srv, make_volume, blob_scan) -> tuple[str, str]:
    from brainmets.service.jobs import scan_dir
    from brainmets.store import open_store, repo
    from brainmets.store.models import Scan, TimePoint, utcnow

    st = open_store(None, srv.data_dir)
    try:
        with st.session() as s:
            user, token = repo.create_user(s, "dr-review", "clinician")
            p = repo.create_patient(s, user, RECORD, "Review Test")
            tp = TimePoint(patient_id=p.id, date=dt.date(2026, 1, 10))
            s.add(tp)
            s.flush()
            sc = Scan(patient_id=p.id, timepoint_id=tp.id, kind="nifti", status="done",
                      sha256="0" * 64, size_bytes=1, finished_at=utcnow())
            s.add(sc)
            s.flush()
            folder = scan_dir(st, sc.id)
            (folder / "out").mkdir(parents=True)
            faint = (slice(10, 14), slice(4, 8), slice(11, 14))
            make_volume(folder / "input.nii.gz", extra_dim_blob=faint)
            blob_scan(folder / "input.nii.gz", folder / "out")
            sc.result = json.loads((folder / "out" / "lesions.json").read_text())
            return token, p.id
    finally:
        st.dispose()


def _login(page, url: str, token: str) -> None:
    page.goto(url + "/login")
    page.fill("#token", token)
    page.click("button[type=submit]")


def _axe(page, name: str) -> list[dict]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    res = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: 'tag',
            values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    (OUT / f"axe-{name}.json").write_text(json.dumps(res, indent=1))
    return res


def _no_sideways_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= "
                         "document.documentElement.clientWidth + 1")


@pytest.fixture
def server(server_factory, make_volume, stub_scan):
    """A running server with one clinician, one patient and one completed scan (three
    detected lesions and a faint blob, from the stand-in scan of tests/review/conftest.py)."""
    OUT.mkdir(parents=True, exist_ok=True)
    srv = server_factory()
    token, pid = _seed(srv, make_volume, stub_scan)
    srv.start()
    return srv, token, pid


def test_axe_finds_no_violation_on_any_page(browser, server):
    srv, token, pid = server
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000}, bypass_csp=True)
    page = ctx.new_page()
    page.goto(srv.url + "/login")
    found = {"login": _axe(page, "login")}
    _login(page, srv.url, token)
    page.goto(srv.url + "/patients")
    found["list"] = _axe(page, "list")
    page.goto(f"{srv.url}/patients/{pid}")
    page.wait_for_function("() => ['ready', 'fallback'].includes("
                           "document.getElementById('viewer').dataset.state)", timeout=60_000)
    found["patient"] = _axe(page, "patient")
    page.goto(f"{srv.url}/patients/{pid}/edit")
    found["form"] = _axe(page, "form")
    page.goto(srv.url + "/patients/new")
    page.click("#save")  # empty form: refused, fields marked invalid
    found["form-errors"] = _axe(page, "form-errors")
    assert {k: v for k, v in found.items() if v} == {}


def test_review_flow_in_the_browser(browser, server):
    from playwright.sync_api import expect

    srv, token, pid = server
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, srv.url, token)
    page.goto(f"{srv.url}/patients/{pid}")
    rows = page.locator("#lesion-table tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#summary")).to_contain_text("provisional")
    page.screenshot(path=str(OUT / "01-review-before.png"), full_page=True)
    # reject L3 (the REST call from app.js), confirm L1 and L2
    page.locator("#lesion-L3 button.b-reject").click()
    expect(page.locator("#lesion-L3 .status-badge")).to_have_text("rejected")
    for lid in ("L1", "L2"):
        page.locator(f"#lesion-{lid} button.b-confirm").click()
        expect(page.locator(f"#lesion-{lid} .status-badge")).to_have_text("confirmed")
    expect(page.locator("#review-status")).to_contain_text("Every lesion reviewed")
    assert "provisional" not in page.locator("#summary").inner_text().lower()
    # jump to a lesion: the row is marked by text, not colour only
    page.locator("#lesion-L1 button.jump").click()
    expect(page.locator("#lesion-L1")).to_have_attribute("aria-current", "true")
    # add the faint blob by its seed point (world mm; the crosshair fills these on a click)
    page.fill("#seed-x", "-1")
    page.fill("#seed-y", "-13")
    page.fill("#seed-z", "12")
    page.click("#add-lesion-button")
    expect(page.locator("#lesion-A1 .status-badge")).to_have_text("added")
    page.screenshot(path=str(OUT / "02-review-after.png"), full_page=True)
    api = page.request.get(f"{srv.url}/api/patients/{pid}/assessment",
                           headers={"Authorization": f"Bearer {token}"}).json()
    assert api["provisional"] is False
    assert sorted(x["id"] for x in api["lesions"]) == ["A1", "L1", "L2"]
    assert not errors, errors


def test_form_round_trip_in_the_browser(browser, server):
    srv, token, pid = server
    page = browser.new_page(viewport={"width": 1024, "height": 900})
    _login(page, srv.url, token)
    h = {"Authorization": f"Bearer {token}"}
    before = page.request.get(f"{srv.url}/api/patients/{pid}", headers=h).json()["record"]
    page.goto(f"{srv.url}/patients/{pid}/edit")
    page.screenshot(path=str(OUT / "03-form-1024.png"), full_page=True)
    assert _no_sideways_scroll(page)
    page.click("#save")
    page.wait_for_url(f"**/patients/{pid}")
    after = page.request.get(f"{srv.url}/api/patients/{pid}", headers=h).json()["record"]
    assert after == before
    assert after["labs"] == RECORD["labs"]
    assert after["therapy"]["planned_pemetrexed_platinum"] is True


def test_keyboard_reaches_every_section(browser, server):
    srv, token, pid = server
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    _login(page, srv.url, token)
    page.goto(f"{srv.url}/patients/{pid}")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    reached = []
    for _ in range(400):  # Tab through the whole page: every control is reachable in order
        page.keyboard.press("Tab")
        info = page.evaluate("() => { const a = document.activeElement; const s = a.closest("
                             "'section'); return [a.tagName, a.id, s ? s.id : null]; }")
        if info[0] == "BODY":
            break
        reached.append(info)
    sections = {r[2] for r in reached}
    assert {"summary", "review"} <= sections, sections
    assert any(r[1] == "gl1" for r in reached)  # the viewer canvas takes focus
    # the summary links move focus into each section (keyboard users reach them all)
    for target in ("review", "prognosis", "options", "warnings", "timeline", "references"):
        page.focus(f'nav.toc a[href="#{target}"]')
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == target, target


@pytest.mark.parametrize(("width", "name"), [(1024, "1024"), (1440, "1440"), (512, "zoom200")])
def test_layout_has_no_sideways_scroll(browser, server, width, name):
    """200 % zoom at a 1024 px window = a 512 CSS px viewport."""
    srv, token, pid = server
    page = browser.new_page(viewport={"width": width, "height": 900})
    _login(page, srv.url, token)
    for path, label in ((f"/patients/{pid}", "patient"), ("/patients", "list"),
                        (f"/patients/{pid}/edit", "form")):
        page.goto(srv.url + path)
        page.screenshot(path=str(OUT / f"layout-{label}-{name}.png"), full_page=True)
        wide = page.evaluate("""() => [...document.querySelectorAll('body *')].filter(
            e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className)""")
        assert _no_sideways_scroll(page), (label, width, wide)


def test_a_click_on_the_image_adds_a_lesion(browser, server):
    """With the add mode on, a click on the NiiVue image sends POST .../lesions with the
    clicked point as the seed: a new lesion row, or (a seed in plain tissue) the refusal
    naming centroid_mm. Without WebGL the page says the viewer fell back, and this is skipped."""
    from playwright.sync_api import expect

    srv, token, pid = server
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(20_000)
    _login(page, srv.url, token)
    page.goto(f"{srv.url}/patients/{pid}")
    page.wait_for_function("() => ['ready', 'fallback'].includes("
                           "document.getElementById('viewer').dataset.state)", timeout=60_000)
    if page.locator("#viewer").get_attribute("data-state") != "ready":
        pytest.skip("no WebGL2 in this chromium: the viewer fell back to the overlay images")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.click("#add-mode")
    expect(page.locator("#add-mode")).to_have_attribute("aria-pressed", "true")
    page.locator("#gl1").scroll_into_view_if_needed()
    box = page.locator("#gl1").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 6, box["y"] + box["height"] / 2)
    page.wait_for_load_state("load")
    page.wait_for_timeout(1500)
    assert not errors, errors
    expect(page.locator("#lesion-A1, #review-error").first).to_be_visible(timeout=20_000)
    if page.locator("#review-error").count():
        expect(page.locator("#review-error")).to_contain_text("centroid_mm")
    page.screenshot(path=str(OUT / "04-click-to-add.png"), full_page=False)
