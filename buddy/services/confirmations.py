"""Volunteers confirm before each intake's match that they can buddy again, and for how many.

The rules (README.md, "The programme year"):
- `confirm_days_before` days before an intake starts (config/programme.toml), every approved,
  active volunteer (buddy or ambassador) of the region is asked once for that intake (outbox
  subject "confirm:YYYY-MM"): by email with a signed link to a small form, by text with the
  same link and the reply words AVAILABLE <number> or NOT AVAILABLE. Volunteers approved
  later are asked when they are (the daily job catches up until the intake starts).
- A volunteer who joined on or after the asking day has just told us their capacity: they
  count as confirmed (channel "signup"); so does a newcomer who became a volunteer then.
- One reminder 7 days before the intake starts, to those asked at least a day before it who
  have not answered. Nobody is asked after the intake has started.
- The latest answer counts (one row per volunteer and intake). A yes sets their capacity.
- Nobody who did not confirm is put in a family (buddy/services/cohorts.py reads the rows);
  nobody is deleted or paused for not answering. The lead sees who has not answered and may
  record an answer for a volunteer (audited).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import clock, intakes, reference, scoping, states
from buddy.links import public_url
from buddy.messaging import cadence, outbox, tokens
from buddy.messaging.models import Message
from buddy.models import Person, User, VolunteerConfirmation, utcnow
from buddy.services import NotFound, ServiceError, audit
from buddy.services.profiles import MAX_CAPACITY
from buddy.statuses import MessageStatus

ASK_KIND, REMINDER_KIND = "availability_ask", "availability_reminder"
REMINDER_DAYS_BEFORE = 7
CHANNELS = ("email", "sms", "whatsapp", "web", "lead", "signup")
# Reply words: none is a check-in answer (1, 2), a Twilio word (STOP, START, YES, HELP...) or
# a six-month answer (CARRY, FINISH). Spaces are ignored: "available 2" is AVAILABLE2.
_YES = re.compile(r"^AVAILABLE([0-9]{1,2})?$")
_NO = re.compile(r"^(NOT|UN)AVAILABLE$")


def parse_reply(body: str) -> tuple[bool, int | None] | None:
    """(available, capacity or None) for a reply such as "available 2" or "not available";
    None when it is not one (a capacity outside 1-4 included)."""
    word = re.sub(r"\s+", "", body or "").upper()
    if _NO.match(word):
        return False, None
    match = _YES.match(word)
    if not match:
        return None
    capacity = int(match.group(1)) if match.group(1) else None
    if capacity is not None and not 1 <= capacity <= MAX_CAPACITY:
        return None
    return True, capacity


def subject(intake: str) -> str:
    return f"confirm:{intake}"


def upcoming(today: date, region: str | None) -> str:
    """The first intake of `region` that starts after `today`."""
    months = intakes.programme(region).intake_months
    first = min(date(y, m, 1) for y in (today.year, today.year + 1) for m in months
                if date(y, m, 1) > today)
    return f"{first.year}-{first.month:02d}"


def ask_day(intake: str, region: str | None) -> date:
    """The day volunteers are first asked about `intake`."""
    return intakes.start(intake) - timedelta(days=intakes.programme(region).confirm_days_before)


def asking(today: date, region: str | None) -> str | None:
    """The intake volunteers of `region` are being asked about on `today`, if any."""
    intake = upcoming(today, region)
    return intake if today >= ask_day(intake, region) else None


def _england_day(moment: datetime) -> date:
    return moment.astimezone(clock.ENGLAND).date()


def _volunteers(session: Session, region: str) -> list[Person]:
    return list(session.exec(
        select(Person).where(Person.region == region, Person.role.in_(states.VOLUNTEER_ROLES),
                             states.matchable(), Person.anonymised_at.is_(None))
        .order_by(Person.id)
    ).all())


def answer_link(person: Person, intake: str) -> str:
    return public_url("programme.availability_by_link",
                      token=tokens.sign(tokens.AVAILABILITY, {"p": person.id, "i": intake}))


def _queue(session: Session, person: Person, intake: str, kind: str, now: datetime) -> None:
    user = session.get(User, person.user_id)
    channel = cadence.channel_for(person)
    title, body = cadence.compose(kind, person=person, channel=channel, values={
        "intake": intakes.label(intake), "link": answer_link(person, intake)})
    outbox.enqueue(session, user=user, channel=channel, kind=kind, subject=subject(intake),
                   to_address=cadence.address_for(person, user, channel),
                   title=title, body=body,
                   due_at=now, person=person, timezone=person.timezone,
                   expires_at=cadence.local_moment(intakes.start(intake), time(0), "Europe/London"))


def daily(session: Session, *, now: datetime) -> dict[str, int]:
    """Ask, remind, and count new volunteers as confirmed, for intakes being asked about.

    Idempotent: one question and at most one reminder per volunteer and intake (any
    channel); commits per region.
    """
    today = _england_day(now)
    counts = {"availability_asked": 0, "availability_reminded": 0, "availability_on_joining": 0}
    for region in reference.regions():
        intake = asking(today, region)
        if intake is None:
            continue
        people = _volunteers(session, region)
        if not people:
            continue
        answered = set(session.exec(select(VolunteerConfirmation.person_id).where(
            VolunteerConfirmation.intake == intake,
            VolunteerConfirmation.person_id.in_([p.id for p in people]))))
        sent: dict[tuple[int, str], datetime] = {}
        for user_id, kind, created in session.exec(
                select(Message.user_id, Message.kind, Message.created_at).where(
                    Message.kind.in_((ASK_KIND, REMINDER_KIND)),
                    Message.subject == subject(intake), Message.status != MessageStatus.CANCELLED,
                    Message.user_id.in_([p.user_id for p in people]))):
            sent[(user_id, kind)] = min(created, sent.get((user_id, kind), created))
        asked_on = ask_day(intake, region)
        remind_on = intakes.start(intake) - timedelta(days=REMINDER_DAYS_BEFORE)
        for person in people:
            if person.id in answered:
                continue
            if _england_day(person.created_at) >= asked_on:
                _record(session, person, intake, True, person.capacity, "signup", now)
                counts["availability_on_joining"] += 1
            elif (person.user_id, ASK_KIND) not in sent:
                _queue(session, person, intake, ASK_KIND, now)
                counts["availability_asked"] += 1
            elif (today >= remind_on and (person.user_id, REMINDER_KIND) not in sent
                  and _england_day(sent[(person.user_id, ASK_KIND)]) < remind_on):
                _queue(session, person, intake, REMINDER_KIND, now)
                counts["availability_reminded"] += 1
        session.commit()
    return counts


def _record(session: Session, person: Person, intake: str, available: bool,
            capacity: int | None, channel: str, now: datetime) -> VolunteerConfirmation:
    """Store the answer (the latest counts) in the caller's transaction."""
    if available:
        capacity = capacity or person.capacity or 1
        person.capacity = capacity
        session.add(person)
    else:
        capacity = None
    values = dict(available=available, capacity=capacity, channel=channel, answered_at=now)
    row = current_answer(session, person, intake)
    if row is None:
        try:
            # Two answers at once (a reply and a click): the second updates the first.
            with session.begin_nested():
                row = VolunteerConfirmation(person_id=person.id, intake=intake, **values)
                session.add(row)
                session.flush()
        except sa.exc.IntegrityError:
            row = current_answer(session, person, intake)
    for key, value in values.items():
        setattr(row, key, value)
    session.add(row)
    # Answered: the reminder, if still waiting, is not sent.
    session.execute(
        sa.update(Message).where(Message.person_id == person.id, Message.kind == REMINDER_KIND,
                                 Message.subject == subject(intake),
                                 Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.CANCELLED, updated_at=now))
    return row


