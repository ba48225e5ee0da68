"""Signed, expiring links in messages: email confirmation, one-click check-in answers,
answers to a family's six-month question and a member's new email address."""

from __future__ import annotations

import re

from flask import current_app
from itsdangerous import (
    BadSignature,
    SignatureExpired,
    Signer,
    TimestampSigner,
    URLSafeTimedSerializer,
)

from buddy import clock

CONFIRM = "buddy.confirm-email"
CHECKIN = "buddy.checkin-answer"
FAMILY = "buddy.family-answer"
# A newcomer of an earlier intake invited to volunteer; a volunteer asked about an intake.
VOLUNTEER = "buddy.volunteer-invite"
AVAILABILITY = "buddy.availability"
# A member's new email address, sent to that address: it changes only when this is opened.
EMAIL_CHANGE = "buddy.email-change"
# A person on a region's trainee list, invited to join (buddy/services/invitations.py).
INVITATION = "buddy.invitation"
INVITATION_DAYS = 60
# One person's one survey (buddy/services/surveys.py): a short token that carries its own
# last day (link_days after the message is due), checked by the survey service.
SURVEY = "buddy.survey"
_MAX_DAYS_SETTING = {CONFIRM: "BUDDY_CONFIRM_LINK_DAYS", CHECKIN: "BUDDY_CHECKIN_LINK_DAYS"}
# Lifetimes of links with no setting: an invitation to volunteer stays open two months; an
# availability question is asked 70 days before its intake and may be answered until it starts.
# A new email address is confirmed within a day: the request was made signed in, just now.
# An invitation link works for two months after it was sent (each reminder sends a new one).
_FIXED_DAYS = {VOLUNTEER: 60, AVAILABILITY: 75, EMAIL_CHANGE: 1,
               INVITATION: INVITATION_DAYS}
# A family answer link is refused once the family's question has closed (services/endings.py);
# this outer limit only stops a very old link from being read at all.
FAMILY_LINK_DAYS = 90


class _ClockSigner(TimestampSigner):
    """Stamps and checks links with the app's clock, so BUDDY_NOW ages them too."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


class BadLink(Exception):
    """The link is tampered with or expired; the message says which, in plain words."""


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt,
                                  signer=_ClockSigner)


def sign(salt: str, payload: dict) -> str:
    """A URL-safe token for `payload`, valid for the purpose `salt` only."""
    return _serializer(salt).dumps(payload)


def verify(salt: str, token: str) -> dict:
    """The payload of a valid, unexpired token.

    :raises BadLink: when expired or not signed by us for this purpose.
    """
    try:
        payload = _serializer(salt).loads(token, max_age=_max_age(salt))
    except SignatureExpired:
        raise BadLink("This link has expired") from None
    except BadSignature:
        raise BadLink("This link is not valid") from None
    if not isinstance(payload, dict):
        raise BadLink("This link is not valid")
    return payload


# A short token holds plain values joined by this; no value may contain it. A link in a text
# message must be short: a JSON payload in base64 made the six-month text three SMS segments.
# (The signer splits the signature off the right, so dots inside are safe; "~" would cost two
# characters of an SMS: it is outside the GSM alphabet's basic set.)
FIELD_SEP = "."
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")


def sign_fields(salt: str, fields: list[str]) -> str:
    """A short URL-safe token for a few plain values (letters, digits, "-", "_"), valid for
    the purpose `salt` only.

    It holds no signing time: the same values always make the same token, so a queued
    message that carries it stays the same when its person is re-planned (a signing time
    would change it, and rewrite the message, on every profile save). The values must
    therefore carry their own last day, which the caller checks.
    """
    if not all(_PLAIN.fullmatch(value) for value in fields):
        raise ValueError(f"a short token holds only plain values, not {fields!r}")
    return _field_signer(salt).sign(FIELD_SEP.join(fields)).decode("ascii")


def verify_fields(salt: str, token: str) -> list[str]:
    """The values of a short token signed by us for `salt`; the caller checks their expiry.

    :raises BadLink: when tampered with or signed for another purpose.
    """
    try:
        value = _field_signer(salt).unsign(token)
    except BadSignature:
        raise BadLink("This link is not valid") from None
    return value.decode("ascii", errors="replace").split(FIELD_SEP)


def _field_signer(salt: str) -> Signer:
    return Signer(current_app.config["SECRET_KEY"], salt=salt)


def _max_age(salt: str) -> int:
    days = (FAMILY_LINK_DAYS if salt == FAMILY else _FIXED_DAYS[salt] if salt in _FIXED_DAYS
            else int(current_app.config[_MAX_DAYS_SETTING[salt]]))
    return days * 86400
