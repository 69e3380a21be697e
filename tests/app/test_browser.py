"""The web app in headless Chromium (Playwright): upload, progress, results, plots, report.

Skipped unless ``SENSITIZE_BROWSER_TESTS=1``; when it is set, a missing Chromium is a
failure, not a skip.  Chromium is Debian's (``/usr/bin/chromium`` or
``$SENSITIZE_CHROMIUM``); Playwright never downloads a browser.  Screenshots go to
``$SENSITIZE_ARTIFACTS/screenshots`` (else the test's temporary folder).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from sensitize.app import ServerThread, create_app
from sensitize.core.data import bundled

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(os.environ.get("SENSITIZE_BROWSER_TESTS") != "1",
                       reason="browser tests run only with SENSITIZE_BROWSER_TESTS=1 (needs Debian chromium)"),
]

ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking"]


def _chromium() -> str:
    env = os.environ.get("SENSITIZE_CHROMIUM")
    cands = [env] if env else []
    cands += ["/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""]
    for c in cands:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    pytest.fail(f"SENSITIZE_BROWSER_TESTS=1 but no Chromium executable found (tried {[c for c in cands if c]}); "
                "install Debian's chromium or set SENSITIZE_CHROMIUM")


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    art = os.environ.get("SENSITIZE_ARTIFACTS")
    d = Path(art) / "screenshots" if art else tmp_path_factory.mktemp("screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    app = create_app(tmp_path_factory.mktemp("browserwork"), max_upload_mb=2)
    srv = ServerThread(app, "127.0.0.1", 0).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    exe = _chromium()
    from playwright.sync_api import sync_playwright  # a missing package fails the test (not a skip)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture()
def page(browser: Any, server: ServerThread) -> Iterator[Any]:
    """A page whose every request must stay on the app's own address (offline check)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    outside: list[str] = []

    def route(r: Any) -> None:
        u = urlparse(r.request.url)
        if u.scheme in ("data", "blob") or (u.hostname == "127.0.0.1" and u.port == server.port):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(30_000)
    yield pg
    ctx.close()
    assert outside == [], f"requests left 127.0.0.1: {outside}"
    assert errors == [], f"JavaScript errors: {errors}"


def test_screen_workflow(page: Any, server: ServerThread, shots: Path, tmp_path: Path) -> None:
    page.goto(server.url + "/")
    assert page.get_by_label("Data file").count() == 1
    page.screenshot(path=str(shots / "01_home.png"), full_page=True)
    page.get_by_label("Drug-combination screen").check()
    page.set_input_files("#file", str(bundled("examples", "mathews_screening_data.csv")))
    page.select_option("#response_kind", "viability")
    page.click("#submit")
    # the progress page polls and moves on to the results
    page.wait_for_selector("#ranked-table", timeout=60_000)
    rows = page.locator("#ranked-table tbody tr")
    assert rows.count() == 2
    assert "ispinesib" in rows.nth(0).inner_text()
    # plotly rendered the landscape and the dose-response plots from the local bundle
    page.wait_for_selector("#plot-landscape[data-rendered='1'] .main-svg", timeout=30_000)
    page.wait_for_selector("#plot-dose_response[data-rendered='1'] .main-svg", timeout=30_000)
    page.wait_for_selector("#plot-ranking[data-rendered='1'] .main-svg", timeout=30_000)
    assert page.locator("#plot-landscape .heatmaplayer, #plot-landscape .hm, #plot-landscape image").count() >= 1
    page.screenshot(path=str(shots / "02_results_screen.png"), full_page=True)
    # another block and model redraws the landscape
    page.select_option("#block", index=1)
    page.select_option("#model", "Bliss")
    from playwright.sync_api import expect

    expect(page.locator("#plot-landscape .gtitle")).to_contain_text("Bliss", timeout=30_000)
    page.locator("#plot-landscape").screenshot(path=str(shots / "03_landscape_bliss.png"))
    page.select_option("#lkind", "surface")
    expect(page.locator("#plot-landscape .gtitle")).to_contain_text("Bliss", timeout=30_000)
    page.wait_for_selector("#plot-landscape canvas", state="attached", timeout=30_000)
    page.locator("#plot-landscape").screenshot(path=str(shots / "03b_landscape_surface.png"))
    # downloads: the full CSV and the report
    with page.expect_download() as dl:
        page.click("text=Download the full table (CSV)")
    csv = tmp_path / "blocks.csv"
    dl.value.save_as(csv)
    assert csv.read_text().startswith("block_id,")
    if page.locator("#report-link").count():
        with page.expect_download() as dl:
            page.click("#report-link")
        rep = tmp_path / "report.html"
        dl.value.save_as(rep)
        assert "ispinesib" in rep.read_text(encoding="utf-8")
    else:
        assert "unavailable" in page.locator("#report-unavailable").inner_text()


def test_bad_upload_then_keeps_serving(page: Any, server: ServerThread, shots: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 50)
    page.goto(server.url + "/")
    page.set_input_files("#file", str(junk))
    page.click("#submit")
    err = page.locator("#error")
    err.wait_for()
    assert "binary data" in err.inner_text()
    page.screenshot(path=str(shots / "04_bad_upload.png"), full_page=True)
    # unrecognised columns: the mapping form, then success
    renamed = tmp_path / "renamed.csv"
    text = bundled("examples", "mathews_screening_data.csv").read_text()
    body = text.split("\n", 1)[1]
    renamed.write_text("Combo,Agent A,Agent B,Dose A,Dose B,Signal,U1,U2\n" + body)
    page.goto(server.url + "/")
    page.get_by_label("Drug-combination screen").check()
    page.set_input_files("#file", str(renamed))
    page.click("#submit")
    page.wait_for_selector("#mapping-form", timeout=60_000)
    page.screenshot(path=str(shots / "05_mapping.png"), full_page=True)
    for field, col in [("block_id", "Combo"), ("drug1", "Agent A"), ("drug2", "Agent B"), ("conc1", "Dose A"),
                       ("conc2", "Dose B"), ("response", "Signal"), ("conc_unit", "U1")]:
        page.select_option(f"#map_{field}", col)
    page.select_option("#response_kind", "viability")
    page.click("#apply-mapping")
    page.wait_for_selector("#ranked-table", timeout=60_000)
    assert page.locator("#ranked-table tbody tr").count() == 2
    # the app still serves the home page
    page.goto(server.url + "/")
    assert page.locator("#submit").is_visible()


def test_oversize_upload_page(page: Any, server: ServerThread, tmp_path: Path, shots: Path) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(b"a,b\n" + b"1,2\n" * 700_000)  # 2.8 MB > 2 MB
    page.goto(server.url + "/")
    page.set_input_files("#file", str(big))
    page.click("#submit")
    page.wait_for_selector("#error")
    assert "larger than the limit" in page.locator("#error").inner_text()
    page.screenshot(path=str(shots / "06_too_large.png"), full_page=True)
    page.goto(server.url + "/healthz")
    assert '"ok": true' in page.content() or '"ok":true' in page.content()
