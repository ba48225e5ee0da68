"""Sessions end when they should: cookies copied before sign-out, a password reset or a
password change do not work after it (RELIABILITY.md item 20)."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, login
from tests.test_auth import reset_link

COOKIES = ("session", "remember_token")


def signed_in_with_remember_me(app, email: str):
    client = app.test_client()
    response = client.post("/login", data={"email": email, "password": PASSWORD,
                                           "remember": "y"})
    assert response.headers["Location"] == "/account/"
    return client


def copied(client) -> dict[str, str]:
    """The cookies an attacker (or a shared computer) could have copied."""
    cookies = {name: client.get_cookie(name) for name in COOKIES}
    assert all(cookies.values()), cookies
    return {name: cookie.value for name, cookie in cookies.items()}


def replay(app, name: str, value: str) -> int:
    """GET /account/ in a fresh client that carries only the one copied cookie."""
    fresh = app.test_client()
    fresh.set_cookie(name, value)
    return fresh.get("/account/").status_code


@pytest.mark.parametrize("cookie", COOKIES)
def test_cookies_copied_before_sign_out_do_not_work_after_it(app, factory, cookie):
    factory.newcomer(email="shared.pc@example.org")
    client = signed_in_with_remember_me(app, "shared.pc@example.org")
    stolen = copied(client)
    assert replay(app, cookie, stolen[cookie]) == 200  # the copy works while signed in
    response = client.post("/logout", follow_redirects=True)
    assert "You have signed out on every device" in response.get_data(as_text=True)
    assert replay(app, cookie, stolen[cookie]) == 302  # to the sign-in page
    assert client.get("/account/").status_code == 302


def test_sign_out_ends_every_session_of_that_user_only(app, factory):
    factory.newcomer(email="phone.and.laptop@example.org")
    factory.newcomer(email="someone.else@example.org")
    phone = signed_in_with_remember_me(app, "phone.and.laptop@example.org")
    laptop = signed_in_with_remember_me(app, "phone.and.laptop@example.org")
    other = signed_in_with_remember_me(app, "someone.else@example.org")
    phone.post("/logout")
    assert laptop.get("/account/").status_code == 302
    assert other.get("/account/").status_code == 200
    # Signing in again works, and starts a session the old cookies cannot reach.
    assert login(laptop, "phone.and.laptop@example.org").headers["Location"] == "/account/"
    assert laptop.get("/account/").status_code == 200


def test_signing_out_when_not_signed_in_is_harmless(client):
    response = client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"


@pytest.mark.parametrize("cookie", COOKIES)
def test_a_password_reset_ends_every_session_and_remember_me_cookie(
        app, factory, session, cookie):
    factory.newcomer(email="reset.me@example.org")
    stolen = copied(signed_in_with_remember_me(app, "reset.me@example.org"))
    client = app.test_client()
    client.post("/forgot-password", data={"email": "reset.me@example.org"})
    response = client.post(reset_link(session, "reset.me@example.org"),
                           data={"password": "a brand new password"})
    assert response.headers["Location"] == "/login"
    assert replay(app, cookie, stolen[cookie]) == 302


@pytest.mark.parametrize("cookie", COOKIES)
def test_a_password_change_ends_every_other_session_and_remember_me_cookie(
        app, factory, cookie):
    factory.newcomer(email="change.me@example.org")
    stolen = copied(signed_in_with_remember_me(app, "change.me@example.org"))
    client = signed_in_with_remember_me(app, "change.me@example.org")
    response = client.post("/account/password", data={"current_password": PASSWORD,
                                                      "password": "another long password"})
    assert response.headers["Location"] == "/login"
    assert replay(app, cookie, stolen[cookie]) == 302


def test_sign_out_forgets_the_address_just_signed_up(app):
    from tests.factories import join, newcomer_form

    client = app.test_client()
    join(client, "/join/newcomer", newcomer_form(email="kiosk@example.org"))
    assert "kiosk@example.org" in client.get("/join/done").get_data(as_text=True)
    client.post("/logout")
    response = client.get("/join/done")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
