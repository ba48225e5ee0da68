"""Families that end: the six-month question, its answers, and the daily decision.

The rule (README.md, "The programme year"):
- A published family is asked once whether to carry on, on its question day: the last
  newcomer's arrival + `close_days` (config/messages.toml; the publication day when no
  newcomer has an arrival date). Answers count until the question closes, `close_expire_days`
  later. A member's latest answer counts (one FamilyAnswer per family and person).
- When the question has closed, the family carries on while its anchor and at least one
  newcomer answered "carry on": it then runs until `carry_on_limit` (config/programme.toml
  `carry_on_until`, by default the next training-year change after the question day) and ends
  that day. Otherwise it ends when the question closes.
- A lead may end a running family at once, or extend it to a date up to a year after the
  next training-year change, with a reason. Every decision is audited and happens once.
- An ended family keeps its members (history) but gets no messages, is not locked in runs and
  takes nobody's capacity: everything that plans or counts families reads `published` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import clock, intakes
from buddy.links import public_url
from buddy.messaging import cadence, tokens
from buddy.models import Family, FamilyAnswer, FamilyMember, Person, User
from buddy.services import NotFound, ServiceError, audit
from buddy.services.members import members_of
from buddy.statuses import MATCHED_FAMILY_STATUSES, FamilyStatus

CARRY_ON, FINISH = "carry_on", "finish"
ANSWERS = (CARRY_ON, FINISH)
CHOSE_TO_FINISH = "Its members chose to finish"
NOT_BOTH = "Its anchor and a newcomer did not both choose to carry on"
NOBODY_ANSWERED = "Nobody answered the six-month question"
YEAR_END = "It reached the end of the training year"
LEAD_DATE = "It reached the date its DA lead set"
MAX_REASON = 200


@dataclass(frozen=True)
class Question:
    """When a family is asked, and the day its answers stop counting."""

    asked_on: date
    closes_on: date


def england_day(moment: datetime) -> date:
    return moment.astimezone(clock.ENGLAND).date()


def question_of(family: Family, members: list[tuple[Person, str]]) -> Question:
    """The family's six-month question: last newcomer's arrival + close_days."""
    c = cadence.cadence_for(family.region)
    arrivals = [p.arrival_date for p, place in members
                if place == "newcomer" and p.arrival_date is not None]
    base = max(arrivals) if arrivals else england_day(family.published_at or clock.now())
    asked = base + timedelta(days=c.close_days)
    return Question(asked, asked + timedelta(days=c.close_expire_days))


def carry_on_limit(region: str | None, asked_on: date) -> date:
    """The day a family that chose to carry on ends (config/programme.toml carry_on_until).

    "training_year_change" (the default) is the next change after the question; a whole
    number is that many days after the question.
    """
    setting = str(intakes.programme(region).carry_on_until).strip()
    if setting == "training_year_change":
        return intakes.next_training_year_change(asked_on, region)
    if setting.isdigit():
        return asked_on + timedelta(days=int(setting))
    raise ValueError(f"carry_on_until in config/programme.toml must be training_year_change "
                     f"or a number of days, not {setting!r}")


def extend_limit(today: date, region: str | None) -> date:
    """The latest date a lead may extend a family to: a year after the next change."""
    nxt = intakes.next_training_year_change(today, region)
    return intakes.training_year_change(nxt.year + 1, region)


def is_open(family: Family, question: Question, today: date) -> bool:
    """True while members may answer: running, undecided, from the question day until it closes."""
    return (family.status == FamilyStatus.PUBLISHED and family.carry_on_until is None
            and question.asked_on <= today < question.closes_on)


def answers_of(session: Session, family_id: int) -> dict[int, FamilyAnswer]:
    """The answers recorded for a family, by person id."""
    rows = session.exec(select(FamilyAnswer).where(FamilyAnswer.family_id == family_id)).all()
    return {a.person_id: a for a in rows}


# --- Answers ----------------------------------------------------------------------------------

def record_answer(session: Session, family: Family, person: Person, answer: str,
                  channel: str, now: datetime | None = None) -> FamilyAnswer:
    """Record (or change) `person`'s answer for `family`; the caller commits.

    :raises ServiceError: not an answer, not a member, or the question is not open.
    """
    now = now or clock.now()
    if answer not in ANSWERS:
        raise ServiceError("Choose carry on or finish")
    members = members_of(session, family.id)
    if person.id not in {p.id for p, _ in members}:
        raise ServiceError("You are not a member of this family")
    if not is_open(family, question_of(family, members), england_day(now)):
        raise ServiceError("This family's question is closed: your answer can no longer "
                           "change what happens")
    values = {"answer": answer, "channel": channel, "answered_at": now}
    existing = session.exec(select(FamilyAnswer).where(
        FamilyAnswer.family_id == family.id, FamilyAnswer.person_id == person.id)).first()
    if existing is None:
        try:
            with session.begin_nested():  # two answers at once: the second updates the first
                existing = FamilyAnswer(family_id=family.id, person_id=person.id, **values)
                session.add(existing)
            return existing
        except sa.exc.IntegrityError:
            existing = session.exec(select(FamilyAnswer).where(
                FamilyAnswer.family_id == family.id, FamilyAnswer.person_id == person.id)).one()
    for name, value in values.items():
        setattr(existing, name, value)
    session.add(existing)
    return existing


def open_question_for(session: Session, person: Person,
                      now: datetime | None = None) -> Family | None:
    """The family whose question `person` can answer now (the latest asked), or None."""
    today = england_day(now or clock.now())
    found = None
    for family in session.exec(
        select(Family).join(FamilyMember, FamilyMember.family_id == Family.id)
        .where(FamilyMember.person_id == person.id, Family.status == FamilyStatus.PUBLISHED,
               Family.carry_on_until.is_(None))
    ).all():
        question = question_of(family, members_of(session, family.id))
        if is_open(family, question, today) and (found is None or question.asked_on > found[1]):
            found = (family, question.asked_on)
    return found[0] if found else None


def answer_links(message, person: Person) -> str:
    """The two one-click links appended to the question's email (signed when sent)."""
    kind, _, number = message.subject.partition(":")
    if kind != "family" or not number.isdigit():
        return ""  # a question queued before it was asked once per family: no links
    family_id = int(number)

    def link(answer: str) -> str:
        token = tokens.sign(tokens.FAMILY, {"f": family_id, "p": person.id, "a": answer})
        return public_url("messaging.family_answer", token=token)

    return (f"\n\nCarry on:\n{link(CARRY_ON)}\n\nFinish:\n{link(FINISH)}\n\n"
            "These links are for you only.")


