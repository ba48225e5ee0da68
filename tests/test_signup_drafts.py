"""Sign-up in question pages, saved as people go (buddy/services/signup_drafts.py):
the emailed link, resuming on another device, expiry, back and change links, progress,
invitations filled in from a trainee list."""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import message_from_bytes, policy

import pytest
from sqlmodel import select

from buddy.messaging.dispatch import dispatch
from buddy.messaging.models import Message
from buddy.models import Invitation, Person, SignupDraft, User, utcnow
from buddy.services import daily, signup_drafts
from tests.factories import join, newcomer_form, volunteer_form
from tests.test_signup import draft_of, error_summary, open_page

NEWCOMER_PAGES = ["name", "contact", "mobile", "time-zone", "share", "region", "scheme",
                  "stage", "arrival", "ambassador", "interests", "optional"]


def link_in(session, email: str) -> str:
    """The path of the sign-up link last emailed to `email`."""
    session.expire_all()
    message = session.exec(select(Message).where(
        Message.kind == "signup_link", Message.to_address == email)
        .order_by(Message.id.desc())).first()
    assert message is not None, f"no sign-up link was emailed to {email}"
    return re.search(r"http://localhost(/join/continue/\S+)", message.body)[1]


def page_of(response) -> str:
    return response.get_data(as_text=True)


def test_the_first_page_starts_a_draft_and_emails_its_link(client, session):
    response = client.post("/join/newcomer", data={"email": " Amina@Example.org "})
    assert response.headers["Location"].startswith("/join/continue/")
    assert client.get(response.headers["Location"]).headers["Location"] == "/join/step/name"
    draft = draft_of(session)
    assert (draft.role, draft.email, draft.answered) == ("newcomer", "amina@example.org",
                                                          ["email"])
    token = response.headers["Location"].rsplit("/", 1)[1]
    assert token not in draft.token_hash and len(draft.token_hash) == 64  # stored hashed
    message = session.exec(select(Message).where(Message.kind == "signup_link")).one()
    assert (message.user_id, message.channel, message.to_address) == (
        None, "email", "amina@example.org")
    assert message.title == "Your link to finish joining Buddy"
    assert message.body.startswith("Hello there,")
    assert f"http://localhost/join/continue/{token}" in message.body
    assert "30 days" in message.body


def test_the_link_email_is_delivered_by_smtp(make_app, channel_settings, session, fake_smtp):
    app = make_app(**channel_settings)
    app.test_client().post("/join/volunteer/buddy", data={"email": "gp@example.org"})
    with app.app_context():
        assert dispatch()["sent"] == 1
    [received] = fake_smtp.received
    email = message_from_bytes(received["content"], policy=policy.default)
    assert email["To"] == "gp@example.org"
    assert "/join/continue/" in email.get_content()


def test_stop_and_carry_on_from_the_emailed_link_on_another_device(app, session):
    form = newcomer_form(email="two.devices@example.org", full_name="Priya Raman")
    phone = app.test_client()
    open_page(phone, "/join/newcomer", form, "region")
    laptop = app.test_client()
    response = laptop.get(link_in(session, "two.devices@example.org"))
    # The first question not yet answered; the earlier answers are there.
    assert response.headers["Location"] == "/join/step/region"
    assert 'value="Priya Raman"' in page_of(laptop.get("/join/step/name"))
    assert join(laptop, "/join/newcomer", form).headers["Location"] == "/join/done"
    person = session.exec(select(Person)).one()
    assert (person.full_name, person.region, person.arrival_date) == (
        "Priya Raman", "london", date(2027, 8, 4))
    # The finished draft keeps no answers, and its link now says to sign in.
    draft = draft_of(session)
    assert draft.completed_at is not None and draft.answers == {} and draft.answered == []
    again = app.test_client().get(link_in(session, "two.devices@example.org"))
    assert again.status_code == 404
    assert "You have already finished joining with this link" in page_of(again)
    # The first device's session no longer leads anywhere but the start.
    assert phone.get("/join/step/region").headers["Location"] == "/join/"


@pytest.mark.parametrize("link", [
    "/join/continue/not-a-real-token", "/join/continue/" + "x" * 500,
    "/join/continue/%C3%A9t%C3%A9"])
def test_a_wrong_link_says_what_to_do(client, link):
    response = client.get(link)
    assert response.status_code == 404
    assert "This link does not work" in page_of(response)
    assert 'href="/join/"' in page_of(response)


