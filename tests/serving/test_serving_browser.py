"""The real Streamlit app in Debian's chromium (Playwright): draw a digit, see the prediction, switch pages.

Screenshots land in build/screenshots/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO, free_port, stop, wait_http

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = REPO / "build" / "screenshots"


@pytest.fixture(scope="module")
def app_url(model_env):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.ui", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=model_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_stcore/health", proc)
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def page():
    if not __import__("os").path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def settle(page) -> None:
    """Wait until the script run is over (no "Running…" widget, no stale elements) and charts are drawn."""
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=30_000)
    page.locator("[data-stale='true']").first.wait_for(state="detached", timeout=30_000)
    page.wait_for_timeout(700)


def draw_one(page) -> None:
    """A '1': one vertical stroke down the middle of the canvas, as mouse moves."""
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(state="visible")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x + i * 0.3, box["y"] + box["height"] * (0.15 + 0.7 * i / 20))
    page.mouse.up()


def test_home_digits_draw_and_cards(app_url, page):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)      # first load builds the models' cache; 2 busy cores are slow
    page.goto(app_url)
    expect(page.get_by_text("AIaaS Academy").first).to_be_visible()
    expect(page.get_by_text("Models on offer")).to_be_visible()
    expect(page.get_by_text("make lab").first).to_be_visible()
    settle(page)
    page.screenshot(path=str(SHOTS / "home.png"), full_page=True)

    page.get_by_role("link", name="Digits").first.click()
    expect(page.get_by_text("Draw a digit, upload an image")).to_be_visible()
    draw_one(page)
    metric = page.get_by_test_id("stMetric")
    expect(metric).to_contain_text("Prediction for your drawing", timeout=30_000)
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    expect(page.get_by_text("the 8×8 input the model saw")).to_be_visible()
    settle(page)
    page.screenshot(path=str(SHOTS / "digits-drawn.png"), full_page=True)
    assert metric.get_by_test_id("stMetricValue").inner_text().strip() in {str(d) for d in range(10)}

    page.get_by_role("button", name="7", exact=True).click()
    expect(metric).to_contain_text("test digit 7")
    expect(metric.get_by_test_id("stMetricValue")).to_have_text("7")
    settle(page)
    page.screenshot(path=str(SHOTS / "digits-example.png"), full_page=True)

    page.get_by_role("link", name="Model cards").first.click()
    expect(page.get_by_text("Metrics beside their baselines")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()
    settle(page)
    page.screenshot(path=str(SHOTS / "cards.png"), full_page=True)
