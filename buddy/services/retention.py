"""Retention (UK GDPR storage limitation): people the programme no longer needs are anonymised.

The rule, also on the privacy page (templates/main/privacy.html) and in README.md:

A person's clock starts at the latest of: their sign-up, their last sign-in, the end of their
last buddy family, the day they left the scheme or a DA lead declined them, and, for a
newcomer still with us, the start of their intake. When `retention_months` (config/
programme.toml, 24 by default, per region) have passed since then, the daily job anonymises
them if they are in no family that is still running (draft or published) and they are:

- withdrawn (they left) or declined (a volunteer the lead said no to): "left" is their
  latest `member_withdraw` or `volunteer_declined` audit event; without one (data loaded
  without an audit trail) their `updated_at`;
- a newcomer of any other status: their intake is over by then, and a match run only ever
  takes its own intake's newcomers, whether or not they ever had a family.

Volunteers (buddies and ambassadors) who are active, pending or paused are kept: they still
offer to help and may be matched again. They leave by withdrawing; the clock starts then.

Anonymised means: the fields in PERSON_FIELDS and the login's email, name and password are
replaced, free text about them is removed wherever it is (their messages, replies, flags,
audit details, others' messages, match runs' inputs and reasons), pending messages are
cancelled, and every session ends. Their role, region, scheme, stage, intake, arrival date,
status, family places, check-in answers and survey choices stay, so every count stays the
same; free-text survey answers are blanked, open surveys stop, and training outcomes
(services/outcomes.py) are deleted.
Account deletion (accounts.delete_account) removes the same traces through forget_traces.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import clock, intakes, phones
from buddy.messaging.models import Flag, InboundMessage, Message, PhoneCode
from buddy.models import (
    AmbassadorPair,
    AuditEvent,
    AvoidPair,
    Family,
    FamilyMember,
    LoginThrottle,
    MatchRun,
    Outcome,
    Person,
    SurveyAnswer,
    SurveyRequest,
    User,
)
from buddy.services import audit
from buddy.statuses import LEFT_PERSON_STATUSES, FamilyStatus, MessageStatus

FORMER = "Former member"
REMOVED = "[removed]"
# Not an argon2 hash: no password ever verifies against it (passwords.verify_password).
UNUSABLE_HASH = "!anonymised"
LEFT_ACTIONS = ("member_withdraw", "volunteer_declined")

# Every Person field that holds personal data, and what it becomes (profiles.SENSITIVE_FIELDS
# included: tests/test_retention.py checks). Kept, for the figures:
# role, region, scheme, stage, intake, arrival_date, status, setting, capacity, can_anchor,
# wants_ambassador, channel and the dates the programme counts with.
PERSON_FIELDS: dict[str, object] = {
    "full_name": FORMER,
    "phone": None,
    "phone_country": None,
    "phone_verified_at": None,
    "email_confirmed_at": None,
    "gmc_number": None,
    "timezone": "Europe/London",
    "interests": [],
    "share_email": False,
    "share_phone": False,
    "sensitive_consent_at": None,
    "country": None,
    "languages": [],
    "gender": None,
    "same_gender_anchor": False,
    "support_needs": [],
}
# The same fields inside a match run's stored cohort entry.
COHORT_FIELDS = {"country": None, "languages": [], "interests": [], "gender": None,
                 "same_gender_anchor": False}


def anonymous_email(user_id: int) -> str:
    """The login email of an anonymised person: unique, and never deliverable."""
    return f"anonymised-{user_id}@invalid"


def months_before(moment: datetime, months: int) -> datetime:
    """`moment` less whole calendar months (31 March less one month is 28 or 29 February)."""
    total = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    last_day = (date(year + month // 12, month % 12 + 1, 1) - date(year, month, 1)).days
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


# --- Who is due -----------------------------------------------------------------------------

def _due(region: str, cutoff: datetime):
    """People of `region` whose retention time ran out at `cutoff` (the module's rule)."""
    cutoff_month = f"{cutoff.astimezone(clock.ENGLAND).date():%Y-%m}"
    # A family still running, or one that ended after the cutoff, keeps its members.
    kept_by_family = (
        select(FamilyMember.person_id).join(Family, Family.id == FamilyMember.family_id)
        .where(sa.or_(Family.status != FamilyStatus.ENDED, Family.ended_at.is_(None),
                      Family.ended_at > cutoff)))
    left = select(AuditEvent.person_id).where(AuditEvent.action.in_(LEFT_ACTIONS),
                                              AuditEvent.person_id.is_not(None))
    left_since = left.where(AuditEvent.at > cutoff)
    gone = sa.and_(Person.status.in_(LEFT_PERSON_STATUSES), Person.id.not_in(left_since),
                   sa.or_(Person.id.in_(left), Person.updated_at <= cutoff))
    past_newcomer = sa.and_(Person.role == "newcomer", Person.status.not_in(LEFT_PERSON_STATUSES),
                            sa.or_(Person.intake.is_(None), Person.intake <= cutoff_month))
    return (
        select(Person.id).join(User, User.id == Person.user_id)
        .where(Person.region == region, Person.anonymised_at.is_(None),
               Person.created_at <= cutoff,
               sa.or_(User.last_login_at.is_(None), User.last_login_at <= cutoff),
               Person.id.not_in(kept_by_family), sa.or_(gone, past_newcomer))
        .order_by(Person.id))


def due(session: Session, *, now: datetime) -> list[int]:
    """Ids of the people the job would anonymise at `now`, in every region."""
    regions = session.exec(select(Person.region).where(Person.anonymised_at.is_(None))
                           .distinct()).all()
    ids: list[int] = []
    for region in sorted(regions):
        cutoff = months_before(now, intakes.programme(region).retention_months)
        ids += session.exec(_due(region, cutoff)).all()
    return ids


def daily(session: Session, *, now: datetime) -> dict[str, int]:
    """Anonymise everyone due at `now`, one person per transaction; one audit event a run."""
    done = sum(anonymise(session, person_id, now=now) for person_id in due(session, now=now))
    if done:
        audit.record(session, actor=None, action="retention_anonymised",
                     detail={"people": done})
        session.commit()
    return {"anonymised": done}


# --- Anonymising one person ------------------------------------------------------------------

def anonymise(session: Session, person_id: int, *, now: datetime) -> bool:
    """Anonymise one person if still due at `now` (checked under a row lock); commits.

    Returns whether it did: False for someone already anonymised or no longer due.
    """
    person = session.exec(select(Person).where(Person.id == person_id).with_for_update()
                          .execution_options(populate_existing=True)).first()
    if person is None:
        session.rollback()
        return False
    cutoff = months_before(now, intakes.programme(person.region).retention_months)
    if session.exec(_due(person.region, cutoff).where(Person.id == person_id)).first() is None:
        session.rollback()
        return False
    user = session.get(User, person.user_id)
    forget_traces(session, person=person, user=user)
    _blank_own_rows(session, person, user, now)
    for field, value in PERSON_FIELDS.items():
        setattr(person, field, copy.deepcopy(value))
    person.anonymised_at = person.updated_at = now
    user.email = anonymous_email(user.id)
    user.full_name = FORMER
    user.password_hash = UNUSABLE_HASH
    # Every session and remember-me cookie carries the version (buddy/auth.py): all end.
    user.session_version += 1
    session.add_all([person, user])
    session.commit()
    return True


def _blank_own_rows(session: Session, person: Person, user: User, now: datetime) -> None:
    """Free text in the person's own rows; their pending messages cancelled."""
    # A subject may name the address ("email:<address>"); it stays unique per user.
    session.execute(sa.update(Message).where(Message.user_id == user.id)
                    .values(to_address="", title="", body="", last_error=None,
                            subject="anonymised-" + sa.cast(Message.id, sa.String)))
    session.execute(sa.update(Message).where(Message.user_id == user.id,
                                             Message.status == MessageStatus.PENDING)
                    .values(status=MessageStatus.CANCELLED, last_error="Person anonymised",
                            updated_at=now))
    session.execute(sa.update(Flag).where(Flag.person_id == person.id).values(text="", note=None))
    session.execute(sa.update(InboundMessage).where(InboundMessage.person_id == person.id)
                    .values(body="", from_address=""))
    session.execute(sa.update(FamilyMember).where(FamilyMember.person_id == person.id)
                    .values(reasons=[]))
    session.execute(sa.update(AmbassadorPair).where(AmbassadorPair.newcomer_id == person.id)
                    .values(reasons=[]))
    session.execute(sa.delete(PhoneCode).where(PhoneCode.person_id == person.id))
    # Surveys: asking stops (their pending reminders were cancelled above), and what they
    # typed in their own words goes; their choices and scales stay, so results keep counting.
    session.execute(sa.update(SurveyRequest).where(
        SurveyRequest.person_id == person.id, SurveyRequest.answered_at.is_(None),
        SurveyRequest.stopped_at.is_(None)).values(stopped_at=now, stop_reason="left"))
    session.execute(sa.update(SurveyAnswer).where(
        SurveyAnswer.kind == "text", SurveyAnswer.request_id.in_(
            select(SurveyRequest.id).where(SurveyRequest.person_id == person.id)))
        .values(answer="", answer_words=""))
    # Training outcomes (services/outcomes.py) say how one person progressed: they go.
    session.execute(sa.delete(Outcome).where(Outcome.person_id == person.id))
    # "Never together" marks say something about two people and only serve future runs.
    session.execute(sa.delete(AvoidPair).where(sa.or_(AvoidPair.person_a == person.id,
                                                      AvoidPair.person_b == person.id)))


# --- Traces in other rows (shared with account deletion) ---------------------------------------

def forget_traces(session: Session, *, person: Person | None, user: User) -> None:
    """Remove the person's name, contact details and sensitive answers from rows that are
    not their own: other people's messages, flags, replies, family end reasons, audit
    details, match runs' stored inputs and reasons. The caller commits."""
    needles = _needles(person, user)
    pattern = _pattern(needles)
    if pattern is not None:
        for model, columns in ((Message, ("title", "body")), (Flag, ("text", "note")),
                               (InboundMessage, ("body",)), (Family, ("end_reason",))):
            _redact_rows(session, model, columns, needles, pattern)
    _redact_audit(session, person, user, pattern)
    if person is not None:
        if person.phone:
            # Replies from their number that no one was matched to hold their words too.
            session.execute(
                sa.update(InboundMessage)
                .where(InboundMessage.person_id.is_(None),
                       InboundMessage.from_address.contains(person.phone, autoescape=True))
                .values(body="", from_address=""))
        _scrub_runs(session, person)
    session.execute(sa.delete(LoginThrottle).where(LoginThrottle.email == user.email))


def _needles(person: Person | None, user: User) -> list[str]:
    values = {user.full_name, user.email}
    if person is not None:
        values |= {person.full_name, person.phone, phones.display(person.phone)}
    # Very short values would match inside ordinary words.
    return sorted((v for v in values if v and len(v.strip()) >= 3), key=len, reverse=True)


def _pattern(needles: list[str]) -> re.Pattern | None:
    if not needles:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in needles) + r")(?!\w)",
                      re.IGNORECASE)


