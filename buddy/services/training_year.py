"""The training year: stages that move, and newcomers of earlier intakes invited to volunteer.

When a stage moves (README.md, "The programme year"):
- A person who started with an intake (a newcomer, or a former newcomer who now volunteers)
  moves on each anniversary of their training start: August-intake starters at the
  training-year change (`intakes.training_year_change`, the first Wednesday of August by
  default) of each later year; starters of any other intake (February) on the anniversary of
  their intake's first day (1 February), whatever their own arrival day, so that one intake
  moves together. A newcomer with no arrival date, or whose arrival is after the due date,
  has not started and does not move.
- A volunteer with no intake moves at each training-year change.
- Only due dates after the person joined count: the stage they gave then was their stage.
- ST1 -> ST2 -> ST3 -> qualified; qualified stays. Every due date gets one StageMove row per
  person (unique person + due date), qualified people and skipped moves included (from_stage
  == to_stage), so a date is dealt with exactly once whatever happens to the daily job.
- A person who set their own stage since Buddy last dealt with it (their latest StageMove,
  or joining) keeps it: the moves due up to and including the first due date on or after
  their correction are recorded as kept, not made. The move after that happens as usual.

Newcomers whose first move is `invite_alumni_days_after` days past, and who are in no running
family, are invited once (outbox subject "alumni") to volunteer by a signed link.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import clock, intakes, states
from buddy.links import public_url
from buddy.messaging import cadence, outbox, tokens
from buddy.messaging.models import Message
from buddy.models import Family, FamilyMember, Person, StageMove, User, utcnow
from buddy.services import ServiceError, audit
from buddy.services.profiles import MAX_CAPACITY, STAGES, _clean_volunteer
from buddy.states import Action, Actor
from buddy.statuses import FamilyStatus, MessageStatus, PersonStatus

NEXT_STAGE = {"ST1": "ST2", "ST2": "ST3", "ST3": "qualified", "qualified": "qualified"}
INVITE_KIND, INVITE_SUBJECT = "volunteer_invite", "alumni"
# People whose stage moves are worked out per transaction: a crash loses at most one batch,
# which the next run redoes (the rows say what is done).
BATCH = 200
# An invitation not sent within this many days (a long outage) is not sent late.
INVITE_EXPIRE_DAYS = 30


def _england_day(moment: datetime) -> date:
    return moment.astimezone(clock.ENGLAND).date()


def schedule(person: Person, through: date) -> list[date]:
    """The days `person`'s stage is due to move, after they joined and up to `through`."""
    joined = _england_day(person.created_at)
    days: list[date] = []
    if person.intake:
        first = intakes.start(person.intake)
        change_month = intakes.programme(person.region).training_year_month
        for year in range(first.year + 1, through.year + 1):
            day = (intakes.training_year_change(year, person.region)
                   if first.month == change_month else first.replace(year=year))
            days.append(day)
        if person.role == "newcomer" and person.arrival_date is not None:
            days = [d for d in days if person.arrival_date <= d]
    elif person.role in states.VOLUNTEER_ROLES:
        days = [intakes.training_year_change(year, person.region)
                for year in range(joined.year, through.year + 1)]
    return [d for d in days if joined < d <= through]


def first_move(person: Person) -> date | None:
    """The first anniversary of a newcomer's training start, whenever they joined."""
    if not person.intake:
        return None
    first = intakes.start(person.intake)
    if first.month == intakes.programme(person.region).training_year_month:
        return intakes.training_year_change(first.year + 1, person.region)
    return first.replace(year=first.year + 1)


def _moves_for(person: Person, rows: list[StageMove], today: date) -> list[tuple[date, bool]]:
    """The due dates without a row, each with whether the move is made (False: kept)."""
    done = {r.due_on for r in rows}
    pending = [d for d in schedule(person, today) if d not in done]
    last = max((r.moved_at for r in rows), default=person.created_at)
    corrected = person.stage_corrected_at
    protected = corrected is not None and corrected > last
    out = []
    for day in pending:
        out.append((day, not protected))
        if protected and day >= _england_day(corrected):
            protected = False
    return out


