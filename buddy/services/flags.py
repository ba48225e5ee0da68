"""The DA lead's flags queue: people who asked for help, replied unclearly, or were not reached."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from buddy import scoping
from buddy.messaging.models import CheckIn, Flag, InboundMessage
from buddy.messaging.replies import meaning_of
from buddy.models import Person, User, utcnow
from buddy.services import NotFound, ServiceError, audit
from buddy.statuses import FlagStatus
from buddy.text import clean_note

# An action a lead takes on a flag, and the status it leaves the flag in.
ACTIONS = {"contacted": FlagStatus.CONTACTED, "resolved": FlagStatus.RESOLVED,
           "reopen": FlagStatus.OPEN}
REASONS = {
    "asked_for_call": "Asked for a call",
    "unclear_reply": "Replied, but we could not tell what they meant",
    "help": "Asked for help",
    "message_failed": "A message to them could not be delivered",
}
# What each reply Buddy understands means (every code buddy.messaging.replies.meaning_of
# returns), in the words of the message that asked: a lead should not need to know that
# "2" answers a check-in.
REPLY_MEANINGS = {
    "ok": "All is going well (the check-in's answer 1)",
    "call": "They would like a call from you (the check-in's answer 2)",
    "carry_on": "They want their buddy family to carry on (CARRY)",
    "finish": "They want their buddy family to finish (FINISH)",
    "available": "They can buddy for the next intake (AVAILABLE)",
    "not_available": "They cannot buddy for the next intake (NOT AVAILABLE)",
    "stop": "They want no more text messages (STOP)",
    "start": "They want text messages again (START)",
    "help": "They asked for help",
    "unclear": "Not one of the replies Buddy understands: read what they wrote",
}
# Why a reply that Buddy understood still became a flag: it had nothing to answer.
UNANSWERED = {
    "carry_on": "No question about their family was waiting for this answer.",
    "finish": "No question about their family was waiting for this answer.",
    "available": "Buddy could not record it: no question about the next intake was open.",
    "not_available": "Buddy could not record it: no question about the next intake was open.",
}
# The one-click answers in a check-in email come in on this channel.
LINK_CHANNEL = "email"
BY = {"sms": "text message", "whatsapp": "WhatsApp", "email": "email"}


@dataclass(frozen=True)
class Reply:
    """What a flagged person said, and what it means, for the lead reading the flag."""

    text: str | None  # their own words, as they wrote them (None: they clicked a link)
    meaning: str
    note: str | None  # why Buddy could not act on a reply it understood
    how: str | None  # "By text message, 4 Nov 2026" or "By the link in the check-in email"
    check_in_day: int | None


def reply(session: Session, flag: Flag) -> Reply | None:
    """What the person wrote and what it means; None for a flag that is no reply (a message
    to them that failed)."""
    if flag.reason == "message_failed":
        return None
    check_in = session.get(CheckIn, flag.check_in_id) if flag.check_in_id else None
    inbound = select(InboundMessage).where(InboundMessage.person_id == flag.person_id)
    if check_in is not None:
        inbound = inbound.where(InboundMessage.check_in_id == check_in.id)
    else:
        inbound = inbound.where(InboundMessage.body == flag.text,
                                InboundMessage.received_at <= flag.created_at)
    text_in = session.exec(inbound.order_by(InboundMessage.received_at.desc(),
                                            InboundMessage.id.desc())).first()
    by_link = check_in is not None and text_in is None and (
        check_in.answer_channel == LINK_CHANNEL)
    # A check-in answered with the link stores a description, not words the person wrote.
    text = None if by_link else (text_in.body if text_in else flag.text) or None
    if flag.reason == "asked_for_call":
        code = "call"
    elif flag.reason == "help":
        code = "help"
    else:
        code = meaning_of(text or "")
    if by_link:
        how = "By the link in the check-in email"
        if check_in.answered_at:
            how += f", {check_in.answered_at:%-d %b %Y}"
    elif text_in is not None:
        how = f"By {BY.get(text_in.channel, text_in.channel)}, {text_in.received_at:%-d %b %Y}"
    elif check_in is not None and check_in.answer_channel:
        how = f"By {BY.get(check_in.answer_channel, check_in.answer_channel)}"
    elif flag.reason == "help":
        how = "On the help page of the Buddy website"
    else:
        how = None
    return Reply(text=text, meaning=REPLY_MEANINGS[code], note=UNANSWERED.get(code), how=how,
                 check_in_day=check_in.day if check_in else None)


def queue(session: Session, lead: User, region: str, *, status: str = FlagStatus.OPEN,
          limit: int | None = None) -> list[tuple[Flag, Person]]:
    """Flags of the region with this status, oldest first (the first `limit` of them).

    :raises NotFound: for a region outside the lead's.
    """
    scoping.check_region(lead, region)
    return list(session.exec(
        select(Flag, Person).join(Person, Person.id == Flag.person_id)
        .where(Flag.region == region, Flag.status == status)
        .order_by(Flag.created_at, Flag.id).limit(limit)).all())


def get(session: Session, lead: User, flag_id: int) -> tuple[Flag, Person]:
    """A flag the lead may see.

    :raises NotFound: when missing or of another region.
    """
    row = session.exec(select(Flag, Person).join(Person, Person.id == Flag.person_id)
                       .where(Flag.id == flag_id)).first()
    if row is None:
        raise NotFound()
    scoping.check_region(lead, row[0].region)
    return row


def colleagues(session: Session, region: str) -> list[User]:
    """Who a flag can be assigned to: the region's leads and the admins."""
    return list(session.exec(select(User).where(
        (User.role == "admin") | ((User.role == "lead") & (User.region == region)))
        .order_by(User.full_name)).all())