def _redact_rows(session: Session, model, columns: tuple[str, ...], needles: list[str],
                 pattern: re.Pattern) -> None:
    found = sa.or_(*(sa.func.lower(getattr(model, c)).contains(n.lower(), autoescape=True)
                     for c in columns for n in needles))
    for row in session.exec(select(model).where(found)).all():
        for column in columns:
            value = getattr(row, column)
            if value:
                setattr(row, column, pattern.sub(REMOVED, value))
        session.add(row)


def _redact_json(value, pattern: re.Pattern | None):
    """`value` with the needles removed; any string with a space in it (free text rather
    than a code such as "london", "withdrawn" or "london-004") removed whole."""
    if isinstance(value, str):
        if any(c.isspace() for c in value):
            return REMOVED
        return pattern.sub(REMOVED, value) if pattern is not None else value
    if isinstance(value, list):
        return [_redact_json(v, pattern) for v in value]
    if isinstance(value, dict):
        return {k: _redact_json(v, pattern) for k, v in value.items()}
    return value


def _redact_audit(session: Session, person: Person | None, user: User,
                  pattern: re.Pattern | None) -> None:
    """Free text in audit details about the person goes: events by or about them, and a
    lead's edits that name them among others (`detail["people"]`, buddy/services/edits.py)."""
    about = AuditEvent.actor_id == user.id
    if person is not None:
        about = sa.or_(about, AuditEvent.person_id == person.id)
    events = list(session.exec(select(AuditEvent).where(about)).all())
    if person is not None:
        # JSON lists cannot be searched alike in SQLite and PostgreSQL: read the regions'.
        events += [e for e in session.exec(select(AuditEvent).where(
            AuditEvent.region.in_(sorted(_regions_of(session, person))), sa.not_(about))).all()
            if person.id in (e.detail.get("people") or [])]
    for event in events:
        detail = _redact_json(event.detail, pattern)
        if detail != event.detail:
            event.detail = detail
            session.add(event)


