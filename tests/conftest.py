"""Suite-wide hook: the end of every run says how many PostgreSQL and browser tests ran.

Those tests need services (``scripts/ci-services.sh``: PostgreSQL via
``BRAINMETS_TEST_PG_URL``, Debian chromium via ``BRAINMETS_CHROMIUM``) and skip without them;
a green run must not hide that they did not run. The summary names each skip reason with its
count. ``BRAINMETS_TEST_REQUIRE=postgres,browser`` turns any such skip into a failed session
(for CI, where the services are started).
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

#: Debian chromium (scripts/ci-services.sh installs it), started as the machine allows: no
#: sandbox as root, no background networking on a closed network
CHROMIUM = os.environ.get("BRAINMETS_CHROMIUM") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def chromium_launcher() -> Iterator[Callable[..., Any]]:
    """``launch(args=CHROMIUM_ARGS, extra=())`` starts a Playwright chromium with ``args`` plus
    ``extra``; every browser it started closes at teardown.
    Skips (and the run's last lines say so) when Debian chromium is not installed."""
    if not CHROMIUM or not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium not installed (scripts/ci-services.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        opened: list[Any] = []

        def launch(args: list[str] | None = None, extra: tuple[str, ...] = ()) -> Any:
            base = CHROMIUM_ARGS if args is None else args
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                  args=[*base, *extra])
            opened.append(b)
            return b

        try:
            yield launch
        finally:
            for b in opened:
                b.close()


@pytest.fixture
def browser(chromium_launcher: Callable[..., Any]) -> Any:
    """A headless Debian chromium with the default arguments."""
    return chromium_launcher()

#: marker -> the words used in the summary
SERVICE_MARKERS = {"postgres": "PostgreSQL", "browser": "browser"}

_outcomes: dict[str, dict[str, str]] = defaultdict(dict)  # marker -> nodeid -> outcome
_reasons: dict[str, Counter[str]] = defaultdict(Counter)  # marker -> skip reason -> count
_unmet: list[str] = []  # BRAINMETS_TEST_REQUIRE markers whose tests skipped


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for marker in SERVICE_MARKERS:
        if marker not in report.keywords:
            continue
        seen = _outcomes[marker]
        if report.skipped:
            if hasattr(report, "wasxfail"):
                seen[report.nodeid] = "xfailed"
            else:
                seen[report.nodeid] = "skipped"
                _reasons[marker][_skip_reason(report)] += 1
        elif report.failed:
            seen[report.nodeid] = "failed"
        elif report.when == "call":
            seen[report.nodeid] = "passed"


def _summary_lines() -> list[str]:
    lines = []
    for marker, words in SERVICE_MARKERS.items():
        counts = Counter(_outcomes[marker].values())
        if not counts:
            lines.append(f"{words} tests: none selected")
            continue
        ran = counts["passed"] + counts["failed"]
        text = f"{words} tests: {ran} ran ({counts['passed']} passed, {counts['failed']} failed)"
        if counts["skipped"]:
            why = "; ".join(f"{n} x {r}" for r, n in _reasons[marker].most_common())
            text += f", {counts['skipped']} SKIPPED: {why}"
        lines.append(text)
    return lines


def pytest_unconfigure(config: pytest.Config) -> None:
    """Printed after pytest's own final line, so these are the last lines of the run."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller reports
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None or config.option.collectonly:
        return
    for line in _summary_lines():
        tr.write_line(line)
    if _unmet:
        tr.write_line(f"BRAINMETS_TEST_REQUIRE: {', '.join(_unmet)} tests were skipped: "
                      "the run fails", red=True)


def _required() -> set[str]:
    raw = os.environ.get("BRAINMETS_TEST_REQUIRE", "")
    return {m.strip() for m in raw.split(",") if m.strip()}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    missing = [m for m in _required() & set(SERVICE_MARKERS)
               if "skipped" in _outcomes[m].values()]
    if missing and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        _unmet.extend(sorted(missing))