def act(session: Session, *, lead: User, flag_id: int, action: str | None = None,
        note: str | None = None, assign_to: int | None = None) -> Flag:
    """Mark a flag contacted or resolved (or reopen it), add a note, assign it.

    :raises NotFound: outside the lead's region; ServiceError for a bad action or colleague.
    """
    flag, _person = get(session, lead, flag_id)
    if action is not None and action not in ACTIONS:
        raise ServiceError("Choose contacted, resolved or reopen")
    if assign_to is not None and assign_to not in {u.id for u in colleagues(session, flag.region)}:
        raise ServiceError({"assign_to": "Choose a colleague from this region"})
    # Notes keep their line breaks; like names, they may not hide or reverse text.
    note = clean_note(note, limit=2000)
    changed = {}
    if action:
        flag.status = ACTIONS[action]
        flag.handled_at, flag.handled_by = utcnow(), lead.id
        changed["status"] = flag.status
    if note:
        stamp = f"{utcnow():%d %b %Y %H:%M} {lead.full_name}: {note}"
        flag.note = f"{flag.note}\n{stamp}" if flag.note else stamp
        changed["note"] = True
    if assign_to is not None:
        flag.assigned_to = assign_to
        changed["assigned_to"] = assign_to
    if not changed:
        raise ServiceError("Nothing to change: choose an action, write a note or assign it")
    session.add(flag)
    audit.record(session, actor=lead, action="flag_updated", region=flag.region,
                 person_id=flag.person_id, detail={"flag_id": flag.id, **changed})
    session.commit()
    return flag


def ask_lead(session: Session, *, user: User, text: str | None) -> tuple[Flag, bool]:
    """A member asks their region's DA lead to contact them, from the help page: an open
    "asked for help" flag, one at a time (a second request adds its words to the first).

    Commits. Returns the flag and whether it is new.
    :raises NotFound: for an account without a membership (staff); ServiceError for text
        that hides or reverses itself, or is too long.
    """
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    if person is None or person.anonymised_at is not None:
        raise NotFound()
    text = clean_note(text, field="text", limit=1000)
    flag = session.exec(select(Flag).where(
        Flag.person_id == person.id, Flag.reason == "help", Flag.status == FlagStatus.OPEN,
        Flag.check_in_id.is_(None))).first()
    new = flag is None
    if new:
        flag = Flag(person_id=person.id, region=person.region, reason="help", text=text)
    elif text:
        flag.text = f"{flag.text}\n{text}"[:2000] if flag.text else text
    session.add(flag)
    session.flush()
    audit.record(session, actor=user, action="help_asked", region=person.region,
                 person_id=person.id, detail={"flag_id": flag.id, "new": new})
    session.commit()
    return flag, new
