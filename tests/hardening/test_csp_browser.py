"""Issue #17 bullet 2 in a real browser: every page runs under the strict CSP with no violation
(Playwright + Debian chromium): login, patient list, patient page with the NiiVue viewer, the
patient form, and the offline /docs (Swagger UI rendered from the vendored package with every
non-loopback request blocked)."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARGS = ["--headless", "--no-sandbox", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


@pytest.fixture
def browser(chromium_launcher):  # WebGL through SwiftShader: NiiVue must start under the CSP
    return chromium_launcher(ARGS)


def _watch(page, sink: list[str]) -> None:
    """Collect CSP violations (console and securitypolicyviolation events) and page errors."""
    page.on("console", lambda m: sink.append(f"console: {m.text}")
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)
    page.on("pageerror", lambda e: sink.append(f"pageerror: {e}"))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'Refused to (CSP) ' + e.violatedDirective + ' ' + e.blockedURI));")


def _offline(page, base: str) -> list[str]:
    """Abort every request that does not go to the loopback server (no CDN, no network)."""
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith(base) or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return outside


def test_pages_and_viewer_under_csp(browser, live_server, hhelpers, tmp_path):
    from playwright.sync_api import expect

    srv = live_server
    import httpx

    h = {"Authorization": f"Bearer {srv.tokens['a']}"}
    pid = httpx.post(srv.url + "/api/patients", json=hhelpers.PATIENT, headers=h).json()["id"]
    nii = hhelpers.tiny_nifti(tmp_path / "t.nii.gz").read_bytes()
    job = httpx.post(f"{srv.url}/api/patients/{pid}/scans", headers=h,
                     files={"file": ("t.nii.gz", nii)}).json()["job"]
    srv.app.state.jobs.wait(job, 60)

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(20_000)
    problems: list[str] = []
    _watch(page, problems)
    outside = _offline(page, srv.url)

    resp = page.goto(srv.url + "/login")
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    page.fill("#token", srv.tokens["a"])
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Patients")
    page.goto(f"{srv.url}/patients/{pid}")
    page.wait_for_function(
        "() => ['ready', 'fallback'].includes(document.getElementById('viewer').dataset.state)",
        timeout=60_000)
    state = page.locator("#viewer").get_attribute("data-state")
    assert state == "ready", f"NiiVue did not load under the CSP (state {state}): {problems}"
    page.goto(f"{srv.url}/patients/{pid}/edit")
    page.fill("input[name=age]", "12")  # below 18: htmx inline validation (no eval, no inline)
    page.select_option("select[name=kps]", "70")
    expect(page.locator("#form-errors li[data-field=age]")).to_be_visible()
    page.goto(srv.url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("brainmets", timeout=30_000)
    expect(page.locator(".opblock").first).to_be_visible()
    assert not outside, f"requests left the server: {outside}"
    assert not problems, "\n".join(problems)
