"""The fake Twilio behaves like the real one where the fault drills depend on it."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from buddy.messaging.fakes import FakeTwilio


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
