"""A live server and Debian's Chromium driven by Playwright.

Playwright's own browser download cannot run here (and is not wanted in CI): the tests use
the system Chromium (`apt-get install chromium`). If it is missing the tests fail.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    # The machine has no network beyond loopback: stop Chromium's background calls.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = os.environ.get("BUDDY_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if not path:
        pytest.fail("Chromium not found: apt-get install chromium (or set BUDDY_CHROMIUM)")
    return path


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    """A page the size of a small phone (360 x 740), with touch."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    yield page
    context.close()


DEMO_PASSWORD = "demo password 123"


@pytest.fixture
def demo_data(app, session):
    """The national demo data in the test's database (about 10 s)."""
    from buddy import demo

    with app.app_context():
        demo.load(session=session, seed=2027, password=DEMO_PASSWORD)