def _check(available: object, capacity: object) -> tuple[bool, int | None]:
    if available not in ("yes", "no", True, False):
        raise ServiceError({"available": "Choose yes or no"})
    yes = available in ("yes", True)
    if isinstance(capacity, str):
        capacity = int(capacity) if capacity.isascii() and capacity.isdigit() else -1
    if yes and (not isinstance(capacity, int) or not 1 <= capacity <= MAX_CAPACITY):
        raise ServiceError({"capacity": f"Choose how many newcomers you can support, from 1 "
                                        f"to {MAX_CAPACITY}"})
    return yes, capacity if yes else None


def _open(intake: str, today: date) -> None:
    if today >= intakes.start(intake):
        raise ServiceError(f"The {intakes.label(intake)} intake has started: your region's "
                           f"team will ask you before the next one")


def answer(session: Session, person: Person, intake: str, *, available: object,
           capacity: object, channel: str) -> VolunteerConfirmation:
    """The volunteer's own answer (link or account page). Commits.

    :raises ServiceError: no choice, a capacity outside 1-4, or an intake already started.
    """
    if person.role not in states.VOLUNTEER_ROLES:
        raise ServiceError("Only volunteers are asked about intakes")
    _open(intake, clock.today())
    yes, capacity = _check(available, capacity)
    row = _record(session, person, intake, yes, capacity, channel, utcnow())
    audit.record(session, actor=None, action="availability_answered", region=person.region,
                 person_id=person.id, detail={"intake": intake, "available": yes,
                                              "capacity": capacity, "channel": channel})
    session.commit()
    return row