def by_link(session: Session, token: str) -> tuple[Family, Person, str]:
    """The family, person and answer of a signed link (no write).

    :raises tokens.BadLink: tampered, expired, or for someone who is not a member.
    """
    payload = tokens.verify(tokens.FAMILY, token)
    family = session.get(Family, payload.get("f"))
    person = session.get(Person, payload.get("p"))
    if family is None or person is None or payload.get("a") not in ANSWERS or not any(
            p.id == person.id for p, _ in members_of(session, family.id)):
        raise tokens.BadLink("This link is not valid")
    return family, person, payload["a"]


# --- Decisions --------------------------------------------------------------------------------

def decide(family: Family, members: list[tuple[Person, str]],
           answers: dict[int, FamilyAnswer]) -> str | None:
    """None when the family carries on; else the plain reason it ends."""
    said = {p.id: answers[p.id].answer for p, _ in members if p.id in answers}
    anchor = any(said.get(p.id) == CARRY_ON for p, place in members if place == "anchor")
    newcomer = any(said.get(p.id) == CARRY_ON for p, place in members if place == "newcomer")
    if anchor and newcomer:
        return None
    if not said:
        return NOBODY_ANSWERED
    return CHOSE_TO_FINISH if FINISH in said.values() else NOT_BOTH


def end(session: Session, family: Family, reason: str, *, now: datetime,
        actor: User | None = None) -> bool:
    """End a running family once; False when it had already ended. Commits.

    Its members' pending messages about it are cancelled: re-planning them leaves the ended
    family out (cadence plans for published families only).
    """
    done = session.execute(
        sa.update(Family).where(Family.id == family.id, Family.status == FamilyStatus.PUBLISHED)
        # The chat link is an open invitation into the group: an ended family keeps none.
        .values(status=FamilyStatus.ENDED, ended_at=now, end_reason=reason[:MAX_REASON],
                locked=False, chat_link=None)
        .returning(Family.id)
    ).first()
    return _decided(session, family, done is not None, now=now, actor=actor,
                    action="family_ended", detail={"reason": reason[:MAX_REASON]})


def _carry_on(session: Session, family: Family, until: date, *, now: datetime,
              actor: User | None, reason: str, only_if_undecided: bool) -> bool:
    query = sa.update(Family).where(Family.id == family.id, Family.status == FamilyStatus.PUBLISHED)
    if only_if_undecided:
        query = query.where(Family.carry_on_until.is_(None))
    done = session.execute(query.values(carry_on_until=until).returning(Family.id)).first()
    return _decided(session, family, done is not None, now=now, actor=actor,
                    action="family_carries_on",
                    detail={"until": until.isoformat(), "reason": reason[:MAX_REASON]})


def _decided(session: Session, family: Family, done: bool, *, now: datetime,
             actor: User | None, action: str, detail: dict) -> bool:
    """Audit a decision the conditional UPDATE made, and re-plan its members' messages.

    Commits; False (rolled back) when the UPDATE found the family already decided. An ended
    or decided family is asked no more: re-planning cancels what was waiting to go.
    """
    if not done:
        session.rollback()
        return False
    audit.record(session, actor=actor, action=action, region=family.region,
                 detail={"family_id": family.id, **detail})
    session.flush()
    session.expire(family)
    for person, _place in members_of(session, family.id):
        cadence.reconcile(session, person, now)
    session.commit()
    return True


