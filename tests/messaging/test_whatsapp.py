"""WhatsApp as it works: templates (Content API) outside a 24-hour session, free text inside.

RELIABILITY.md item 22. The real twilio client talks to the fake, which answers as Twilio
does: an unknown ContentSid or bad ContentVariables is refused (21655, 21656), and free text
to a number that has not written within 24 hours is accepted and then fails with 63016.
"""

from __future__ import annotations

import json
import secrets
import tomllib
from datetime import timedelta
from string import Formatter

import pytest
from twilio.rest import Client

from buddy.messaging import outbox
from buddy.messaging.channels import (
    CONTENT_SID,
    LANGUAGE,
    BuddyTwilioHttpClient,
    NoTemplate,
    whatsapp_content,
)
from buddy.messaging.models import InboundMessage, Message
from buddy.models import Person, User
from buddy.settings import CONFIG_DIR, ConfigError, load_settings
from tests.fakes import FakeTwilio
from tests.messaging.conftest import ACCOUNT_SID, AUTH_TOKEN, at, confirm, rows, run, sign
from tests.messaging.test_pages import PRODUCTION

DUE = at(2027, 7, 14, 9)  # "what to expect" for a 4 August arrival, 14:30 in India
INBOUND = "http://localhost/messages/twilio/inbound"


def _config(name: str) -> dict:
    with open(CONFIG_DIR / name, "rb") as fh:
        return tomllib.load(fh)


TEMPLATES = _config("whatsapp.toml")
TEXTS = _config("messages.toml")["texts"]


def _sid(text: str) -> str:
    return TEMPLATES["templates"][text][LANGUAGE]["content_sid"]


def _newcomer(factory, session) -> Person:
    person = factory.newcomer(channel="whatsapp")
    return confirm(session, person)  # the email copy of a failed text can go at once


def _row(session, person, channel: str = "whatsapp") -> Message:
    return next(m for m in rows(session, person_id=person.id)
                if m.kind == "what_to_expect" and m.channel == channel)


def _whatsapp_requests(fake) -> list[dict]:
    return [r for r in fake.received if r["To"].startswith("whatsapp:")]


def _wrote(session, fake, person, when) -> None:
    """The person's last WhatsApp message, as Buddy stored it and Twilio saw it."""
    session.add(InboundMessage(message_sid="SM" + secrets.token_hex(16), person_id=person.id,
                               channel="whatsapp", from_address=f"whatsapp:{person.phone}",
                               body="Hello", meaning="unclear", received_at=when))
    session.commit()
    fake.wrote(person.phone, when)


def _deliver_callbacks(client, fake) -> None:
    for callback in fake.callbacks:
        url, form = callback["url"], callback["form"]
        assert client.post(url, data=form, headers=sign(url, form)).status_code == 204


def test_outside_a_session_the_template_goes_and_is_delivered(app, session, factory,
                                                              fake_twilio, client):
    person = _newcomer(factory, session)
    fake_twilio.clock = lambda: DUE
    run(app, DUE)
    [request] = _whatsapp_requests(fake_twilio)
    row = _row(session, person)
    assert "Body" not in request and request["ContentSid"] == _sid("what_to_expect")
    values = json.loads(request["ContentVariables"])
    # The template filled in with these values is exactly the text Buddy would have sent.
    name, arrival, link = values["1"], values["2"], values["3"]
    assert TEXTS["what_to_expect"]["text"].format(name=name, arrival=arrival,
                                                  link=link) == row.body
    # The link is the newcomer's region's welcome guide (buddy/services/guides.py).
    assert arrival == "4 August 2027" and link == f"http://localhost/welcome/{person.region}"
    assert fake_twilio.delivered() == [request]
    _deliver_callbacks(client, fake_twilio)
    row = _row(session, person)
    assert (row.status, row.provider_id, row.provider_status) == ("sent", request["sid"],
                                                                  "delivered")


def test_inside_a_session_free_text_goes(app, session, factory, fake_twilio, client):
    person = _newcomer(factory, session)
    _wrote(session, fake_twilio, person, DUE - timedelta(hours=2))
    fake_twilio.clock = lambda: DUE
    run(app, DUE)
    [request] = _whatsapp_requests(fake_twilio)
    assert request["Body"] == _row(session, person).body and "ContentSid" not in request
    assert fake_twilio.delivered() == [request]
    _deliver_callbacks(client, fake_twilio)
    assert _row(session, person).provider_status == "delivered"


