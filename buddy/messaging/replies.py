"""What comes back: inbound texts, Twilio status callbacks, one-click answers, confirmations."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy.messaging import cadence, tokens
from buddy.messaging.dispatch import message_failed
from buddy.messaging.models import CheckIn, Flag, InboundMessage, Message
from buddy.models import Person, User, utcnow
from buddy.services import NotFound, audit, phone_verification
from buddy.statuses import (
    MAYBE_SENT_MESSAGE_STATUSES,
    PROBLEM_MESSAGE_STATUSES,
    FlagStatus,
    MessageStatus,
)
from buddy.text import without_controls

# Twilio acts on these itself and still forwards them (RELIABILITY.md, Twilio).
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
START_WORDS = {"START", "YES", "UNSTOP"}
HELP_WORDS = {"HELP", "INFO"}
# Answers to a family's six-month question: words, so never a check-in's 1 or 2, and never
# END (a Twilio STOP word).
FAMILY_WORDS = {"CARRY": "carry_on", "CARRYON": "carry_on", "FINISH": "finish"}
# Twilio message statuses in the order they happen; a status only ever moves forward.
STATUS_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 2, "sending": 3, "sent": 4,
    "delivered": 5, "undelivered": 5, "failed": 5, "read": 6,
}
DELIVERY_FAILED = {"failed", "undelivered"}


def meaning_of(body: str) -> str:
    """ok | call | carry_on | finish | available | not_available | stop | start | help | unclear,
    in any case or spacing."""
    word = re.sub(r"\s+", "", body or "").upper()
    if word in {"1", "2"}:
        return "ok" if word == "1" else "call"
    if word in FAMILY_WORDS:
        return FAMILY_WORDS[word]
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    if word.endswith("AVAILABLE") or word.startswith("AVAILABLE"):  # AVAILABLE 2, NOT AVAILABLE
        from buddy.services.confirmations import parse_reply

        parsed = parse_reply(word)
        if parsed is not None:
            return "available" if parsed[0] else "not_available"
    return "unclear"


def verified_owner(session: Session, number: str) -> Person | None:
    """The one person who has verified `number`, or None (nobody, or, were it ever so, several).

    Only that person's record may be touched by a text from the number: anyone else can type
    any number into a form (RELIABILITY.md item 19).
    """
    owners = session.exec(
        select(Person).where(Person.phone == number, Person.phone_verified_at.is_not(None))
        .limit(2)
    ).all()
    return owners[0] if len(owners) == 1 else None


def _people_with_number(session: Session, number: str) -> list[Person]:
    return list(session.exec(select(Person).where(Person.phone == number)
                             .order_by(Person.id)).all())


def _latest_check_in(session: Session, person: Person) -> CheckIn | None:
    return session.exec(
        select(CheckIn).where(CheckIn.person_id == person.id, CheckIn.sent_at.is_not(None))
        .order_by(CheckIn.sent_at.desc(), CheckIn.id.desc())
    ).first()


def raise_flag(session: Session, person: Person, reason: str, text: str = "", *,
               check_in: CheckIn | None = None) -> Flag:
    """An open flag for the region's DA lead; one per person, reason and check-in while open."""
    query = select(Flag).where(Flag.person_id == person.id, Flag.reason == reason,
                               Flag.status == FlagStatus.OPEN)
    if check_in is not None:
        existing = session.exec(query.where(Flag.check_in_id == check_in.id)).first()
        if existing is not None:
            return existing
    flag = Flag(person_id=person.id, region=person.region, reason=reason, text=text[:1000],
                check_in_id=check_in.id if check_in else None)
    session.add(flag)
    return flag


def answer_check_in(session: Session, check_in: CheckIn, person: Person, answer: str,
                    channel: str, now: datetime | None = None) -> None:
    """Record "ok" or "call" on a check-in; "call" raises a flag."""
    check_in.answer, check_in.answered_at = answer, now or utcnow()
    check_in.answer_channel = channel
    session.add(check_in)
    if answer == "call":
        raise_flag(session, person, "asked_for_call", "Asked for a call", check_in=check_in)


