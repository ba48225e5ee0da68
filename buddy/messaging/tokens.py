"""Signed, expiring links in messages: email confirmation and one-click check-in answers."""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CONFIRM = "buddy.confirm-email"
CHECKIN = "buddy.checkin-answer"
_MAX_DAYS_SETTING = {CONFIRM: "BUDDY_CONFIRM_LINK_DAYS", CHECKIN: "BUDDY_CHECKIN_LINK_DAYS"}


class BadLink(Exception):
    """The link is tampered with or expired; the message says which, in plain words."""


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def sign(salt: str, payload: dict) -> str:
    """A URL-safe token for `payload`, valid for the purpose `salt` only."""
    return _serializer(salt).dumps(payload)


def verify(salt: str, token: str) -> dict:
    """The payload of a valid, unexpired token.

    :raises BadLink: when expired or not signed by us for this purpose.
    """
    max_age = int(current_app.config[_MAX_DAYS_SETTING[salt]]) * 86400
    try:
        payload = _serializer(salt).loads(token, max_age=max_age)
    except SignatureExpired:
        raise BadLink("This link has expired") from None
    except BadSignature:
        raise BadLink("This link is not valid") from None
    if not isinstance(payload, dict):
        raise BadLink("This link is not valid")
    return payload