def move_stages(session: Session, *, now: datetime) -> dict[str, int]:
    """Make every stage move due on or before `now` that has no row yet; commits per batch."""
    today = _england_day(now)
    counts: Counter[str] = Counter()
    last_id = 0
    while True:
        people = session.exec(
            select(Person).where(Person.id > last_id, Person.anonymised_at.is_(None),
                                 sa.or_(Person.intake.is_not(None),
                                        Person.role.in_(states.VOLUNTEER_ROLES)))
            .order_by(Person.id).limit(BATCH)
        ).all()
        if not people:
            break
        last_id = people[-1].id
        rows: dict[int, list[StageMove]] = defaultdict(list)
        for row in session.exec(select(StageMove).where(
                StageMove.person_id.in_([p.id for p in people]))):
            rows[row.person_id].append(row)
        by_region: dict[str, Counter[str]] = defaultdict(Counter)
        for person in people:
            for day, made in _moves_for(person, rows[person.id], today):
                before = person.stage
                after = NEXT_STAGE.get(before, before) if made else before
                try:
                    # The row and the stage together: a second daily running at the same time
                    # inserts the same row, the unique key turns it away, and this move is
                    # left to the first one.
                    with session.begin_nested():
                        session.add(StageMove(person_id=person.id, due_on=day, from_stage=before,
                                              to_stage=after, moved_at=now))
                        person.stage = after
                        session.add(person)
                        session.flush()
                except sa.exc.IntegrityError:
                    session.refresh(person)
                    continue
                key = "moved" if after != before else ("kept" if before != "qualified"
                                                       else "qualified")
                by_region[person.region][key] += 1
        for region, done in sorted(by_region.items()):
            audit.record(session, actor=None, action="stages_moved", region=region,
                         detail=dict(done))
            counts.update(done)
        session.commit()
    return {"stages_moved": counts["moved"], "stages_kept": counts["kept"]}


# --- Newcomers of earlier intakes invited to volunteer -------------------------------------

def in_running_family(session: Session, person: Person) -> bool:
    """True while `person` is a member of a published (not ended) family."""
    return session.exec(
        select(FamilyMember.id).join(Family, Family.id == FamilyMember.family_id)
        .where(FamilyMember.person_id == person.id, Family.status == FamilyStatus.PUBLISHED)
        .limit(1)
    ).first() is not None


def may_volunteer(session: Session, person: Person, today: date) -> bool:
    """An active newcomer whose first stage move is `invite_alumni_days_after` days past and
    who is in no running family."""
    first = first_move(person)
    return (person.role == "newcomer" and person.status == PersonStatus.ACTIVE
            and person.anonymised_at is None and first is not None
            and today >= first + timedelta(
                days=intakes.programme(person.region).invite_alumni_days_after)
            and not in_running_family(session, person))


def invite_link(person: Person) -> str:
    return public_url("programme.volunteer_by_link",
                      token=tokens.sign(tokens.VOLUNTEER, {"p": person.id}))


