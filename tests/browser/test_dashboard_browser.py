"""A DA lead works the flags queue on the demo data in Chromium."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DEMO_PASSWORD as PASSWORD

pytestmark = pytest.mark.browser


def queue_size(page) -> int:
    heading = page.get_by_role("heading", name=re.compile(r"^Who needs you")).inner_text()
    return int(re.search(r"\((\d+)\)", heading).group(1))


def test_lead_marks_a_flag_contacted_and_the_queue_shrinks(demo_data, live_server, browser,
                                                          tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill("lead.london@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="London")).to_be_visible()
    before = queue_size(page)
    assert before > 0
    # Screenshots go where BUDDY_SCREENSHOTS says (the README's comes from here).
    shots = Path(os.environ.get("BUDDY_SCREENSHOTS", tmp_path))
    page.screenshot(path=str(shots / "dashboard.png"), full_page=True)

    first = page.locator("#flag-queue a").first
    name = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    page.get_by_label("Add a note (optional)").fill("Rang them: settling in, call again in a week")
    page.get_by_role("button", name="Mark as contacted").click()
    expect(page.get_by_text("Flag updated")).to_be_visible()

    page.get_by_role("link", name="Dashboard").click()
    assert queue_size(page) == before - 1
    page.get_by_role("link", name="See the whole queue").click()
    page.get_by_role("link", name="Contacted").click()
    expect(page.locator("#flag-list")).to_contain_text(name)
    context.close()
