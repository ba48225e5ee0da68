"""Hostile text in every free-text field: stored as text or refused, never run."""

from __future__ import annotations

import html

import pytest
from sqlmodel import select

from buddy.messaging.models import Flag
from buddy.models import Person
from tests.factories import login, newcomer_form

PAYLOADS = [
    "<script>alert(1)</script>",
    "Robert'); DROP TABLE people;--",
    "{{ 7 * 7 }}{% raw %}",
    '"><img src=x onerror=alert(1)>',
    "=cmd|' /C calc'!A0",
]


def shown_as_text(page: str, payload: str) -> None:
    """Markup in the payload is escaped; template syntax is shown, not evaluated."""
    assert "<script>alert" not in page and "<img src=x" not in page
    if "{{" in payload:
        assert "{{ 7 * 7 }}" in html.unescape(page)


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("field", ["full_name", "other_languages", "gmc_number", "phone",
                                   "email"])
def test_signup_fields_never_run_what_they_are_given(client, session, field, payload):
    response = client.post("/join/newcomer", data=newcomer_form(
        **{field: payload, "sensitive_consent": "y"}))
    assert response.status_code in (200, 302)
    page = response.get_data(as_text=True)
    if response.status_code == 302:
        page = client.get("/account/").get_data(as_text=True)
    if field in ("full_name", "other_languages", "email"):
        shown_as_text(page, payload)
    people = session.exec(select(Person)).all()
    if field == "full_name":
        assert [p.full_name for p in people] == [payload]  # any text is a name, kept as is
    elif field == "gmc_number":
        assert [p.gmc_number for p in people] == [None]  # newcomers have no GMC number
    else:
        assert people == []  # refused, with a message on the form
        assert "There is a problem" in page


@pytest.mark.parametrize("payload", PAYLOADS + ["line one\r\nBcc: all@example.org"])
def test_flag_notes_and_staff_names_are_text(app, session, factory, payload):
    factory.staff("admin", email="admin@example.org")
    person = factory.newcomer(region="wessex", scheme="wessex:poole")
    flag = Flag(person_id=person.id, region="wessex", reason="help", text=payload)
    session.add(flag)
    session.commit()
    admin = app.test_client()
    login(admin, "admin@example.org")
    admin.post(f"/lead/flags/{flag.id}", data={"note": payload})
    shown_as_text(admin.get(f"/lead/flags/{flag.id}").get_data(as_text=True), payload)
    session.expire_all()
    assert payload in session.get(Flag, flag.id).note
    response = admin.post("/admin/", data={"full_name": payload, "email": "x@example.org",
                                           "region": "wessex"})
    assert response.status_code in (200, 302)
    shown_as_text(admin.get("/admin/").get_data(as_text=True), payload)
