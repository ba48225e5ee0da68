"""The DA lead's page of failed and uncertain messages, the dev log page, start-up checks."""

from __future__ import annotations

import pytest

from buddy import create_app
from buddy.settings import ConfigError, load_settings
from tests.factories import login
from tests.messaging.conftest import at, rows, run


def _failed_and_uncertain(app, session, factory, fake_twilio, region: str):
    failing = factory.newcomer(region=region, scheme=None, full_name="Failing Person")
    dropped = factory.newcomer(region=region, scheme=None, full_name="Dropped Person")
    # The first text is refused as an invalid number; the second is dropped mid-answer.
    fake_twilio.script = ["invalid", "drop"]
    run(app, at(2027, 7, 14, 9))
    return failing, dropped


def test_lead_sees_failed_and_uncertain_messages_of_their_region_only(
        app, session, factory, fake_twilio):
    _failed_and_uncertain(app, session, factory, fake_twilio, "london")
    statuses = sorted(m.status for m in rows(session) if m.kind == "what_to_expect")
    assert "failed" in statuses and "uncertain" in statuses
    london = app.test_client()
    login(london, factory.staff("lead", region="london").email)
    page = london.get("/messages/problems").get_data(as_text=True)
    assert "Failing Person" in page and "Dropped Person" in page
    assert "21211" in page and "Not sure it arrived" in page
    other = app.test_client()
    login(other, factory.staff("lead", region="wessex").email)
    page = other.get("/messages/problems").get_data(as_text=True)
    assert "Failing Person" not in page and "No messages have failed" in page
    assert "/messages/problems" in london.get("/lead/").get_data(as_text=True)


def test_members_cannot_see_the_lead_pages(app, factory):
    factory.newcomer(email="member@example.org")
    member = app.test_client()
    login(member, "member@example.org")
    assert member.get("/messages/problems").status_code == 404
    assert member.get("/messages/log").status_code == 404
    assert app.test_client().get("/messages/problems").status_code == 302


def test_log_page_shows_what_would_have_been_sent(make_app, session, factory):
    app = make_app()  # no Twilio or SMTP settings: the log channel
    person = factory.newcomer()
    run(app, at(2027, 7, 14, 9))
    assert {m.provider_id.split("-")[1] for m in rows(session) if m.status == "sent"} == {
        "email", "sms"}
    lead = app.test_client()
    login(lead, factory.staff("lead", region="london").email)
    page = lead.get("/messages/log").get_data(as_text=True)
    assert "Your first weeks in GP training" in page and "log channel" in page
    assert person.phone in page


PRODUCTION = {
    "BUDDY_ENV": "production", "BUDDY_SECRET_KEY": "kW3n9Zr_Qx7LbT0vYc2PjH5sUe8dGmA4fR6tNq1iXoE-",
    "BUDDY_PUBLIC_URL": "https://buddy.example.nhs.uk",
    "BUDDY_SMTP_HOST": "smtp.example.org", "BUDDY_MAIL_FROM": "buddy@example.org",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "9f1c07e4b2a85d3e6c0f47a91b2d8e53",
    "TWILIO_FROM_NUMBER": "+15005550006", "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
    "BUDDY_ANALYTICS_KEY": "Zr8qLw2Nc5Xv0Ty7Bm4Hd9Kf1Gs6Jp3Ue-_aWiRoQxEtY",
}


@pytest.mark.parametrize(("missing", "message"), [
    ("BUDDY_SMTP_HOST", "The email channel needs BUDDY_SMTP_HOST"),
    ("TWILIO_FROM_NUMBER", "The sms channel needs TWILIO_FROM_NUMBER"),
    ("TWILIO_WHATSAPP_FROM", "The whatsapp channel needs TWILIO_WHATSAPP_FROM"),
    ("TWILIO_AUTH_TOKEN", "The sms channel needs TWILIO_AUTH_TOKEN"),
])
def test_production_refuses_a_channel_without_its_settings(settings, missing, message):
    config = {**settings, **PRODUCTION, missing: ""}
    with pytest.raises(ConfigError, match=message):
        create_app(config)


def test_production_without_texts_needs_only_email_and_an_https_address():
    config = {**PRODUCTION, "BUDDY_CHANNELS": "email", "TWILIO_AUTH_TOKEN": "",
              "BUDDY_DATABASE_URL": "postgresql+psycopg://buddy@db.example/buddy"}
    assert load_settings(environ={}, overrides=config)["BUDDY_CHANNELS"] == "email"
    with pytest.raises(ConfigError, match="BUDDY_PUBLIC_URL must be the https://"):
        load_settings(environ={}, overrides={**config, "BUDDY_PUBLIC_URL": "http://buddy.example"})
    with pytest.raises(ConfigError, match="must include email"):
        load_settings(environ={}, overrides={**config, "BUDDY_CHANNELS": "sms"})
