"""Signing in and out, the lockout, safe redirects, password reset and change."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import LoginThrottle, User
from tests.factories import PASSWORD, login


def test_member_signs_in_and_out(client, factory):
    person = factory.newcomer(email="sign.in@example.org")
    response = login(client, " Sign.In@Example.org ")
    assert response.status_code == 302 and response.headers["Location"] == "/account/"
    assert person.full_name in client.get("/account/").get_data(as_text=True)
    response = client.post("/logout")
    assert response.headers["Location"] == "/login"
    assert client.get("/account/").status_code == 302


def test_staff_land_on_their_own_home(app, factory):
    factory.staff("lead", email="lead@example.org")
    factory.staff("admin", email="admin@example.org")
    assert login(app.test_client(), "lead@example.org").headers["Location"] == "/lead/"
    assert login(app.test_client(), "admin@example.org").headers["Location"] == "/admin/"


def test_wrong_email_and_wrong_password_get_the_same_message(client, factory):
    factory.newcomer(email="real@example.org")
    wrong_password = login(client, "real@example.org", "not the password").get_data(as_text=True)
    wrong_email = login(client, "nobody@example.org", PASSWORD).get_data(as_text=True)
    message = "Enter a correct email address and password"
    assert message in wrong_password and message in wrong_email


def test_lockout_is_shared_by_every_worker(make_app, factory, session):
    """Five failures spread over two app instances (two workers) lock the address."""
    factory.newcomer(email="target@example.org")
    workers = [make_app().test_client() for _ in range(2)]
    for attempt in range(5):
        login(workers[attempt % 2], "target@example.org", "wrong password")
    response = login(workers[0], "target@example.org", PASSWORD)
    assert "Too many attempts to sign in" in response.get_data(as_text=True)
    assert response.status_code == 200
    throttle = session.get(LoginThrottle, "target@example.org")
    assert throttle.failures == 5 and throttle.locked_until is not None


def test_lockout_ends_after_the_window(client, factory, session):
    factory.newcomer(email="later@example.org")
    for _ in range(5):
        login(client, "later@example.org", "wrong password")
    throttle = session.get(LoginThrottle, "later@example.org")
    throttle.locked_until -= timedelta(minutes=16)
    throttle.window_start -= timedelta(minutes=16)
    session.add(throttle)
    session.commit()
    assert login(client, "later@example.org").headers["Location"] == "/account/"
    session.expire_all()
    assert session.get(LoginThrottle, "later@example.org") is None


@pytest.mark.parametrize(
    "target",
    ["https:evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)",
     "https://evil.example/", "/%0d%0aSet-Cookie:x", "\\\\evil.example"],
)
def test_next_never_leaves_the_site(client, factory, target):
    factory.newcomer(email="next@example.org")
    response = login(client, "next@example.org", next_url=target)
    assert response.headers["Location"] == "/account/"


def test_next_to_a_local_page_is_followed(client, factory):
    factory.newcomer(email="local@example.org")
    response = login(client, "local@example.org", next_url="/account/edit")
    assert response.headers["Location"] == "/account/edit"


def test_protected_page_sends_anonymous_people_to_sign_in(client):
    response = client.get("/account/edit")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def reset_link(session, email: str) -> str:
    session.expire_all()
    message = session.exec(
        select(Message).join(User).where(User.email == email, Message.kind == "password_reset")
        .order_by(Message.id.desc())
    ).first()
    return re.search(r"http://localhost(/reset-password/\S+)", message.body).group(1)


def test_password_reset_by_email_link(client, factory, session):
    factory.newcomer(email="forgot@example.org")
    page = client.post("/forgot-password", data={"email": "Forgot@example.org"})
    assert "Check your email" in page.get_data(as_text=True)
    link = reset_link(session, "forgot@example.org")
    assert "Set a new password" in client.get(link).get_data(as_text=True)
    too_short = client.post(link, data={"password": "short"})
    assert "at least 10 characters" in too_short.get_data(as_text=True)
    response = client.post(link, data={"password": "a brand new password"})
    assert response.headers["Location"] == "/login"
    assert login(client, "forgot@example.org", "a brand new password").status_code == 302
    # The link worked once; it cannot be used again.
    used = client.get(link)
    assert used.status_code == 400 and "already been used" in used.get_data(as_text=True)


def test_reset_for_unknown_address_looks_the_same_and_sends_nothing(client, session):
    page = client.post("/forgot-password", data={"email": "nobody@example.org"})
    assert "Check your email" in page.get_data(as_text=True)
    assert session.exec(select(Message)).all() == []


@pytest.mark.parametrize("email", ["", "   "])
def test_reset_without_an_address_asks_for_one(client, session, email):
    page = client.post("/forgot-password", data={"email": email}).get_data(as_text=True)
    assert "Enter the email address you use for Buddy" in page and "Check your email" not in page
    assert session.exec(select(Message)).all() == []


@pytest.mark.parametrize("token", ["garbage", "eyJ1aWQiOjF9.tampered.signature"])
def test_tampered_reset_link_is_refused(client, token):
    response = client.get(f"/reset-password/{token}")
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)


def test_expired_reset_link_is_refused(app, client, factory, session):
    factory.newcomer(email="slow@example.org")
    client.post("/forgot-password", data={"email": "slow@example.org"})
    link = reset_link(session, "slow@example.org")
    app.config["BUDDY_RESET_MINUTES"] = -1
    response = client.get(link)
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)


def test_changing_password_ends_other_sessions(app, factory):
    factory.newcomer(email="two.devices@example.org")
    phone, laptop = app.test_client(), app.test_client()
    login(phone, "two.devices@example.org")
    login(laptop, "two.devices@example.org")
    response = laptop.post("/account/password", data={"current_password": PASSWORD,
                                                      "password": "another long password"})
    assert response.headers["Location"] == "/login"
    assert phone.get("/account/").status_code == 302  # signed out
    assert login(phone, "two.devices@example.org", "another long password").status_code == 302


def test_change_password_needs_the_current_one(client, factory):
    factory.newcomer(email="careful@example.org")
    login(client, "careful@example.org")
    response = client.post("/account/password", data={"current_password": "wrong one",
                                                      "password": "another long password"})
    assert "current password is not right" in response.get_data(as_text=True)


def test_remember_me_cookie_lasts_at_most_14_days(client, factory):
    factory.newcomer(email="remember@example.org")
    response = client.post("/login", data={"email": "remember@example.org",
                                           "password": PASSWORD, "remember": "y"})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    lifetime = expires - datetime.now(UTC)
    assert timedelta(days=13) < lifetime <= timedelta(days=14)


def test_expired_csrf_token_gets_a_friendly_page(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/login", data={"email": "a@example.org", "password": "x",
                                           "csrf_token": "stale"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Your page timed out" in page and "Nothing was saved" in page


def test_forms_carry_a_csrf_token(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    page = app.test_client().get("/join/newcomer").get_data(as_text=True)
    assert re.search(r'name="csrf_token" value="[^"]{20,}"', page)


def test_unknown_email_costs_the_same_password_check_as_a_known_one(client, factory,
                                                                     monkeypatch):
    """No shortcut for an unknown address: its answer must not come back sooner.

    Counts argon2's own verifications (the real ones still run); the timings themselves
    are measured outside the suite, where the machine's load cannot make them flaky.
    """
    from argon2 import PasswordHasher

    checks: list[str] = []
    real_verify = PasswordHasher.verify

    def counted(self, hash, password):
        checks.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)
    factory.newcomer(email="known@example.org")
    login(client, "known@example.org", "not the password")
    login(client, "unknown@example.org", "not the password")
    login(client, "unknown2@example.org", "not the password")
    assert len(checks) == 3
    # The same cost parameters for the real hash and the stand-in.
    assert len({h.rsplit("$", 2)[0] for h in checks}) == 1


def reset_emails(session, email: str) -> list[Message]:
    session.expire_all()
    return session.exec(
        select(Message).join(User).where(User.email == email, Message.kind == "password_reset")
    ).all()


def test_reset_emails_are_limited_per_address_with_the_same_answer(make_app, factory,
                                                                    session):
    """At most 3 reset emails an hour to one address, counted the same by every worker."""
    factory.newcomer(email="flooded@example.org")
    workers = [make_app().test_client() for _ in range(2)]
    pages = [workers[n % 2].post("/forgot-password", data={"email": "Flooded@example.org"})
             for n in range(6)]
    unknown = workers[0].post("/forgot-password", data={"email": "nobody@example.org"})
    assert len(reset_emails(session, "flooded@example.org")) == 3
    bodies = {p.get_data(as_text=True).replace("Flooded@example.org", "ADDRESS")
              for p in pages}
    assert {p.status_code for p in pages} == {unknown.status_code} == {200}
    assert bodies == {unknown.get_data(as_text=True).replace("nobody@example.org", "ADDRESS")}
    # An hour after the first, one more may go.
    for message in reset_emails(session, "flooded@example.org")[:1]:
        message.created_at -= timedelta(minutes=61)
        session.add(message)
    session.commit()
    workers[0].post("/forgot-password", data={"email": "flooded@example.org"})
    assert len(reset_emails(session, "flooded@example.org")) == 4