def daily(session: Session, *, now: datetime) -> dict[str, int]:
    """End or carry on every running family whose question closed or whose time ran out.

    Idempotent and catching up: it acts on everything due on or before `now`; each family is
    decided in its own short transaction by a conditional update, so a second run (or one
    after a crash halfway) finds nothing left to do.
    """
    today = england_day(now)
    counts = {"carried_on": 0, "ended": 0}
    ids = session.exec(select(Family.id).where(Family.status == FamilyStatus.PUBLISHED)
                       .order_by(Family.id)).all()
    for family_id in ids:
        family = session.get(Family, family_id, populate_existing=True)
        if family is None or family.status != FamilyStatus.PUBLISHED:
            continue
        if family.carry_on_until is not None:
            if today >= family.carry_on_until:
                limit = carry_on_limit(family.region, question_of(
                    family, members_of(session, family.id)).asked_on)
                reason = YEAR_END if family.carry_on_until == limit else LEAD_DATE
                counts["ended"] += end(session, family, reason, now=now)
            continue
        members = members_of(session, family.id)
        question = question_of(family, members)
        if today < question.closes_on:
            continue
        reason = decide(family, members, answers_of(session, family.id))
        limit = carry_on_limit(family.region, question.asked_on)
        if reason is None and limit <= today:
            reason = YEAR_END  # caught up after the limit had already passed
        if reason is None:
            counts["carried_on"] += _carry_on(
                session, family, limit, now=now, actor=None, only_if_undecided=True,
                reason="Its anchor and a newcomer chose to carry on")
        else:
            counts["ended"] += end(session, family, reason, now=now)
    session.commit()
    return counts


# --- By hand ----------------------------------------------------------------------------------

def family_for(session: Session, user: User, family_id: int) -> Family:
    """A published or ended family the staff `user` may see.

    :raises NotFound: missing, a draft, or outside the lead's region.
    """
    family = session.get(Family, family_id)
    allowed = _regions(user)
    if family is None or family.status == FamilyStatus.DRAFT or (
            allowed is not None and family.region not in allowed):
        raise NotFound()
    return family


def _regions(user: User) -> list[str] | None:
    from buddy import scoping

    return scoping.regions_of(user)


def _reason(reason: str | None) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ServiceError({"reason": "Enter a reason"})
    if len(reason) > MAX_REASON:
        raise ServiceError({"reason": f"Enter a reason of {MAX_REASON} characters or fewer"})
    return reason


def end_by_lead(session: Session, *, lead: User, family_id: int, reason: str | None) -> Family:
    """End a running family now, with the lead's reason. Commits.

    :raises NotFound: outside the lead's region. :raises ServiceError: no reason, or ended.
    """
    family = family_for(session, lead, family_id)
    reason = _reason(reason)
    if family.status != FamilyStatus.PUBLISHED:
        raise ServiceError("This family has already ended")
    end(session, family, f"Ended by its DA lead: {reason}", now=clock.now(), actor=lead)
    session.refresh(family)
    return family


def extend_by_lead(session: Session, *, lead: User, family_id: int, until: date | None,
                   reason: str | None) -> Family:
    """Let a running family carry on until `until`, with the lead's reason. Commits.

    :raises NotFound: outside the lead's region. :raises ServiceError: bad date or reason.
    """
    family = family_for(session, lead, family_id)
    errors = {}
    today = clock.today()
    latest = extend_limit(today, family.region)
    if until is None:
        errors["until"] = "Enter the date the family ends, for example 4 8 2027"
    elif until <= today:
        errors["until"] = "The date must be in the future"
    elif until > latest:
        errors["until"] = f"The date must be on or before {long_date(latest)}"
    try:
        reason = _reason(reason)
    except ServiceError as exc:
        errors.update(exc.errors)
    if errors:
        raise ServiceError(errors)
    if family.status != FamilyStatus.PUBLISHED:
        raise ServiceError("This family has already ended")
    _carry_on(session, family, until, now=clock.now(), actor=lead, only_if_undecided=False,
              reason=f"Extended by its DA lead: {reason}")
    session.refresh(family)
    return family


def families_of(session: Session, person: Person) -> list[Family]:
    """The person's published and ended families, running first, then newest first."""
    rows = session.exec(
        select(Family).join(FamilyMember, FamilyMember.family_id == Family.id)
        .where(FamilyMember.person_id == person.id, Family.status.in_(MATCHED_FAMILY_STATUSES))
    ).all()
    return sorted(rows, key=lambda f: (f.status != FamilyStatus.PUBLISHED,
                                       -(f.published_at or f.created_at).timestamp()))


def period(family: Family) -> str:
    """"August 2027 to February 2028": from the family's intake to its end (or "now")."""
    start = intakes.label(family.intake) if family.intake else (
        _month(england_day(family.published_at)) if family.published_at else "")
    if family.ended_at is None:
        return f"{start} to now" if start else "running now"
    return f"{start} to {_month(england_day(family.ended_at))}"


def _month(day: date) -> str:
    return f"{intakes.MONTHS[day.month - 1]} {day.year}"


def long_date(day: date) -> str:
    """"4 August 2027"."""
    return f"{day.day} {_month(day)}"
