"""No page is kept by a browser or a proxy cache: personal data never outlives the visit.

Every response but the public static files says `Cache-Control: no-store`, for every route
as every role (the walk of tests/test_route_crawl.py), and for the signed-link pages.
"""

from __future__ import annotations

import pytest

from tests.factories import login
from tests.test_auth import reset_link
from tests.test_route_crawl import build_world, every_page

STATIC = {"static", "main.assets"}


@pytest.fixture
def world(app, session, factory):
    return build_world(app, session, factory)


def not_stored(response) -> bool:
    return ("no-store" in response.headers.get("Cache-Control", "")
            and response.headers.get("Pragma") == "no-cache")


def test_every_page_as_every_role_says_no_store(app, world):
    wrong = []
    for who, rule, url, response in every_page(app, world):
        if rule.endpoint in STATIC:
            if response.status_code == 200 and "no-store" in response.headers.get(
                    "Cache-Control", ""):
                wrong.append(f"{who} GET {url}: static file not cacheable")
        elif not not_stored(response):
            wrong.append(f"{who} GET {url} ({response.status_code}): "
                         f"Cache-Control {response.headers.get('Cache-Control')!r}, "
                         f"Pragma {response.headers.get('Pragma')!r}")
    assert wrong == []


def test_forms_redirects_errors_and_downloads_say_no_store(client, factory):
    factory.newcomer(email="cached@example.org")
    assert not_stored(login(client, "cached@example.org", "wrong password"))
    assert not_stored(login(client, "cached@example.org"))
    assert not_stored(client.get("/account/export"))
    assert not_stored(client.get("/no-such-page"))
    assert not_stored(client.post("/logout"))


def test_signed_link_pages_say_no_store(app, client, factory, session):
    factory.newcomer(email="link@example.org")
    client.post("/forgot-password", data={"email": "link@example.org"})
    page = client.get(reset_link(session, "link@example.org"))
    assert page.status_code == 200 and not_stored(page)
    person = factory.newcomer(email="confirm@example.org")
    from buddy.messaging import tokens

    with app.app_context():
        token = tokens.sign(tokens.CONFIRM, {"p": person.id, "e": "confirm@example.org"})
    page = client.get(f"/messages/confirm-email/{token}")
    assert page.status_code == 200 and not_stored(page)