def invite_alumni(session: Session, *, now: datetime) -> dict[str, int]:
    """Invite, once each, the newcomers who may now volunteer; commits per batch."""
    today = _england_day(now)
    invited = 0
    last_id = 0
    while True:
        people = session.exec(
            select(Person).where(Person.id > last_id, Person.role == "newcomer",
                                 Person.status == PersonStatus.ACTIVE,
                                 Person.intake.is_not(None), Person.anonymised_at.is_(None))
            .order_by(Person.id).limit(BATCH)
        ).all()
        if not people:
            break
        last_id = people[-1].id
        # Once per person on any channel: one who changed channel since is not asked again.
        # A cancelled invitation was never sent (they paused, or said STOP): it goes again.
        asked = set(session.exec(select(Message.user_id).where(
            Message.kind == INVITE_KIND, Message.status != MessageStatus.CANCELLED,
            Message.user_id.in_([p.user_id for p in people]))))
        for person in people:
            if person.user_id in asked or not may_volunteer(session, person, today):
                continue
            user = session.get(User, person.user_id)
            channel = cadence.channel_for(person)
            title, body = cadence.compose(INVITE_KIND, person=person, channel=channel,
                                          values={"link": invite_link(person)})
            outbox.enqueue(session, user=user, channel=channel, kind=INVITE_KIND,
                           subject=INVITE_SUBJECT,
                           to_address=cadence.address_for(person, user, channel),
                           title=title, body=body,
                           due_at=now, person=person, timezone=person.timezone,
                           expires_at=now + timedelta(days=INVITE_EXPIRE_DAYS))
            invited += 1
        session.commit()
    return {"volunteer_invited": invited}


def daily(session: Session, *, now: datetime) -> dict[str, int]:
    """Stage moves due on or before `now`, then invitations to volunteer (idempotent)."""
    return {**move_stages(session, now=now), **invite_alumni(session, now=now)}


# --- Becoming a volunteer --------------------------------------------------------------------

VOLUNTEER_STAGES = STAGES["buddy"]


def clean_volunteering(data: dict, *, person: Person) -> dict:
    """Validate the "become a volunteer" form: role, stage, setting, capacity, anchor, GMC.

    :raises ServiceError: mapping each bad field to what to fix.
    """
    errors: dict[str, str] = {}
    role = data.get("role") or ""
    if role not in states.VOLUNTEER_ROLES:
        errors["role"] = "Choose buddy or ambassador"
    out: dict = {"role": role}
    stage = data.get("stage") or ""
    if stage not in VOLUNTEER_STAGES:
        errors["stage"] = ("Choose your training stage now: volunteers are ST2 or later. If "
                           "you are still ST1, you can volunteer next year")
    out["stage"] = stage
    _clean_volunteer(data, role=role if role in states.VOLUNTEER_ROLES else "buddy", out=out,
                     errors=errors)
    if out.get("capacity") == 0:
        errors["capacity"] = f"Choose how many newcomers you can support, from 1 to {MAX_CAPACITY}"
    if errors:
        raise ServiceError(errors)
    return out


def become_volunteer(session: Session, person: Person, data: dict, *, channel: str,
                     user: User | None = None) -> Person:
    """Turn a newcomer of an earlier intake into a volunteer waiting for their lead. Commits.

    Their account, consent, intake and family history stay; they wait (pending) for the
    region's DA lead like any new volunteer.
    :raises ServiceError: bad fields, not (or no longer) a newcomer who may volunteer.
    """
    # The table first: newcomers who are active, by themselves (buddy/states.py).
    states.check(person, Action.BECOME_VOLUNTEER, Actor.MEMBER)
    if in_running_family(session, person):
        raise ServiceError("You can volunteer once your buddy family has finished")
    values = clean_volunteering(data, person=person)
    was = person.status
    # The state machine checks the role before it changes: newcomers only.
    states.apply(person, Action.BECOME_VOLUNTEER, Actor.MEMBER, by=user)
    for key, value in values.items():
        setattr(person, key, value)
    person.wants_ambassador = False
    session.add(person)
    audit.record(session, actor=None, action="became_volunteer", region=person.region,
                 person_id=person.id, detail={"role": person.role, "channel": channel,
                                              "status_before": was, "status": person.status})
    from buddy.services import confirmations  # here: confirmations imports this module

    # They have just told us their capacity: that answers an intake being asked about now.
    confirmations.answered_on_joining(session, person, now=utcnow())
    cadence.person_changed(session, person, others=False)
    session.commit()
    return person


def settings_hint(person: Person) -> str:
    """The hint under "where do you work now" for someone who may still be a GP trainee."""
    return ("If you are still a GP trainee, choose primary care." if person.stage != "qualified"
            else "")