def answer_by_text(session: Session, person: Person, body: str, channel: str) -> bool:
    """Record a reply word from the number's verified owner, for the latest intake they were
    asked about that has not started; False when there is none (the caller flags it).

    Does not commit (receive_text does).
    """
    parsed = parse_reply(body)
    if parsed is None or person.role not in states.VOLUNTEER_ROLES:
        return False
    today = clock.today()
    asked = session.exec(select(Message.subject).where(
        Message.person_id == person.id, Message.kind == ASK_KIND).order_by(
        Message.created_at.desc(), Message.id.desc())).all()
    intake = next((s.removeprefix("confirm:") for s in asked
                   if intakes.start(s.removeprefix("confirm:")) > today), None)
    if intake is None:
        return False
    available, capacity = parsed
    _record(session, person, intake, available, capacity, channel, utcnow())
    audit.record(session, actor=None, action="availability_answered", region=person.region,
                 person_id=person.id, detail={"intake": intake, "available": available,
                                              "capacity": person.capacity if available else None,
                                              "channel": channel})
    return True


def record_for(session: Session, *, lead: User, person_id: int, intake: str,
               available: object, capacity: object) -> VolunteerConfirmation:
    """A lead records a volunteer's answer given another way (by phone, in person). Commits.

    :raises NotFound: outside the lead's region or not a volunteer; ServiceError: bad fields.
    """
    person = scoping.person_for(session, lead, person_id)
    if person.role not in states.VOLUNTEER_ROLES:
        raise NotFound()
    # No date check: a lead may still match an intake that began (late sign-ups).
    intake = intakes.parse(intake, person.region)
    yes, capacity = _check(available, capacity)
    row = _record(session, person, intake, yes, capacity, "lead", utcnow())
    audit.record(session, actor=lead, action="availability_recorded", region=person.region,
                 person_id=person.id, detail={"intake": intake, "available": yes,
                                              "capacity": capacity})
    session.commit()
    return row


def answered_on_joining(session: Session, person: Person, *, now: datetime) -> None:
    """A new volunteer's capacity answers the intake being asked about now, if any."""
    intake = asking(_england_day(now), person.region)
    if intake is not None:
        _record(session, person, intake, True, person.capacity, "signup", now)


def overview(session: Session, *, lead: User, region: str) -> dict:
    """For the lead's volunteers page: the next intake, who has not answered, who said no."""
    intake = intakes.next_intake(clock.today(), region)
    people = [p for p in _volunteers(session, scoping.check_region(lead, region))]
    rows = {r.person_id: r for r in session.exec(select(VolunteerConfirmation).where(
        VolunteerConfirmation.intake == intake,
        VolunteerConfirmation.person_id.in_([p.id for p in people] or [-1])))}
    emails = dict(session.exec(select(User.id, User.email).where(
        User.id.in_([p.user_id for p in people] or [-1]))).all())
    waiting = [(p, emails.get(p.user_id)) for p in people if p.id not in rows]
    unavailable = [(p, emails.get(p.user_id)) for p in people
                   if p.id in rows and not rows[p.id].available]
    return {"intake": intake, "label": intakes.label(intake),
            "asked": clock.today() >= ask_day(intake, region),
            "ask_day": ask_day(intake, region),
            "confirmed": sum(1 for r in rows.values() if r.available),
            "waiting": waiting, "unavailable": unavailable}


def current_answer(session: Session, person: Person, intake: str) -> VolunteerConfirmation | None:
    return session.exec(select(VolunteerConfirmation).where(
        VolunteerConfirmation.person_id == person.id,
        VolunteerConfirmation.intake == intake)).first()


def by_link(session: Session, token: str) -> tuple[Person, str]:
    """The volunteer and intake of an availability link.

    :raises tokens.BadLink: expired, tampered, or for someone no longer a volunteer.
    """
    payload = tokens.verify(tokens.AVAILABILITY, token)
    person = session.get(Person, payload.get("p"))
    intake = payload.get("i")
    if person is None or not isinstance(intake, str) or person.anonymised_at is not None:
        raise tokens.BadLink("This link is not valid")
    try:
        intakes.parse(intake, person.region)
    except intakes.BadIntake:
        raise tokens.BadLink("This link is not valid") from None
    return person, intake
