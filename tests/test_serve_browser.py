"""End to end in headless Debian Chromium (Playwright, no browser download): start `pneumogan serve`, upload a
real test X-ray, see the probabilities and the Grad-CAM image, with every non-local request blocked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest
from tests.test_serve_api import start_server

pytestmark = pytest.mark.realdata
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian chromium is not installed (apt-get install chromium); .ci/run installs it")
    playwright = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def test_ui_predicts_with_gradcam_offline(browser, tiny_checkpoint, test_xrays, tmp_path):
    proc, url = start_server(tiny_checkpoint, tmp_path)
    external: list[str] = []
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})

        def gate(route):
            host = urlparse(route.request.url).hostname
            if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
                route.continue_()
            else:  # the network is blocked: record what the page tried to reach
                external.append(route.request.url)
                route.abort()

        page.route("**/*", gate)
        page.goto(url, wait_until="networkidle", timeout=60_000)
        assert "not a medical device" in page.content()
        page.locator("#upload input[type=file]").set_input_files(str(test_xrays[-1]))
        page.locator("#gradcam img").first.wait_for(state="visible", timeout=60_000)
        page.locator("#decision").get_by_text("Model output").wait_for(timeout=30_000)
        probs = page.locator("#probabilities").inner_text()
        assert "PNEUMONIA" in probs and "NORMAL" in probs
        assert page.locator("#original img").first.is_visible()
        shot_dir = Path(os.environ.get("PNEUMOGAN_SCREENSHOT_DIR", tmp_path))
        shot_dir.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot_dir / "ui_predict.png"), full_page=True)
        page.get_by_role("tab", name="Model card").click()
        page.locator("#model-card").get_by_text("Intended use").wait_for(timeout=10_000)
        assert external == [], f"the page tried to reach the network: {external}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