def test_an_inbound_webhook_through_the_fake_opens_the_session(app, session, factory,
                                                               fake_twilio, client):
    """The fake learns of the message as Buddy does: from the webhook Twilio posts."""
    person = _newcomer(factory, session)
    form = fake_twilio.inbound_webhook(person.phone, "Hello")
    assert client.post(INBOUND, data=form, headers=sign(INBOUND, form)).status_code == 200
    user = session.get(User, person.user_id)
    text = TEXTS["checkin"]["text"].format(name="Sam", when="in your first week")
    outbox.enqueue(session, user=user, channel="whatsapp", kind="checkin", subject="day:7",
                   to_address=person.phone, title="How are things going?", body=text)
    session.commit()
    run(app)  # now, on the real clock, as the fake's
    [request] = _whatsapp_requests(fake_twilio)
    assert request["Body"] == text and fake_twilio.delivered() == [request]


@pytest.mark.parametrize("last_wrote", [
    None,
    timedelta(hours=25),
    timedelta(hours=24),
    timedelta(hours=23, minutes=58),  # inside Twilio's 24 hours, not by the time it is sent
], ids=["never", "25h", "24h", "23h58"])
def test_free_text_outside_a_session_is_never_sent(app, session, factory, fake_twilio,
                                                   last_wrote):
    person = _newcomer(factory, session)
    if last_wrote is not None:
        _wrote(session, fake_twilio, person, DUE - last_wrote)
    fake_twilio.clock = lambda: DUE
    run(app, DUE)
    [request] = _whatsapp_requests(fake_twilio)
    assert "Body" not in request and request["ContentSid"] == _sid("what_to_expect")
    assert fake_twilio.delivered() == [request] and _row(session, person).status == "sent"


def test_the_fake_fails_free_text_outside_a_session_with_63016(fake_twilio):
    """As Twilio: the request is accepted (queued) and the failure comes in the callback."""
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=BuddyTwilioHttpClient(fake_twilio.url))
    sent = client.messages.create(from_="whatsapp:+14155238886", to="whatsapp:+447400123456",
                                  body="Hello", status_callback="http://localhost/s/1")
    assert sent.status == "queued"
    assert fake_twilio.delivered() == []
    [callback] = fake_twilio.callbacks
    assert callback["form"]["MessageStatus"] == "failed"
    assert callback["form"]["ErrorCode"] == "63016"


def test_63016_in_the_status_callback_fails_the_text_and_it_goes_by_email(
        app, session, factory, fake_twilio, fake_smtp, client):
    """Buddy saw a message Twilio did not (a lost webhook): Twilio's 63016 settles it."""
    person = _newcomer(factory, session)
    session.add(InboundMessage(message_sid="SMlost", person_id=person.id, channel="whatsapp",
                               from_address=f"whatsapp:{person.phone}", body="Hi",
                               meaning="unclear", received_at=DUE - timedelta(hours=1)))
    session.commit()
    fake_twilio.clock = lambda: DUE
    run(app, DUE)
    [request] = _whatsapp_requests(fake_twilio)
    assert "Body" in request and fake_twilio.delivered() == []
    _deliver_callbacks(client, fake_twilio)
    row = _row(session, person)
    assert (row.status, row.error_code) == ("failed", "63016")
    run(app, DUE + timedelta(minutes=1))
    assert _row(session, person, "email").status == "sent"
    assert any(b"first weeks" in m["content"]
               for m in fake_smtp.messages_to(session.get(User, person.user_id).email))


def test_a_template_twilio_does_not_know_fails_and_goes_by_email(make_app, channel_settings,
                                                                 session, factory, fake_smtp):
    """21655 (unknown ContentSid) is permanent: the email copy goes in the same pass."""
    twilio = FakeTwilio(templates={}).start()
    try:
        app = make_app(**{**channel_settings, "BUDDY_TWILIO_API_URL": twilio.url})
        person = _newcomer(factory, session)
        run(app, DUE)
        row = _row(session, person)
        assert (row.status, row.error_code) == ("failed", "21655")
        assert "ContentSid" in row.last_error
        assert _row(session, person, "email").status == "sent"
    finally:
        twilio.stop()