def _keys(person: Person) -> set[str]:
    # Every role the person may have had: an alumna was "n-12" then "b-12" (cohorts.key).
    return {f"{prefix}-{person.id}" for prefix in ("n", "b", "a")}


def _mentions(keys: set[str]) -> re.Pattern:
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(k) for k in sorted(keys))
                      + r")(?![\w-])")


def _regions_of(session: Session, person: Person) -> set[str]:
    """Every region the person has been in: now, and before each change (audit trail)."""
    regions = {person.region}
    for detail in session.exec(select(AuditEvent.detail).where(
            AuditEvent.person_id == person.id, AuditEvent.action == "region_changed")).all():
        regions.add(str((detail or {}).get("from")))
    return regions


def _scrub_json(value, keys: set[str], mention: re.Pattern):
    """A run's cohort or result without the person's answers or sentences about them."""
    if isinstance(value, list):
        return [_scrub_json(v, keys, mention) for v in value
                if not (isinstance(v, str) and v not in keys and mention.search(v))]
    if not isinstance(value, dict):
        return value
    out = {k: ([] if k in keys and isinstance(v, list) else _scrub_json(v, keys, mention))
           for k, v in value.items()}
    if out.get("id") in keys:
        if "role" in out:  # the person's cohort entry
            out.update({k: copy.deepcopy(v) for k, v in COHORT_FIELDS.items() if k in out})
        if isinstance(out.get("reason"), str):
            out["reason"] = ""
    return out