def test_a_draft_expires_30_days_after_its_last_answer_and_is_deleted(app, session):
    form = newcomer_form(email="late@example.org")
    open_page(app.test_client(), "/join/newcomer", form, "contact")
    open_page(app.test_client(), "/join/newcomer", newcomer_form(email="fresh@example.org"),
              "contact")
    old = session.exec(select(SignupDraft).where(SignupDraft.email == "late@example.org")).one()
    assert old.expires_at - old.updated_at == timedelta(days=30)
    old.updated_at -= timedelta(days=31)
    old.expires_at -= timedelta(days=31)
    session.add(old)
    session.commit()
    response = app.test_client().get(link_in(session, "late@example.org"))
    assert response.status_code == 404 and "has expired" in page_of(response)
    with app.app_context():
        done, failed = daily.run(session, now=utcnow())
        assert done.get("signup_drafts_deleted") == 1 and failed == []
        # Again: nothing more to do (idempotent).
        assert signup_drafts.daily(session, now=utcnow()) == {"signup_drafts_deleted": 0}
    session.expire_all()
    assert [d.email for d in session.exec(select(SignupDraft))] == ["fresh@example.org"]


def test_each_answer_moves_the_expiry_on(client, session):
    open_page(client, "/join/newcomer", newcomer_form(), "contact")
    first = draft_of(session).expires_at
    client.post("/join/step/contact", data={"channel": "email"})
    assert draft_of(session).expires_at >= first
    assert draft_of(session).answered == ["email", "name", "contact"]


def test_links_to_one_address_are_limited_to_3_an_hour(app, session):
    for _ in range(5):
        app.test_client().post("/join/newcomer", data={"email": "many@example.org"})
    assert session.exec(select(SignupDraft)).all().__len__() == 5
    assert len(session.exec(select(Message).where(Message.kind == "signup_link")).all()) == 3


def test_a_taken_address_starts_a_draft_like_any_other(app, factory, session):
    """The first page answers the same for an address with an account: nothing to probe."""
    factory.newcomer(email="taken@example.org")
    taken = app.test_client().post("/join/newcomer", data={"email": "taken@example.org"})
    new = app.test_client().post("/join/newcomer", data={"email": "new@example.org"})
    assert taken.status_code == new.status_code == 302
    assert taken.headers["Location"].startswith("/join/continue/")
    assert new.headers["Location"].startswith("/join/continue/")
    assert link_in(session, "taken@example.org") and link_in(session, "new@example.org")


def test_a_taken_address_ends_on_the_same_page_and_the_draft_ends_too(app, factory, session):
    owner = factory.user_of(factory.newcomer(email="owner@example.org"))
    owner.created_at -= timedelta(days=30)
    session.add(owner)
    session.commit()
    client = app.test_client()
    response = join(client, "/join/newcomer", newcomer_form(email="owner@example.org"))
    assert response.headers["Location"] == "/join/done"
    assert "We have sent an email to owner@example.org" in page_of(client.get("/join/done"))
    assert len(session.exec(select(User)).all()) == 1
    draft = draft_of(session)
    assert draft.completed_at is not None and draft.answers == {}
    assert session.exec(select(Message).where(Message.kind == "signup_attempt")).one()


def test_progress_back_links_and_kept_answers(client, session):
    form = newcomer_form()
    response = open_page(client, "/join/newcomer", form, "region")
    page = page_of(response)
    assert "Question 7 of 13" in page  # the email page is question 1
    assert 'class="nhsuk-back-link__link" href="/join/step/share"' in page
    # Back to the name: the answer is there, and the back link goes on to the email page.
    name = page_of(client.get("/join/step/name"))
    assert f'value="{form["full_name"]}"' in name
    assert 'href="/join/newcomer"' in name
    email = page_of(client.get("/join/newcomer"))
    assert f'value="{form["email"]}"' in email and "Question 1 of 13" in email
    # Sending the name again goes on to the next page, not back to where they stopped.
    assert client.post("/join/step/name", data=form).headers["Location"] == "/join/step/contact"
    # A page further on than the first unanswered one sends them to that one first.
    assert client.post("/join/step/share", data=form).headers["Location"] == (
        "/join/step/region")