def receive_text(session: Session, *, sid: str, from_: str, body: str) -> InboundMessage | None:
    """Store an inbound SMS or WhatsApp message once and act on it; None when already stored.

    Commits. From the number's one verified owner: 1 and 2 answer their latest check-in; 2,
    HELP and anything unrecognised raise a flag; CARRY and FINISH answer the six-month
    question of their family (an unclear-reply flag when no question is open). From any
    other number the text waits in the admin's queue and touches nobody's record. STOP and
    START act on the number, whoever sent them: our own opt-out is set or cleared for every
    person with that number (Twilio blocks texts to it after STOP, and we must not text it
    either), and nothing else.
    Control characters (a GSM form feed, say) become spaces: the text is kept, never lost.
    """
    sid, from_, body = (without_controls(v or "") for v in (sid, from_, body))
    channel = "whatsapp" if from_.startswith("whatsapp:") else "sms"
    number = from_.removeprefix("whatsapp:")
    owner = verified_owner(session, number) if number else None
    meaning = meaning_of(body)
    inbound = InboundMessage(message_sid=sid, person_id=owner.id if owner else None,
                             channel=channel, from_address=from_[:64], body=body or "",
                             meaning=meaning)
    session.add(inbound)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        session.rollback()  # a redelivered webhook: stored the first time
        return None
    if meaning in ("stop", "start"):
        for person in _people_with_number(session, number) if number else []:
            set_opt_out(session, person, meaning == "stop")
        if meaning == "stop" and number:
            from buddy.services import invitations

            invitations.texts_stopped(session, number=number)
    elif owner is not None:
        check_in = _latest_check_in(session, owner)
        if meaning in ("carry_on", "finish"):
            _answer_family(session, owner, meaning, channel, body)
        elif meaning in ("available", "not_available"):
            from buddy.services import confirmations

            if not confirmations.answer_by_text(session, owner, body, channel):
                raise_flag(session, owner, "unclear_reply", body, check_in=None)
        elif meaning in ("ok", "call") and check_in is not None:
            inbound.check_in_id = check_in.id
            answer_check_in(session, check_in, owner, meaning, channel)
        elif meaning == "call":
            raise_flag(session, owner, "asked_for_call", body)
        elif meaning == "help":
            raise_flag(session, owner, "help", body)
        elif meaning == "unclear":
            raise_flag(session, owner, "unclear_reply", body, check_in=None)
    session.commit()
    return inbound


def _answer_family(session: Session, owner: Person, answer: str, channel: str,
                   body: str) -> None:
    from buddy.services import ServiceError, endings

    family = endings.open_question_for(session, owner)
    if family is None:
        raise_flag(session, owner, "unclear_reply", body)
        return
    try:
        endings.record_answer(session, family, owner, answer, channel)
    except ServiceError:
        raise_flag(session, owner, "unclear_reply", body)


def reply_queue(session: Session, *, handled: bool = False,
                limit: int = 200) -> list[tuple[InboundMessage, int, int]]:
    """Texts from numbers without one verified owner, oldest first (handled: newest first).

    Each with how many people have the number and how many of them verified it.
    """
    query = select(InboundMessage).where(InboundMessage.person_id.is_(None)).limit(limit)
    if handled:
        query = query.where(InboundMessage.handled_at.is_not(None)).order_by(
            InboundMessage.handled_at.desc(), InboundMessage.id.desc())
    else:
        query = query.where(InboundMessage.handled_at.is_(None)).order_by(
            InboundMessage.received_at, InboundMessage.id)
    items = list(session.exec(query).all())
    numbers = {m.from_address.removeprefix("whatsapp:") for m in items}
    holders: dict[str, tuple[int, int]] = {}
    if numbers:
        for phone, count, verified in session.execute(
            select(Person.phone, sa.func.count(), sa.func.count(Person.phone_verified_at))
            .where(Person.phone.in_(numbers)).group_by(Person.phone)
        ):
            holders[phone] = (count, verified)
    return [(m, *holders.get(m.from_address.removeprefix("whatsapp:"), (0, 0))) for m in items]


def mark_reply_handled(session: Session, *, reply_id: int, actor: User) -> InboundMessage:
    """Take a queued text off the admin's queue. Commits.

    :raises NotFound: no such text, or one that went to its sender's record (not queued).
    """
    inbound = session.get(InboundMessage, reply_id)
    if inbound is None or inbound.person_id is not None:
        raise NotFound()
    if inbound.handled_at is None:
        inbound.handled_at, inbound.handled_by = utcnow(), actor.id
        session.add(inbound)
        audit.record(session, actor=actor, action="reply_handled",
                     detail={"inbound_id": inbound.id})
        session.commit()
    return inbound


