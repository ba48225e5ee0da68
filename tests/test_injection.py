"""Hostile text in every free-text field: stored as text or refused, never run."""

from __future__ import annotations

import html
import io

import pytest
from sqlmodel import select

from buddy.messaging.models import Flag
from buddy.models import Person
from tests.factories import join, login, newcomer_form

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
    response = join(client, "/join/newcomer", newcomer_form(
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
    assert payload.replace("\r\n", "\n") in session.get(Flag, flag.id).note
    response = admin.post("/admin/", data={"full_name": payload, "email": "x@example.org",
                                           "region": "wessex"})
    assert response.status_code in (200, 302)
    shown_as_text(admin.get("/admin/").get_data(as_text=True), payload)


# --- Input that must never reach a 5xx (RELIABILITY.md item 21) --------------------------------
# Exceptions propagate in tests (TESTING=True), so a crash fails here with its traceback.

BIG = "9" * 5000
BEYOND = [str(2**63), "99999999999999999999", str(2**31), "-1", "\u0663", "\uff13", "\u00b2"]


@pytest.fixture
def staff_world(app, session, factory):
    from tests.test_route_crawl import build_world

    world = build_world(app, session, factory)
    admin = app.test_client()
    login(admin, "admin@example.org")
    return world, admin


@pytest.mark.parametrize("value", BEYOND)
@pytest.mark.parametrize("path", ["/lead/volunteers/{}", "/lead/flags/{}", "/lead/runs/{}"])
def test_ids_in_a_url_beyond_the_database_or_not_ascii_are_not_found(staff_world, path, value):
    _world, admin = staff_world
    assert admin.get(path.format(value)).status_code == 404
    assert admin.post(f"/admin/leads/{value}/region", data={"region": "wessex"}
                      ).status_code == 404


@pytest.mark.parametrize("value", BEYOND + [BIG, ""])
def test_ids_in_a_form_beyond_the_database_or_not_ascii_are_refused(staff_world, value):
    world, admin = staff_world
    run = world["run_id"]
    for url, data in [
        (f"/lead/runs/{run}/move", {"person_id": value, "family_id": value}),
        (f"/lead/runs/{run}/remove", {"person_id": value}),
        (f"/lead/runs/{run}/lock", {"family_id": value, "locked": "1"}),
        (f"/lead/runs/{run}/avoid", {"person_a": value, "person_b": value}),
        (f"/lead/flags/{world['flag_id']}", {"assign_to": value}),
        ("/lead/runs/", {"time_limit": value, "region": "wessex"}),
    ]:
        status = admin.post(url, data=data).status_code
        assert status in (302, 400, 404), (url, status)


@pytest.mark.parametrize(
    ("overrides", "field_message"),
    [
        ({"capacity": "\uff13"}, "from 0 to 4"),
        ({"capacity": "\u00b2"}, "from 0 to 4"),
        ({"capacity": BIG}, "from 0 to 4"),
        ({"gmc_number": "\u0667\u0661\u0662\u0663\u0664\u0665\u0666"}, "7 digits"),
        ({"arrival_year": "\u0662\u0660\u0662\u0667"}, "like 6 8 2027"),
        ({"arrival_year": "\uff12\uff10\uff12\uff17"}, "like 6 8 2027"),
        ({"arrival_day": "\u00b2"}, "like 6 8 2027"),
        ({"arrival_year": BIG}, "like 6 8 2027"),
        ({"arrival_year": str(2**63)}, "like 6 8 2027"),
        # The mobile page's own message (the one-page form's GMC hint also said "digits").
        ({"phone": "\u0660\u0667\u0667\u0660\u0660 \u0669\u0660\u0660 \u0669\u0668\u0662"},
         "Enter a UK mobile number"),
        ({"phone": BIG}, "mobile number"),
    ],
)
def test_numbers_must_be_ascii_digits_of_a_sensible_size(client, session, overrides,
                                                         field_message):
    role = "newcomer" if "arrival_year" in overrides or "arrival_day" in overrides else "buddy"
    form = newcomer_form(**overrides) if role == "newcomer" else _volunteer(**overrides)
    url = "/join/newcomer" if role == "newcomer" else "/join/volunteer/buddy"
    response = join(client, url, form)
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "There is a problem" in page and field_message in page
    assert session.exec(select(Person)).all() == []


def _volunteer(**overrides):
    from tests.factories import volunteer_form

    return volunteer_form(**overrides)


@pytest.mark.parametrize(("url", "field", "message"), [
    ("/join/newcomer", "full_name", "Enter your full name"),
    ("/join/newcomer", "arrival_year", "like 6 8 2027"),
    ("/login", "email", "correct email address"),
    ("/forgot-password", "email", "Enter the email address you use for Buddy"),
])
def test_a_field_sent_as_a_file_counts_as_not_given(client, session, url, field, message):
    data = newcomer_form() if url == "/join/newcomer" else {"email": "x@example.org",
                                                            "password": "whatever"}
    data[field] = (io.BytesIO(b"Amina Yusuf"), "name.txt")
    if url.startswith("/join/"):  # the question page that asks the field
        from tests.test_signup import open_page

        url = "/join/step/" + {"full_name": "name", "arrival_year": "arrival"}[field]
        open_page(client, "/join/newcomer", newcomer_form(), url.rsplit("/", 1)[1])
    response = client.post(url, data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    assert message in html.unescape(response.get_data(as_text=True))
    assert session.exec(select(Person)).all() == []


@pytest.mark.parametrize("value", ["Amina\x00Yusuf", "a\x00@example.org", "\x1b[31m", "x\x7f",
                                   "x\x85y"])
def test_nul_and_control_characters_are_refused_with_a_clear_page(client, session, value):
    for url, data in [("/join/newcomer", newcomer_form(full_name=value)),
                      ("/join/newcomer", newcomer_form(other_languages=value)),
                      ("/login", {"email": value, "password": value}),
                      ("/forgot-password", {"email": value})]:
        response = join(client, url, data) if url.startswith("/join/") else client.post(
            url, data=data)
        assert response.status_code == 400, url
        assert "control character" in response.get_data(as_text=True)
    assert client.get("/lead/?region=" + value).status_code == 400
    assert client.get("/reset-password/" + value).status_code in (400, 404)
    assert session.exec(select(Person)).all() == []


def test_line_breaks_in_notes_are_kept_but_never_reach_a_header(staff_world, session):
    world, admin = staff_world
    run, flag = world["run_id"], world["flag_id"]
    response = admin.post(f"/lead/runs/{run}/lock", data={
        "family_id": "1", "locked": "1", "anchor": "#x\r\nSet-Cookie: stolen=1"})
    assert response.status_code == 302
    assert "\n" not in response.headers["Location"] and "stolen" not in str(response.headers)
    admin.post(f"/lead/flags/{flag}", data={"note": "Called twice.\r\nWill try again."})
    session.expire_all()
    assert "Called twice.\nWill try again." in session.get(Flag, flag).note
    response = admin.get("/lead/export/people.csv?region=wessex%0d%0aX-Evil:%201")
    assert response.status_code == 404 and "X-Evil" not in response.headers


@pytest.mark.parametrize("url", ["/lead/?region=nowhere", "/lead/flags?region=nowhere",
                                 "/lead/runs/?region=nowhere", "/lead/runs/audit?region=nowhere",
                                 "/lead/export/people.csv?region=nowhere",
                                 "/admin/indicators?region=nowhere",
                                 "/admin/indicators.csv?region=nowhere"])
def test_an_unknown_region_is_not_found(staff_world, url):
    _world, admin = staff_world
    response = admin.get(url)
    if url.startswith("/admin/"):  # national pages: every region, whatever is asked
        assert response.status_code in (200, 404) and b"nowhere" not in response.data
    else:
        assert response.status_code == 404


def test_the_error_page_works_after_a_failed_transaction(app, session, factory):
    """A view that dies after a failed flush: the 500 page (which loads the signed-in user
    from the same session) still renders, instead of a PendingRollbackError."""
    from buddy.db import get_session
    from buddy.models import User

    factory.staff("admin", email="admin@example.org", full_name="Ada Admin")

    @app.get("/test-only/failed-flush")
    def failed_flush():
        session_ = get_session()
        session_.add(User(email="admin@example.org", full_name="Copy", role="admin",
                          password_hash="x"))
        session_.flush()  # IntegrityError: the email is taken

    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, "admin@example.org")
    response = client.get("/test-only/failed-flush")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Sorry, there is a problem with the service" in page
    assert "Sign out" in page  # the signed-in user was loaded after the rollback


@pytest.mark.parametrize("name", ["\u202eanimA", "Amina\u2028Yusuf", "Ami\u200bna", "\u00ad"])
def test_every_place_a_name_is_typed_refuses_invisible_characters(staff_world, session, name):
    """Profile edit, the admin's new DA lead, and a lead's note (which carries their name)."""
    from buddy.models import User
    from tests.test_account import edit_form

    world, admin = staff_world
    member = admin.application.test_client()
    login(member, "member@example.org")
    response = member.post("/account/edit", data=edit_form(full_name=name))
    assert response.status_code == 200 and "There is a problem" in response.get_data(
        as_text=True)
    response = admin.post("/admin/", data={"full_name": name, "email": "new@example.org",
                                           "region": "wessex"})
    assert response.status_code == 200 and "There is a problem" in response.get_data(
        as_text=True)
    session.expire_all()
    assert session.exec(select(User).where(User.email == "new@example.org")).all() == []
    assert all(p.full_name.isprintable() for p in session.exec(select(Person)))
    if name == "\u202eanimA":
        page = admin.post(f"/lead/flags/{world['flag_id']}", data={"note": f"Called {name}"},
                          follow_redirects=True).get_data(as_text=True)
        assert "text-direction" in page
        assert session.get(Flag, world["flag_id"]).note is None


def test_every_form_reads_only_html_form_fields():
    """A new form that skips buddy.forms.Form would feed files and JSON to its fields again."""
    import buddy.forms

    direct = [name for name, cls in vars(buddy.forms).items()
              if isinstance(cls, type) and issubclass(cls, buddy.forms.FlaskForm)
              and cls not in (buddy.forms.FlaskForm, buddy.forms.Form)
              and not issubclass(cls, buddy.forms.Form)]
    assert direct == []


def test_text_longer_than_its_column_is_refused_on_both_databases(make_app, session):
    """PostgreSQL refuses a VARCHAR overflow with an error, SQLite keeps it: one check before
    every flush makes both refuse it with a 400 (here a signed Twilio webhook's sid)."""
    from twilio.request_validator import RequestValidator

    from buddy.messaging.models import InboundMessage

    app = make_app(TWILIO_AUTH_TOKEN="test-twilio-token")
    form = {"MessageSid": "SM" + "9" * 200, "From": "+447400123456", "Body": "hello"}
    signature = RequestValidator("test-twilio-token").compute_signature(
        "http://localhost/messages/twilio/inbound", form)
    response = app.test_client().post("/messages/twilio/inbound", data=form,
                                      headers={"X-Twilio-Signature": signature})
    assert response.status_code == 400
    assert "too long" in response.get_data(as_text=True)
    assert session.exec(select(InboundMessage)).all() == []