@pytest.mark.parametrize(("role", "total", "pages"), [
    ("buddy", 15, ["setting", "capacity", "anchor", "gmc"]),
    ("ambassador", 14, ["setting", "capacity", "gmc"]),
])
def test_volunteers_answer_their_own_pages(client, session, role, total, pages):
    response = open_page(client, f"/join/volunteer/{role}", volunteer_form(), "interests")
    assert f"of {total}" in page_of(response)
    assert all(p in draft_of(session).answered for p in pages)
    assert "arrival" not in draft_of(session).answered
    assert client.get("/join/step/arrival").status_code == 404


def test_agreeing_to_the_optional_questions_adds_their_pages(client, session):
    form = newcomer_form(sensitive_consent="y", country="NG", languages=["yo"],
                         other_languages="Igbo", gender="female", same_gender_anchor="y",
                         support_needs=["housing"])
    page = page_of(open_page(client, "/join/newcomer", form, "country"))
    assert "Question 14 of 17" in page
    assert join(client, "/join/newcomer", form).headers["Location"] == "/join/done"
    person = session.exec(select(Person)).one()
    assert (person.country, person.languages, person.gender, person.support_needs) == (
        "NG", ["yo", "ig"], "female", ["housing"])
    assert person.sensitive_consent_at is not None


def to_check(client, url: str, form: dict) -> str:
    """Answer every page; return the check page."""
    response = client.post(url, data={"email": form["email"]})
    while response.status_code == 302 and response.headers["Location"] != "/join/check":
        location = response.headers["Location"]
        response = (client.get(location) if location.startswith("/join/continue/")
                    else client.post(location, data=form))
    return page_of(client.get("/join/check"))


def test_check_your_answers_shows_every_answer_in_words_with_a_change_link(client, session):
    form = newcomer_form(full_name="Chidi Okafor", share_email="y", wants_ambassador="y")
    page = to_check(client, "/join/newcomer", form)
    rows = dict(re.findall(r'summary-list__key">([^<]*)</dt>\s*<dd class="nhsuk-summary-list'
                           r'__value">([^<]*)</dd>', page))
    assert rows["Name"] == "Chidi Okafor"
    assert rows["How we contact you"] == "Text message (SMS)"
    assert rows["Time zone"] == "India (India time, UTC+5:30)"
    assert rows["Region"] == "London" and rows["Training scheme"] == "Barnet"
    assert rows["Arrival or start date"] == "4 August 2027"
    assert rows["Talk to an ambassador"] == "Yes"
    assert rows["Your family may see"].endswith("and your email address")
    changes = re.findall(r'<a href="([^"]+)">Change<span class="nhsuk-u-visually-hidden"> ',
                         page)
    assert len(changes) == 13 and changes[0] == "/join/newcomer?change=1"
    assert "/join/step/arrival?change=1" in changes
    assert 'type="password"' in page and 'autocomplete="new-password"' in page


def test_a_change_returns_to_check_your_answers(client, session):
    form = newcomer_form()
    to_check(client, "/join/newcomer", form)
    page = page_of(client.get("/join/step/name?change=1"))
    assert 'class="nhsuk-back-link__link" href="/join/check"' in page
    response = client.post("/join/step/name?change=1", data={"full_name": "Zoë Ndiaye"})
    assert response.headers["Location"] == "/join/check"
    assert "Zoë Ndiaye" in page_of(client.get("/join/check"))
    # A change that makes a later answer wrong asks that one again, then comes back.
    response = client.post("/join/step/region?change=1", data={"region": "wessex"})
    assert response.headers["Location"] == "/join/step/scheme?change=1"
    assert client.get("/join/check").headers["Location"] == "/join/step/scheme"
    assert "wessex:poole" in page_of(client.get("/join/step/scheme?change=1"))
    assert "london:barnet" not in page_of(client.get("/join/step/scheme?change=1"))
    response = client.post("/join/step/scheme?change=1", data={"scheme": "wessex:poole"})
    assert response.headers["Location"] == "/join/check"
    # A new email address gets the link too.
    response = client.post("/join/newcomer?change=1", data={"email": "moved@example.org"})
    assert response.headers["Location"] == "/join/check"
    assert link_in(session, "moved@example.org")
    assert client.post("/join/check", data={"password": form["password"],
                                            "contact_consent": "y"}).status_code == 302
    person = session.exec(select(Person)).one()
    assert (person.full_name, person.region, person.scheme) == ("Zoë Ndiaye", "wessex", "poole")
    assert session.get(User, person.user_id).email == "moved@example.org"


