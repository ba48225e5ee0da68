"""Verified phone numbers: a 6-digit code sent to the number, typed back on /account/phone.

Buddy texts, and believes replies from, a number only once its holder has typed back the
code sent to it (RELIABILITY.md item 19). Until then every message goes by email
(cadence.channel_for). Only an HMAC of the code is stored, keyed by the app's secret, the
person and the number, so a code is worth nothing for another person or a changed number;
it is single use, expires, allows a few wrong tries, and new codes are throttled.

A number has one verified owner (a partial unique index on people says so too). The latest
person to prove they hold it wins: an older verification of the same number is dropped and
audited, and that person's texts move to email until they confirm again. The most recent
proof is the one that shows who holds the phone now (numbers are recycled; a stranger must
not get someone's check-ins), and nobody can take a number without its code.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlmodel import Session, select

from buddy.messaging import cadence, outbox
from buddy.messaging.models import Message, PhoneCode
from buddy.models import Person, User, utcnow
from buddy.services import ServiceError, audit
from buddy.settings import enabled_channels
from buddy.statuses import MessageStatus

KIND = "phone_code"  # the outbox kind of the code message (WhatsApp needs a template for it)
CODE_LIFETIME = timedelta(minutes=15)
MAX_ATTEMPTS = 5  # wrong tries on one code; then a new code is needed
RESEND_AFTER = timedelta(seconds=60)  # between two codes
MAX_SENDS = 5  # codes in one SEND_WINDOW: texts cost money and can be used to pester
SEND_WINDOW = timedelta(hours=1)
REMOVED = "(code removed)"  # what a code message's body becomes once it is no use


def code_channel(person: Person) -> str | None:
    """The channel the code goes on: WhatsApp for those who chose it, else SMS; None if off."""
    enabled = enabled_channels(current_app.config)
    for channel in (person.channel, "sms", "whatsapp"):
        if channel in cadence.TWILIO_CHANNELS and channel in enabled:
            return channel
    return None


def _digest(person: Person, phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{person.id}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _retire_code_messages(session: Session, user_id: int, now: datetime) -> None:
    """Cancel code messages not yet sent and blank the code in the others.

    Called when a code is replaced or used: an older code is no use any more, and the text
    of a code need not stay in the outbox.
    """
    mine = (Message.user_id == user_id, Message.kind == KIND)
    session.execute(sa.update(Message).where(*mine, Message.status == MessageStatus.PENDING)
                    .values(status=MessageStatus.CANCELLED, updated_at=now,
                            last_error="A newer code was asked for, or the number confirmed"))
    session.execute(sa.update(Message).where(*mine, Message.status != MessageStatus.SENDING,
                                             Message.body != REMOVED)
                    .values(body=REMOVED))


def _why_not(person: Person) -> str | None:
    """Why no code can be sent to `person` now, or None."""
    if not person.phone:
        return "Add a mobile number to your details first"
    if person.sms_opted_out:
        number = current_app.config.get("TWILIO_FROM_NUMBER")
        return ("Texts to your number are stopped (STOP was sent from it), so we cannot text "
                "you a code. Text START to " + (number or "Buddy's number")
                + " from your phone first, then ask again")
    if code_channel(person) is None:
        return ("Buddy is not sending text messages at the moment, so we cannot confirm your "
                "number. We will send your messages by email")
    return None


def _issue(session: Session, person: Person, now: datetime) -> Message:
    """Queue a new code for `person` (the caller has checked _why_not); the caller commits.

    :raises ServiceError: when the last code went less than RESEND_AFTER ago or
        MAX_SENDS codes went in the current SEND_WINDOW.
    """
    row = session.exec(select(PhoneCode).where(PhoneCode.person_id == person.id)).first()
    code = f"{secrets.randbelow(10**6):06d}"
    values = dict(phone=person.phone, code_hash=_digest(person, person.phone, code),
                  expires_at=now + CODE_LIFETIME, attempts=0, sent_at=now)
    if row is None:
        session.add(PhoneCode(person_id=person.id, sends=1, window_start=now, **values))
    else:
        # A changed number gets its code at once; the hourly cap still holds.
        if row.phone == person.phone and row.sent_at > now - RESEND_AFTER:
            raise ServiceError("We sent a code less than a minute ago. Wait a minute, then "
                               "ask for a new one")
        fresh_window = row.window_start <= now - SEND_WINDOW
        if not fresh_window and row.sends >= MAX_SENDS:
            wait = math.ceil((row.window_start + SEND_WINDOW - now).total_seconds() / 60)
            raise ServiceError(f"You have asked for {MAX_SENDS} codes in the last hour. Try "
                               f"again in {wait} minute{'s' if wait > 1 else ''}")
        if fresh_window:
            values.update(sends=1, window_start=now)
        else:
            values["sends"] = PhoneCode.sends + 1
        # Compare-and-set on the time of the last code: of two requests at once, one sends.
        won = session.execute(
            sa.update(PhoneCode).where(PhoneCode.id == row.id, PhoneCode.sent_at == row.sent_at)
            .values(**values).returning(PhoneCode.id)
        ).first()
        if won is None:
            raise ServiceError("We have just sent you a code. Wait a minute, then ask for a "
                               "new one")
        session.expire(row)
    user = session.get(User, person.user_id)
    _retire_code_messages(session, user.id, now)
    channel = code_channel(person)
    text = cadence.texts()["phone_code"]
    filled = {"code": code, "minutes": int(CODE_LIFETIME.total_seconds() // 60)}
    message = outbox.enqueue(
        session, user=user, channel=channel, kind=KIND, subject=f"code:{secrets.token_hex(8)}",
        to_address=person.phone, title=text["title"].format_map(filled),
        body=text["text"].format_map(filled), due_at=now, person=person,
        expires_at=now + CODE_LIFETIME,  # a code that cannot arrive in time is not sent
    )
    return message


def phone_given(session: Session, person: Person, *, before: str | None = None) -> None:
    """After sign-up or a profile edit: a new or changed number is unverified and gets a code.

    `before` is the number before the change (None at sign-up). Writes in the caller's
    transaction and never commits; sends nothing when the number is unchanged or no code can
    go (no number, opted out, texts switched off).
    """
    if person.phone == before:
        return
    person.phone_verified_at = None
    session.add(person)
    if _why_not(person) is not None:
        return
    try:
        _issue(session, person, utcnow())
    except ServiceError:
        # Refused before writing anything: a code went moments ago (two quick saves). The
        # person asks for a new one on /account/phone.
        pass


def send_code(*, session: Session, person: Person, now: datetime | None = None) -> Message:
    """Send a new code to the person's unverified number. Commits.

    :raises ServiceError: nothing to verify, opted out, texts off, or throttled.
    """
    if person.phone and person.phone_verified_at is not None:
        raise ServiceError("Your mobile number is already confirmed")
    problem = _why_not(person)
    if problem:
        raise ServiceError(problem)
    message = _issue(session, person, now or utcnow())
    try:
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()  # the first code of two asked for at once: the other one went
        raise ServiceError("We have just sent you a code. Wait a minute, then ask for a new "
                           "one") from None
    return message


def verify_code(*, session: Session, person: Person, code: str,
                now: datetime | None = None) -> Person:
    """Mark the person's number verified when `code` is the live code for it. Commits.

    A wrong code uses up one of MAX_ATTEMPTS tries (committed before the error is raised).
    An older verification of the same number by someone else is dropped.
    :raises ServiceError: on "code": badly typed, wrong, expired, used up, or for a number
        since changed; on the form (key "") for a member with no number.
    """
    now = now or utcnow()
    # Without a number, or with one confirmed, the page shows no code box: say it above.
    if not person.phone:
        raise ServiceError({"": "Add a mobile number to your details first"})
    if person.phone_verified_at is not None:
        return person
    typed = "".join((code or "").split())
    if not (len(typed) == 6 and typed.isascii() and typed.isdigit()):
        raise ServiceError({"code": "Enter the 6-digit code from the text message, like 123456"})
    row = session.exec(select(PhoneCode).where(PhoneCode.person_id == person.id)).first()
    if row is None or row.code_hash is None:
        raise ServiceError({"code": "Ask for a new code: you have no code waiting"})
    if row.phone != person.phone:
        raise ServiceError({"code": "That code was for the number you had before. Ask for a "
                                    "new code"})
    if row.expires_at <= now:
        raise ServiceError({"code": "That code has expired. Ask for a new one"})
    # Count the try first, atomically: two tries at once both count, and neither gets more.
    tried = session.execute(
        sa.update(PhoneCode)
        .where(PhoneCode.id == row.id, PhoneCode.code_hash == row.code_hash,
               PhoneCode.attempts < MAX_ATTEMPTS)
        .values(attempts=PhoneCode.attempts + 1).returning(PhoneCode.attempts)
    ).first()
    if tried is None:
        session.rollback()
        raise ServiceError({"code": "Too many wrong codes. Ask for a new code"})
    if not hmac.compare_digest(row.code_hash, _digest(person, person.phone, typed)):
        session.commit()
        left = MAX_ATTEMPTS - tried[0]
        raise ServiceError({"code": "That code is not right. " + (
            f"You can try {left} more time{'s' if left > 1 else ''}" if left
            else "That was the last try: ask for a new code")})
    try:
        _mark_verified(session, person, row, now)
        session.commit()
    except sa.exc.IntegrityError:
        # Someone else verified this number at the same moment: the index kept one owner.
        # Their verification is the older one now; dropping it is what _mark_verified does.
        session.rollback()
        session.refresh(person)
        row = session.get(PhoneCode, row.id, populate_existing=True)
        _mark_verified(session, person, row, now)
        session.commit()
    return person


def _mark_verified(session: Session, person: Person, row: PhoneCode, now: datetime) -> None:
    others = session.exec(select(Person).where(
        Person.phone == person.phone, Person.id != person.id,
        Person.phone_verified_at.is_not(None))).all()
    for other in others:
        other.phone_verified_at = None
        other.updated_at = now
        session.add(other)
        audit.record(session, actor=None, action="phone_verification_dropped",
                     region=other.region, person_id=other.id,
                     detail={"verified_by_person": person.id})
    session.flush()  # before this person's verification, or the unique index refuses it
    for other in others:
        cadence.person_changed(session, other, others=False)  # their texts go by email
    person.phone_verified_at = now
    person.updated_at = now
    session.add(person)
    row.code_hash = None  # single use
    session.add(row)
    _retire_code_messages(session, person.user_id, now)
    audit.record(session, actor=None, action="phone_verified", region=person.region,
                 person_id=person.id,
                 detail={"replaced_owner": [o.id for o in others]} if others else None)
    cadence.person_changed(session, person, others=False)  # emails go back to texts


def status(*, session: Session, person: Person, now: datetime | None = None) -> dict:
    """What the verification page shows: verified, a live code and its channel, why not."""
    now = now or utcnow()
    row = session.exec(select(PhoneCode).where(PhoneCode.person_id == person.id)).first()
    live = (row is not None and row.code_hash is not None and row.phone == person.phone
            and row.expires_at > now and row.attempts < MAX_ATTEMPTS)
    return {
        "verified": bool(person.phone) and person.phone_verified_at is not None,
        "code_waiting": live,
        "channel": code_channel(person),
        "problem": _why_not(person),
    }
