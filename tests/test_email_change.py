"""A member changes their email address: the new one is confirmed by a link sent to it."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy

import pytest
from sqlmodel import Session, select

from buddy import clock
from buddy.messaging.models import Message
from buddy.models import AuditEvent, Person, User
from tests.factories import PASSWORD, Factory, login

OLD, NEW = "me@example.org", "new.me@example.org"


@pytest.fixture
def mail_app(make_app, fake_smtp):
    return make_app(BUDDY_CHANNELS="email", BUDDY_SMTP_HOST=fake_smtp.host,
                    BUDDY_SMTP_PORT=fake_smtp.port, BUDDY_MAIL_FROM="Buddy <buddy@example.org>")


@pytest.fixture
def db(mail_app):
    with Session(mail_app.extensions["buddy.engine"], expire_on_commit=False) as session:
        yield session


@pytest.fixture
def member(mail_app, db) -> Person:
    return Factory(mail_app, db).newcomer(email=OLD, full_name="Dr Amara Okafor")


@pytest.fixture
def client(mail_app, member):
    client = mail_app.test_client()
    login(client, OLD)
    return client


def send_mail(app) -> None:
    result = app.test_cli_runner().invoke(args=["dispatch"])
    assert result.exit_code == 0, result.output


def text_of(raw: bytes) -> str:
    return email.message_from_bytes(raw, policy=policy.default).get_body().get_content()


def link_in(fake_smtp, address: str) -> str:
    texts = [text_of(m["content"]) for m in fake_smtp.messages_to(address)]
    links = [found for t in texts for found in re.findall(
        r"http://localhost(/account/email/confirm/\S+)", t)]
    assert len(links) == 1, texts
    return links[0]


def ask(client, new=NEW, password=PASSWORD):
    return client.post("/account/email", data={"email": new, "current_password": password})


def test_the_new_address_works_only_after_its_link_is_opened(mail_app, db, member, client,
                                                             fake_smtp):
    assert "Change<span class=\"nhsuk-u-visually-hidden\"> your email address" in \
        client.get("/account/").get_data(as_text=True)
    response = ask(client, new="  New.Me@Example.org ")
    assert response.headers["Location"] == "/account/"
    page = client.get("/account/").get_data(as_text=True)
    assert f"We have sent a link to {NEW}" in page and f"we keep using {OLD}" in page
    send_mail(mail_app)
    notice = [text_of(m["content"]) for m in fake_smtp.messages_to(OLD)
              if b"being changed" in m["content"]]
    assert len(notice) == 1 and "If this was not you, change your password now" in notice[0]
    assert NEW not in notice[0]  # the old inbox is not told where the account goes
    path = link_in(fake_smtp, NEW)
    db.expire_all()
    assert db.get(User, member.user_id).email == OLD  # nothing changes before the link

    # The link asks first (mail scanners open links), then changes the address.
    page = mail_app.test_client().get(path).get_data(as_text=True)
    assert f"Use <strong>{NEW}</strong> for your Buddy account" in page
    db.expire_all()
    assert db.get(User, member.user_id).email == OLD
    done = mail_app.test_client().post(path)
    assert done.status_code == 200
    assert f"It is now {NEW}" in done.get_data(as_text=True)
    db.expire_all()
    user, person = db.get(User, member.user_id), db.get(Person, member.id)
    assert user.email == NEW and person.email_confirmed_at is not None
    # The session that asked goes on; sign-in works with the new address, not the old.
    assert client.get("/account/").status_code == 200
    assert NEW in client.get("/account/").get_data(as_text=True)
    assert login(mail_app.test_client(), NEW).headers["Location"] == "/account/"
    assert login(mail_app.test_client(), OLD).status_code == 200  # the form again
    # Emails still to come go to the new address.
    waiting = db.exec(select(Message.to_address).where(
        Message.user_id == user.id, Message.channel == "email",
        Message.status == "pending")).all()
    assert waiting and set(waiting) == {NEW}
    actions = db.exec(select(AuditEvent.action).where(
        AuditEvent.person_id == member.id, AuditEvent.action.like("email_change%"))
        .order_by(AuditEvent.id)).all()
    assert actions == ["email_change_requested", "email_changed"]
    # The link was for one change: used, it is refused in words, before and after asking.
    for method in ("get", "post"):
        again = getattr(mail_app.test_client(), method)(path)
        assert again.status_code == 400
        assert "This link has already been used" in again.get_data(as_text=True)


def test_a_tampered_or_expired_link_is_refused(mail_app, db, member, client, fake_smtp):
    ask(client)
    send_mail(mail_app)
    path = link_in(fake_smtp, NEW)
    token = path.rsplit("/", 1)[1]
    tampered = path[:-len(token)] + token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (tampered, "/account/email/confirm/nonsense"):
        response = mail_app.test_client().post(bad)
        assert response.status_code == 400
        assert "This link is not valid" in response.get_data(as_text=True)
    mail_app.config["BUDDY_NOW"] = (clock.now() + timedelta(hours=25)).isoformat()
    response = mail_app.test_client().get(path)
    assert response.status_code == 400
    assert "This link has expired" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(User, member.user_id).email == OLD


def test_a_link_dies_when_the_address_changed_another_way(mail_app, db, member, client,
                                                          fake_smtp):
    ask(client, new="first@example.org")
    ask(client, new="second@example.org")
    send_mail(mail_app)
    first, second = (link_in(fake_smtp, a) for a in ("first@example.org",
                                                      "second@example.org"))
    assert mail_app.test_client().post(second).status_code == 200
    response = mail_app.test_client().post(first)
    assert response.status_code == 400
    assert "your email address has changed since" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(User, member.user_id).email == "second@example.org"


def test_an_address_in_use_gets_the_same_answer_and_no_email(mail_app, db, member, client,
                                                             fake_smtp):
    Factory(mail_app, db).newcomer(email="taken@example.org")
    send_mail(mail_app)
    before = len(fake_smtp.messages_to("taken@example.org"))
    taken = ask(client, new="taken@example.org")
    free = ask(client, new="free@example.org")
    assert taken.status_code == free.status_code == 302
    words = [m for m in client.get("/account/").get_data(as_text=True).split("\n")
             if "We have sent a link to" in m]
    assert len(words) == 2
    assert words[0].replace("taken@", "free@") == words[1]
    send_mail(mail_app)
    # The owner of the other account is told nothing; the member's own inbox gets its notice.
    assert len(fake_smtp.messages_to("taken@example.org")) == before
    assert len(fake_smtp.messages_to("free@example.org")) == 1
    assert sum(b"being changed" in m["content"] for m in fake_smtp.messages_to(OLD)) == 2
    db.expire_all()
    assert db.get(User, member.user_id).email == OLD


@pytest.mark.parametrize("new, password, field, words", [
    (NEW, "not my password", "current_password", "Your password is not right"),
    (NEW, "", "current_password", "Enter your password"),
    ("", PASSWORD, "email", "Enter your new email address"),
    ("not-an-address", PASSWORD, "email", "Enter an email address in the correct format"),
    (OLD.upper(), PASSWORD, "email", "This is already your email address"),
])
def test_bad_requests_say_what_to_fix_and_keep_the_address(mail_app, db, member, client,
                                                           new, password, field, words):
    response = ask(client, new=new, password=password)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "There is a problem" in page and words in page
    assert f'href="#{field}"' in page
    if new:
        assert f'value="{new}"' in page
    assert not db.exec(select(Message).where(Message.kind.like("email_change%"))).all()


def test_at_most_three_requests_an_hour(mail_app, db, member, client):
    for n in range(3):
        assert ask(client, new=f"n{n}@example.org").status_code == 302
    response = ask(client, new="n4@example.org")
    assert "Please wait an hour and try again" in response.get_data(as_text=True)
    assert len(db.exec(select(Message).where(Message.kind == "email_change_link")).all()) == 3


def test_staff_and_strangers_have_no_email_change_page(mail_app, db):
    lead = Factory(mail_app, db).staff("lead")
    client = mail_app.test_client()
    assert client.get("/account/email").status_code == 302  # to sign in
    login(client, lead.email)
    assert client.get("/account/email").status_code == 404


def test_an_address_taken_before_the_link_is_opened_is_refused(mail_app, db, member, client,
                                                               fake_smtp):
    ask(client)
    send_mail(mail_app)
    path = link_in(fake_smtp, NEW)
    Factory(mail_app, db).newcomer(email=NEW)
    response = mail_app.test_client().post(path)
    assert response.status_code == 400
    assert "An account with this email address already exists" in response.get_data(
        as_text=True)
    db.expire_all()
    assert db.get(User, member.user_id).email == OLD