def test_a_kind_without_a_template_fails_with_its_reason_and_goes_by_email(
        make_app, channel_settings, tmp_path, session, factory, fake_twilio):
    only_checkin = tmp_path / "whatsapp.toml"
    only_checkin.write_text(
        '[templates.checkin.en]\ncontent_sid = "HX00000000000000000000000000000006"\n'
        'variables = ["name", "when"]\n')
    app = make_app(**channel_settings, BUDDY_WHATSAPP_TEMPLATES=str(only_checkin))
    person = _newcomer(factory, session)
    run(app, DUE)
    assert _whatsapp_requests(fake_twilio) == []
    row = _row(session, person)
    assert row.status == "failed"
    assert row.last_error.startswith("No WhatsApp template for what_to_expect (en)")
    assert _row(session, person, "email").status == "sent"


def test_every_text_that_can_go_by_whatsapp_has_a_template():
    """A new kind in config/messages.toml fails here until it has a template (or is email only)."""
    email_only = set(TEMPLATES["email_only"]) | set(TEMPLATES["no_whatsapp"])
    templates = TEMPLATES["templates"]
    missing = [name for name in TEXTS if name not in email_only and LANGUAGE not in
               templates.get(name, {})]
    assert missing == [], f"texts without a WhatsApp template in config/whatsapp.toml: {missing}"
    assert set(templates) <= set(TEXTS), "a template for a text config/messages.toml lacks"
    sids = []
    for name, languages in templates.items():
        placeholders = {field for _, field, _, _ in Formatter().parse(TEXTS[name]["text"])
                        if field}
        for language, entry in languages.items():
            assert CONTENT_SID.fullmatch(entry["content_sid"]), (name, language)
            assert entry["variables"], (name, language)
            assert set(entry["variables"]) <= placeholders, (name, language)
            sids.append(entry["content_sid"])
    assert len(sids) == len(set(sids))
    assert "code" in templates["phone_code"][LANGUAGE]["variables"]


def test_template_variables_are_one_line_whatever_the_name():
    """WhatsApp refuses a variable with a line break, a tab or a run of spaces."""
    body = TEXTS["buddy_nudge"]["text"].format(name="Ana", newcomer="Zoë\u2028Li \t  Wu",
                                               when="a week ago")
    content = whatsapp_content(kind="buddy_nudge", body=body, texts=TEXTS, templates=TEMPLATES)
    assert content.sid == _sid("buddy_nudge")
    assert content.variables == {"1": "Ana", "2": "Zoë Li Wu", "3": "a week ago"}


def test_the_phone_code_goes_as_an_authentication_template():
    """WhatsApp's authentication templates carry the code alone; the wording is WhatsApp's."""
    body = TEXTS["phone_code"]["text"].format(code="482913", minutes=15)
    content = whatsapp_content(kind="phone_code", body=body, texts=TEXTS, templates=TEMPLATES)
    assert (content.sid, content.variables) == (_sid("phone_code"), {"1": "482913"})


def test_a_body_that_no_longer_matches_its_text_has_no_template():
    with pytest.raises(NoTemplate, match="does not match the text"):
        whatsapp_content(kind="checkin", body="Something else", texts=TEXTS, templates=TEMPLATES)


def test_production_refuses_placeholder_template_sids(tmp_path):
    config = {**PRODUCTION, "BUDDY_SECRET_KEY": "Qm4v0xq0H1a7bT2kY9cRr3sWnLz8uE5dJpF6gV1hNoC-_iKt",
              "BUDDY_DATABASE_URL": "postgresql+psycopg://buddy@db.example/buddy",
              "TWILIO_AUTH_TOKEN": "9f2c4e1ab7d35e0c86f41a2b9d7e3c05"}
    with pytest.raises(ConfigError, match="placeholder content SIDs: ambassador_intro"):
        load_settings(environ={}, overrides=config)
    real = tmp_path / "whatsapp.toml"
    # Each placeholder (HX, 28 zeros, its own 4 digits) becomes a SID of the same shape.
    real.write_text((CONFIG_DIR / "whatsapp.toml").read_text().replace(
        "HX" + "0" * 28, "HX5c1e9a7b3d2f4e6a8b0c1d2e3f4a"))
    loaded = load_settings(environ={}, overrides={**config, "BUDDY_WHATSAPP_TEMPLATES": str(real)})
    assert loaded["BUDDY_WHATSAPP_TEMPLATES"] == str(real)
    # Without WhatsApp no template is needed.
    assert load_settings(environ={}, overrides={**config, "BUDDY_CHANNELS": "email,sms"})

