"""Every form's error summary lists its errors in the order the fields appear on the page.

The rule is checked on every page that shows a form and takes its POST (a new form is
covered without being named here), submitted empty and with a bad answer in every field.
"""

from __future__ import annotations

import html
import re

from buddy.services import signup_drafts
from tests.factories import join, newcomer_form, volunteer_form
from tests.test_route_crawl import ACCESS, build_world, clients, url_for_rule

# A bad answer for every field any form has (unknown names are ignored by the forms). The
# answers the form itself cannot read (a date like 31 2, an unknown language name) are left
# out: the form stops at those before the service checks the rest.
BAD = {
    "full_name": "", "email": "not-an-email", "password": "short", "contact_consent": "",
    "current_password": "not the password", "channel": "pigeon", "phone_country": "XX",
    "phone": "12", "timezone": "Mars/Olympus", "region": "atlantis", "stage": "ST9",
    "arrival_day": "1", "arrival_month": "2", "arrival_year": "2031",
    "interests": ["knitting"], "setting": "moon", "capacity": "9", "gmc_number": "12",
    "sensitive_consent": "", "country": "XX", "languages": ["xx"], "gender": "x",
    "same_gender_anchor": "y",
    "support_needs": ["flying"], "code": "abc", "role": "pirate", "available": "perhaps",
}
# Who can open each kind of page (tests/test_route_crawl.py ACCESS).
AS = {"public": "anonymous", "member": "member", "signed_in": "member", "admin": "admin",
      "staff": "lead"}


def summary_targets(page: str) -> list[str]:
    block = re.search(r'nhsuk-error-summary__list">(.*?)</ul>', page, re.S)
    return re.findall(r'<a href="#([^"]+)">', block.group(1)) if block else []


def assert_in_page_order(page: str, where: str) -> None:
    """Each link of the summary goes to a control on the page, in the page's order."""
    positions = []
    for target in summary_targets(page):
        found = re.search(rf'\sid="{re.escape(target)}"', page)
        assert found, f"{where}: the summary links to #{target}, which is not on the page"
        positions.append(found.start())
    assert positions == sorted(positions), (
        f"{where}: summary order {summary_targets(page)} is not the page's order")


def form_pages(app):
    """(rule, url, who) for every page that shows a form and takes its POST."""
    for rule in app.url_map.iter_rules():
        access = ACCESS.get(rule.endpoint)  # unclassified: test_route_crawl.py says so
        if {"GET", "POST"} <= rule.methods and access in AS:
            yield rule, AS[access]


def test_every_form_lists_its_errors_in_page_order(app, session, factory):
    world = build_world(app, session, factory)
    checked = {}
    for rule, who in form_pages(app):
        for data in ({}, BAD):
            client = clients(app)[who]  # fresh sign-ins: a POST may sign out or delete
            url = url_for_rule(rule, world)
            page = client.post(url, data=data).get_data(as_text=True)
            assert_in_page_order(page, f"{who} POST {url} {'bad' if data else 'empty'}")
            checked[url] = max(checked.get(url, 0), len(summary_targets(page)))
    # The rule is not met by pages without errors: the long forms showed many.
    assert checked["/join/newcomer"] >= 1
    assert checked["/account/edit"] >= 10 and checked["/account/password"] >= 1


def test_every_sign_up_question_page_lists_its_errors_in_page_order(app, session):
    """Each question page sent empty and with a bad answer in every field (the pages are
    reached through a draft, which the crawl above has not got)."""
    for url, form, role in [("/join/newcomer", newcomer_form, "newcomer"),
                            ("/join/volunteer/buddy", volunteer_form, "buddy"),
                            ("/join/volunteer/ambassador", volunteer_form, "ambassador")]:
        client = app.test_client()
        good = form(sensitive_consent="y", gender="female")
        assert join(client, url, {**good, "contact_consent": None}).status_code == 200
        pages = signup_drafts.pages_for(role=role, answers={"sensitive_consent": "y"})
        shown = 0
        for page in pages[1:]:
            for data in ({}, BAD):
                response = client.post(f"/join/step/{page.name}?change=1", data=data)
                page_html = response.get_data(as_text=True)
                assert_in_page_order(page_html, f"{role} {page.name}")
                shown = max(shown, len(summary_targets(page_html)))
            client.post(f"/join/step/{page.name}?change=1", data=good)
        assert shown >= 2  # the mobile page: its country and its number
        page_html = client.post("/join/check", data={"password": "short"}).get_data(
            as_text=True)
        assert summary_targets(page_html) == ["password", "contact_consent"]
        assert_in_page_order(page_html, f"{role} check your answers")


def test_the_timezone_question_sits_under_the_time_zone(client):
    form = newcomer_form(phone="+63 917 123 4567", phone_country="", timezone="Europe/London")
    page = join(client, "/join/newcomer", form).get_data(as_text=True)
    assert summary_targets(page) == ["timezone_confirmed"]
    assert_in_page_order(page, "sign-up with a time zone question")
    messages = [html.unescape(m) for m in re.findall(r'<a href="#[^"]+">([^<]+)</a>', page)]
    assert messages[0].startswith("Your phone number is from the Philippines")
    assert page.index('id="timezone"') < page.index('id="timezone_confirmed"')