def test_choosing_texts_without_a_mobile_asks_for_one(client, session):
    form = newcomer_form(channel="email", phone=None, phone_country=None)
    to_check(client, "/join/newcomer", form)
    response = client.post("/join/step/contact?change=1", data={"channel": "sms"})
    assert response.headers["Location"] == "/join/step/mobile?change=1"
    errors = error_summary(client.post("/join/step/mobile?change=1", data={}))
    assert errors == ["Enter a mobile number, or choose email as your way to be contacted"]


@pytest.mark.parametrize(("page", "data", "message"), [
    ("name", {"full_name": ""}, "Enter your full name"),
    ("contact", {}, "Choose how you would like us to contact you"),
    ("mobile", {"phone": "07700 900123", "phone_country": "GB"}, "Enter a real mobile number"),
    ("region", {"region": "atlantis"}, "Choose the region"),
    ("scheme", {"scheme": "wessex:poole"}, "That scheme is in another region"),
    ("stage", {"stage": "ST9"}, "Choose your training stage"),
    ("arrival", {"arrival_day": "31", "arrival_month": "2", "arrival_year": "2027"},
     "real date"),
    ("interests", {"interests": ["paediatrics", "education", "research", "frailty"]},
     "Choose up to 3"),
])
def test_every_page_explains_its_errors_and_keeps_what_was_typed(client, session, page, data,
                                                                 message):
    open_page(client, "/join/newcomer", newcomer_form(), page)
    response = client.post(f"/join/step/{page}", data=data)
    assert response.status_code == 200
    errors = error_summary(response)
    assert len(errors) == 1 and message in errors[0], errors
    text = page_of(response)
    assert "<title>Error: " in text
    if page in ("name", "mobile", "arrival"):  # typed, not chosen from a list
        for value in data.values():
            assert f'value="{value}"' in text
    assert page not in draft_of(session).answered


def test_the_email_page_explains_a_bad_address(client, session):
    response = client.post("/join/newcomer", data={"email": "not-an-email"})
    assert error_summary(response) == [
        "Enter an email address in the correct format, like name@example.com"]
    assert 'value="not-an-email"' in page_of(response)
    assert session.exec(select(SignupDraft)).all() == []


def test_pages_without_a_draft_go_to_the_start(client):
    for url in ("/join/step/name", "/join/check"):
        assert client.get(url).headers["Location"] == "/join/"
        assert client.post(url, data={}).headers["Location"] == "/join/"
    assert client.get("/join/step/not-a-page").status_code in (302, 404)


def test_check_your_answers_sends_back_to_the_first_unanswered_page(client, session):
    open_page(client, "/join/newcomer", newcomer_form(), "stage")
    assert client.get("/join/check").headers["Location"] == "/join/step/stage"
    assert client.post("/join/check", data={"password": "a long test password",
                                            "contact_consent": "y"}).headers[
        "Location"] == "/join/step/stage"
    assert session.exec(select(Person)).all() == []


def test_an_answer_that_no_longer_passes_is_asked_again(app, client, session):
    """An arrival date fine when given can be too far back by the time they finish."""
    app.config["BUDDY_NOW"] = "2028-07-20T10:00:00+00:00"
    form = newcomer_form()  # arriving on 4 August 2027: within the last year
    to_check(client, "/join/newcomer", form)
    app.config["BUDDY_NOW"] = "2028-08-10T10:00:00+00:00"  # 3 weeks on: a year and a week
    response = client.post("/join/check", data={"password": form["password"],
                                                 "contact_consent": "y"})
    assert response.status_code == 200
    assert re.search(r'<a href="/join/step/arrival\?change=1">Arrival date must be within the '
                     r'last year', page_of(response))
    assert "arrival" not in draft_of(session).answered
    assert session.exec(select(Person)).all() == []


# Invitations (buddy/services/invitations.py) hand over to a draft filled in from the list.

def invitation(session, **kw) -> Invitation:
    row = Invitation(**{"region": "wessex", "intake": "2027-08", "role": "newcomer",
                        "full_name": "José Álvarez", "email": "jose@example.org",
                        "phone": "+447911123456", "scheme": "poole",
                        "start_date": date(2027, 8, 4), "batch_id": "b1", **kw})
    session.add(row)
    session.commit()
    return row