def _scrub_runs(session: Session, person: Person) -> None:
    keys = _keys(person)
    mention = _mentions(keys)
    quoted = [f'"{k}"' for k in sorted(keys)]
    found = sa.or_(*(sa.cast(column, sa.Text).contains(q, autoescape=True)
                     for column in (MatchRun.cohort, MatchRun.result) for q in quoted))
    # Runs are large: only family runs of the regions they were in, and the ambassador runs
    # (a national pool), are read.
    theirs = sa.or_(MatchRun.kind != "families", MatchRun.region.in_(_regions_of(session, person)))
    for run in session.exec(select(MatchRun).where(theirs, found)).all():
        run.cohort = _scrub_json(run.cohort, keys, mention)
        run.result = _scrub_json(run.result, keys, mention)
        session.add(run)
    # Other members' reasons name the person by key ("speaks Arabic, like b-12").
    families = select(FamilyMember.family_id).where(FamilyMember.person_id == person.id)
    for member in session.exec(select(FamilyMember).where(
            FamilyMember.family_id.in_(families), FamilyMember.person_id != person.id)).all():
        reasons = _scrub_json(member.reasons, keys, mention)
        if reasons != member.reasons:
            member.reasons = reasons
            session.add(member)
    for pair in session.exec(select(AmbassadorPair).where(
            AmbassadorPair.ambassador_id == person.id)).all():
        pair.reasons = _scrub_json(pair.reasons, keys, mention)
        session.add(pair)
