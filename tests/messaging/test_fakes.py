"""The fake Twilio behaves like the real one where the fault drills depend on it."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from buddy.messaging.channels import BuddyTwilioHttpClient, templates_path, whatsapp_templates
from tests.fakes import FakeTwilio
from tests.messaging.conftest import ACCOUNT_SID, AUTH_TOKEN

# The check-in template of config/whatsapp.toml: {{1}} name, {{2}} when.
CHECKIN = whatsapp_templates(templates_path({}))["templates"]["checkin"]["en"]["content_sid"]


def test_a_request_cut_off_mid_body_is_not_a_message():
    """Found by the fault drill: a dispatcher SIGKILLed while sending left half a form, which
    the fake counted as a message with no status callback."""
    twilio = FakeTwilio().start()
    try:
        url = urlsplit(twilio.url)
        body = (b"To=%2B447700900123&From=%2B15005550006&Body=Hello"
                b"&StatusCallback=http%3A%2F%2Fx%2F1")
        with socket.create_connection((url.hostname, url.port), timeout=5) as conn:
            conn.sendall(b"POST /2010-04-01/Accounts/AC123/Messages.json HTTP/1.1\r\n"
                         b"Host: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body[:20])
        deadline = time.monotonic() + 1  # the fake answers in ms
        while time.monotonic() < deadline and not twilio.received:
            time.sleep(0.05)
        assert twilio.received == [] and twilio.accepted() == []
    finally:
        twilio.stop()


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"content_sid": "HX" + "f" * 32, "content_variables": "{}"}, 21655),  # not a template
    ({"content_sid": "HX123"}, 21655),  # not even a SID
    ({"content_sid": CHECKIN, "content_variables": "not json"}, 21656),
    ({"content_sid": CHECKIN, "content_variables": json.dumps({"1": "Sam"})}, 21656),
    ({"content_sid": CHECKIN, "content_variables": json.dumps({"1": "Sam", "2": ""})}, 21656),
    ({"content_variables": json.dumps({"1": "Sam"})}, 21654),  # variables without a SID
    ({"body": "x" * 1601}, 21617),
    ({"body": ""}, 21619),
    ({"body": "Hello", "to": "whatsapp:+44 7700 900123"}, 21211),
])
def test_twilio_refuses_what_it_cannot_send(fake_twilio, kwargs, code):
    """The fake answers these with 400 at once, as Twilio does; nothing is delivered."""
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=BuddyTwilioHttpClient(fake_twilio.url))
    kwargs = {"to": "whatsapp:+447400123456", "from_": "whatsapp:+14155238886", **kwargs}
    with pytest.raises(TwilioRestException) as refused:
        client.messages.create(**kwargs)
    assert (refused.value.status, refused.value.code) == (400, code)
    assert fake_twilio.accepted() == [] and fake_twilio.callbacks == []


def test_a_known_template_with_its_variables_is_delivered(fake_twilio):
    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=BuddyTwilioHttpClient(fake_twilio.url))
    sent = client.messages.create(to="whatsapp:+447400123456", from_="whatsapp:+14155238886",
                                  content_sid=CHECKIN, status_callback="http://localhost/s/1",
                                  content_variables=json.dumps({"1": "Sam", "2": "a week in"}))
    assert sent.status == "queued"
    [request] = fake_twilio.delivered()
    assert request["ContentSid"] == CHECKIN and "Body" not in request
    assert fake_twilio.callbacks[0]["form"]["MessageStatus"] == "delivered"