def set_opt_out(session: Session, person: Person, opted_out: bool) -> None:
    """Keep our own opt-out flag and move pending texts to email (or back)."""
    if person.sms_opted_out == opted_out:
        return
    person.sms_opted_out = opted_out
    person.updated_at = utcnow()
    session.add(person)
    audit.record(session, actor=None, action="texts_stopped" if opted_out else "texts_started",
                 region=person.region, person_id=person.id)
    if opted_out:
        # A code still waiting would go to a number that said STOP (and fail with 21610).
        session.execute(
            sa.update(Message).where(Message.person_id == person.id,
                                     Message.kind == phone_verification.KIND,
                                     Message.status == MessageStatus.PENDING)
            .values(status=MessageStatus.CANCELLED, updated_at=utcnow(),
                    last_error="Opted out of texts")
        )
    cadence.person_changed(session, person)


def status_callback(session: Session, *, message_id: int, sid: str, status: str,
                    error_code: str | None) -> None:
    """Apply a Twilio status callback: statuses only move forward; settles uncertain rows.

    Commits. A callback for another MessageSid than the one stored is ignored.
    """
    message = session.get(Message, message_id)
    sid, status = without_controls(sid or ""), (status or "").lower()
    if message is None or status not in STATUS_RANK:
        return
    if message.provider_id not in (None, sid):
        return
    if message.provider_id is None:
        if session.exec(select(Message.id).where(Message.provider_id == sid)).first():
            return
        message.provider_id = sid
    now = utcnow()
    if STATUS_RANK[status] > STATUS_RANK.get(message.provider_status or "", 0):
        message.provider_status = status
    settled = message.provider_status
    if settled in DELIVERY_FAILED:
        if message.status in MAYBE_SENT_MESSAGE_STATUSES:
            message.status = MessageStatus.FAILED
            message.error_code = error_code or message.error_code
            message.last_error = f"Twilio reports {settled}" + (
                f" (error {error_code})" if error_code else "")
            person = session.get(Person, message.person_id) if message.person_id else None
            if person is not None:
                session.add(message)
                message_failed(session, message, person, code=error_code,
                               error=message.last_error, now=now)
    elif message.status == MessageStatus.UNCERTAIN:
        # Twilio has it after all: the uncertain row was in fact sent.
        message.status, message.sent_at = MessageStatus.SENT, message.sent_at or now
        message.last_error = None
    message.updated_at = now
    session.add(message)
    session.commit()


def answer_by_link(session: Session, token: str, answer_override: str | None = None) -> tuple[
        CheckIn, Person, str]:
    """Check the one-click link and return its check-in, person and answer (no write).

    :raises tokens.BadLink: expired, tampered, or for another person.
    """
    payload = tokens.verify(tokens.CHECKIN, token)
    check_in = session.get(CheckIn, payload.get("c"))
    if check_in is None or check_in.person_id != payload.get("p") or payload.get("a") not in (
            "ok", "call"):
        raise tokens.BadLink("This link is not valid")
    person = session.get(Person, check_in.person_id)
    if person is None:
        raise tokens.BadLink("This link is not valid")
    return check_in, person, payload["a"]


def confirm_email(session: Session, token: str) -> Person:
    """Mark the person's email address confirmed and release the emails waiting for it.

    Commits. :raises tokens.BadLink: expired, tampered, or for an address since changed.
    """
    payload = tokens.verify(tokens.CONFIRM, token)
    person = session.get(Person, payload.get("p"))
    user = session.get(User, person.user_id) if person else None
    if user is None or user.email != payload.get("e"):
        raise tokens.BadLink("This link is not valid")
    if person.email_confirmed_at is None:
        now = utcnow()
        person.email_confirmed_at = now
        session.add(person)
        session.execute(
            sa.update(Message)
            .where(Message.user_id == user.id, Message.channel == "email",
                   Message.status == MessageStatus.PENDING)
            .values(next_attempt_at=None, updated_at=now)
        )
        audit.record(session, actor=None, action="email_confirmed", region=person.region,
                     person_id=person.id)
        session.commit()
    return person


def problems(session: Session, regions: list[str] | None) -> list[tuple[Message, Person | None]]:
    """Failed and uncertain messages (newest first) in `regions` (None: all)."""
    query = (
        select(Message, Person).join(Person, Person.id == Message.person_id, isouter=True)
        .where(Message.status.in_(PROBLEM_MESSAGE_STATUSES))
        .order_by(Message.updated_at.desc()).limit(500)
    )
    if regions is not None:
        query = query.where(Message.region.in_(regions))
    return list(session.exec(query).all())


def outbox_log(session: Session, regions: list[str] | None, limit: int = 200) -> list[Message]:
    """The latest messages, what was (or would have been) sent, newest first."""
    query = select(Message).order_by(Message.id.desc()).limit(limit)
    if regions is not None:
        query = query.where(Message.region.in_(regions))
    return list(session.exec(query).all())
