"""Welcome guides in Chromium: the public guide on a 360-pixel phone without signing in, and
a lead writing, previewing, saving and rolling back on a desktop, with the keyboard alone;
axe-core on every page, pages with errors included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect
from sqlmodel import select

from buddy import demo, reference
from buddy.models import GuideVersion
from buddy.services import guides
from tests.browser.test_accessibility import AXE
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def axe_problems(page) -> list[str]:
    """Serious or critical axe-core findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {
        resultTypes: ['violations']})).violations
        .filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id}: ${v.help} (${v.nodes.length})`)""")


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def demo_guides(app, session, factory):
    """Every demo guide, written by demo staff accounts (as `buddy demo` writes them)."""
    factory.staff("admin", email="admin@example.org")
    for slug in reference.regions():
        factory.staff("lead", region=slug, email=f"lead.{slug}@example.org")
    demo._guides(session, datetime(2026, 12, 4, tzinfo=UTC))
    session.commit()


def test_the_public_guide_on_a_phone_without_signing_in(demo_guides, live_server, browser,
                                                       session):
    # A region whose leads have not written theirs yet shows the national guide.
    session.delete(guides.latest(session, "london"))
    session.commit()
    # bypass_csp only so that the test can inject axe; the app's CSP forbids inline script.
    context = browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True,
                                  has_touch=True, bypass_csp=True)
    page = context.new_page()
    problems = []
    for url in ("/welcome/", "/welcome/wessex", "/welcome/national", "/welcome/london",
                "/welcome/north-east"):
        page.goto(live_server + url)
        problems += [f"{url}: {p}" for p in axe_problems(page)]
        if not fits(page):
            problems.append(f"{url}: wider than 360 px")
        assert page.locator("h1").count() == 1, url
    assert problems == []

    # From the list of guides to Wessex's housing section, by keyboard alone.
    page.goto(live_server + "/welcome/")
    link = page.get_by_role("link", name="Wessex")
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Welcome to Wessex", level=1)).to_be_visible()
    page.get_by_role("navigation", name="Sections of this guide").get_by_role(
        "link", name="Housing").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(live_server + "/welcome/wessex#housing")
    expect(page.get_by_role("heading", name="Housing", level=2)).to_be_in_viewport()
    page.goto(live_server + "/welcome/london")
    expect(page.get_by_text("still writing this guide")).to_be_visible()
    expect(page.get_by_role("heading", name="Your first weeks")).to_be_visible()
    context.close()


def sign_in_by_keyboard(page, base: str, email: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email address").focus()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 900},
                                      {"width": 360, "height": 740}])
def test_a_lead_writes_previews_saves_and_rolls_back_by_keyboard(app, session, factory,
                                                                  live_server, browser,
                                                                  viewport):
    factory.staff("lead", region="wessex", email="lead@example.org", full_name="Dr Sarah Jones")
    context = browser.new_context(viewport=viewport, bypass_csp=True)
    page = context.new_page()
    problems: list[str] = []

    def check(what: str) -> None:
        problems.extend(f"{what}: {p}" for p in axe_problems(page))
        if not fits(page):
            problems.append(f"{what}: wider than {viewport['width']} px")

    sign_in_by_keyboard(page, live_server, "lead@example.org")
    page.goto(live_server + "/lead/guide")
    expect(page.get_by_role("heading", name="Welcome to Wessex", level=1)).to_be_visible()
    check("the empty editor")

    box = page.get_by_label("The guide, in Markdown")
    box.focus()
    page.keyboard.type("# Housing\nRooms near <b>Southampton General</b>.\n\n"
                       "[Council](javascript:alert(1))")
    page.keyboard.press("Tab")  # to the help, then the buttons
    page.get_by_role("button", name="Preview").focus()
    page.keyboard.press("Enter")
    preview = page.locator("#preview")
    expect(preview.get_by_role("heading", name="Preview: not saved yet")).to_be_visible()
    expect(preview.get_by_text("Rooms near <b>Southampton General</b>.")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text('Change the link "javascript:alert(1)"')
    expect(preview.locator("a")).to_have_count(0)
    check("a preview with a bad link")
    assert session.exec(select(GuideVersion)).all() == []

    # Saving with the bad link is refused; the text stays to be fixed.
    page.get_by_role("button", name="Save and publish").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    check("a refused save")
    box = page.get_by_label("The guide, in Markdown")
    expect(box).to_have_value("# Housing\nRooms near <b>Southampton General</b>.\n\n"
                              "[Council](javascript:alert(1))")
    box.focus()
    page.keyboard.press("Control+End")
    for _ in range(len("javascript:alert(1))")):
        page.keyboard.press("Backspace")
    page.keyboard.type("https://www.southampton.gov.uk)")
    page.get_by_role("button", name="Save and publish").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Saved as version 1")).to_be_visible()
    check("the editor after saving")

    box = page.get_by_label("The guide, in Markdown")
    box.focus()
    page.keyboard.press("Control+End")
    page.keyboard.type("\n\nA mistake.")
    page.get_by_role("button", name="Save and publish").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Saved as version 2")).to_be_visible()

    page.get_by_role("link", name="Earlier versions and roll back").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Versions of the guide")).to_be_visible()
    check("the history")
    page.get_by_role("link", name="Version 1", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Version 1", level=1)).to_be_visible()
    check("an old version")
    page.get_by_role("button", name="Restore version 1").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Version 1 is the guide again, saved as version 3")).to_be_visible()
    expect(page.get_by_text("Restored version 1")).to_be_visible()
    context.close()

    public = browser.new_context(viewport={"width": 360, "height": 740})
    reader = public.new_page()
    reader.goto(live_server + "/welcome/wessex")
    expect(reader.get_by_role("link", name="Council")).to_have_attribute(
        "href", "https://www.southampton.gov.uk")
    expect(reader.get_by_text("A mistake.")).to_have_count(0)
    public.close()
    assert problems == []
    assert [v.restored_from for v in session.exec(
        select(GuideVersion).order_by(GuideVersion.version)).all()] == [None, None, 1]