def test_an_invitation_starts_a_filled_in_draft_and_joins_when_it_ends(app, session):
    invited = invitation(session)
    with app.test_request_context():
        path = signup_drafts.start(session, role="newcomer", email="jose@example.org",
                                   prefill={"full_name": "José Álvarez", "region": "wessex",
                                            "phone": "+447911123456", "scheme": "poole",
                                            "arrival_date": "2027-08-04"},
                                   invitation_id=invited.id)
        # The invitation's own link opened again (another device) finds the same draft.
        assert signup_drafts.start(session, role="newcomer", email="jose@example.org",
                                   prefill={}, invitation_id=invited.id) == path
    assert len(session.exec(select(SignupDraft)).all()) == 1
    # Its link is the invitation's: no second email.
    assert session.exec(select(Message).where(Message.kind == "signup_link")).all() == []
    client = app.test_client()
    assert client.get(path).headers["Location"] == "/join/step/name"
    assert 'value="José Álvarez"' in page_of(client.get("/join/step/name"))
    assert 'value="+447911123456"' in page_of(client.get("/join/step/mobile"))
    assert 'value="wessex:poole" selected' in page_of(client.get("/join/step/scheme"))
    assert 'value="2027"' in page_of(client.get("/join/step/arrival"))
    # The person still sends every page and gives consent themselves.
    form = newcomer_form(email="jose@example.org", full_name="José Álvarez",
                         phone="+447911123456", phone_country="", timezone="Europe/London",
                         region="wessex", scheme="wessex:poole")
    assert join(client, "/join/newcomer", form).headers["Location"] == "/join/done"
    person = session.exec(select(Person)).one()
    session.refresh(invited)
    assert (invited.status, invited.person_id) == ("joined", person.id)
    assert person.scheme == "poole" and person.contact_consent_at is not None


def test_prefill_for_a_volunteer_keeps_only_their_questions(app, session):
    invited = invitation(session, role="volunteer", email="gp@example.org")
    with app.test_request_context():
        path = signup_drafts.start(session, role="buddy", email="gp@example.org",
                                   prefill={"gmc_number": "7123456", "arrival_date": date(
                                       2027, 8, 4), "scheme": "poole", "unknown": "x"},
                                   invitation_id=invited.id)
    draft = signup_drafts.find(session, token=path.rsplit("/", 1)[1])
    # No region given: a scheme alone cannot be placed, so it is left for them to choose.
    assert draft.answers == {"email": "gp@example.org", "gmc_number": "7123456"}


def test_every_page_needs_its_csrf_token(make_app, session):
    client = make_app(WTF_CSRF_ENABLED=True).test_client()

    def token(url: str) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"',
                         page_of(client.get(url)))[1]

    first = token("/join/newcomer")
    assert client.post("/join/newcomer", data={"email": "a@example.org"}).status_code == 400
    assert session.exec(select(SignupDraft)).all() == []
    response = client.post("/join/newcomer", data={"email": "a@example.org", "csrf_token": first})
    assert client.get(response.headers["Location"]).headers["Location"] == "/join/step/name"
    name = token("/join/step/name")
    refused = client.post("/join/step/name", data={"full_name": "Ana Lopez"})
    assert refused.status_code == 400 and "Your page timed out" in page_of(refused)
    assert client.post("/join/step/name", data={"full_name": "Ana Lopez", "csrf_token": name}
                       ).headers["Location"] == "/join/step/contact"
    assert draft_of(session).answers["full_name"] == "Ana Lopez"


def test_an_invitation_whose_sign_up_ended_at_a_taken_address_starts_afresh(app, factory,
                                                                          session):
    factory.newcomer(email="jose@example.org")
    invited = invitation(session)
    with app.test_request_context():
        path = signup_drafts.start(session, role="newcomer", email="jose@example.org",
                                   prefill={}, invitation_id=invited.id)
    client = app.test_client()
    client.get(path)
    assert join(client, "/join/newcomer", newcomer_form(email="jose@example.org")).headers[
        "Location"] == "/join/done"
    session.refresh(invited)
    assert invited.status == "invited"  # nobody joined: the address already had an account
    with app.test_request_context():
        again = signup_drafts.start(session, role="newcomer", email="jose@example.org",
                                    prefill={"full_name": "José Álvarez"},
                                    invitation_id=invited.id)
    draft = signup_drafts.find(session, token=again.rsplit("/", 1)[1])
    assert draft.completed_at is None and draft.answers["full_name"] == "José Álvarez"


def test_the_privacy_page_says_how_long_an_unfinished_sign_up_is_kept(client):
    page = page_of(client.get("/privacy"))
    assert f"We delete them {signup_drafts.DRAFT_DAYS} days after your last answer" in page
