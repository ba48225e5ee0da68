"""The message cadence: which messages each person gets and when (DESIGN.md, config/messages.toml).

The hooks (`person_joined`, `ambassador_paired`, `family_published`, `person_changed`) write
outbox rows in the caller's transaction and never commit. Every due time is worked out here,
in the recipient's own time zone, and stored in UTC.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import current_app
from sqlmodel import Session, select

from buddy import clock, reference
from buddy.links import public_url
from buddy.messaging import outbox, tokens
from buddy.messaging import texts as words
from buddy.messaging.models import Message
from buddy.models import AmbassadorPair, Family, FamilyMember, Person, User, utcnow
from buddy.services import guides
from buddy.services.members import members_of
from buddy.settings import CONFIG_DIR, enabled_channels
from buddy.statuses import (
    MAYBE_SENT_MESSAGE_STATUSES,
    FamilyStatus,
    MessageStatus,
    PairStatus,
    PersonStatus,
)

# The kinds this module plans; anything else in the outbox (sign-in links, email
# confirmations) is left alone by a reconcile.
CADENCE_KINDS = (
    "what_to_expect", "ambassador_intro", "family_intro", "checkin", "buddy_nudge",
    "close_continue", "survey",
)
# Kinds the daily jobs queue (services/training_year.py, services/confirmations.py): not
# planned here, so a reconcile leaves them alone, but re-checked before sending like those
# (active, sending window, opt-out, confirmed email).
DAILY_KINDS = ("volunteer_invite", "availability_ask", "availability_reminder",
               "survey_reminder")
# Kinds that tell a person of a decision about them (`volunteer_decided`). Sent whatever
# their status (a declined volunteer is told so; one who left is not), and otherwise
# re-checked like the kinds above: sending window, opt-out, confirmed email, and by email
# when a text fails.
NOTICE_KINDS = ("volunteer_approved", "volunteer_declined")
TWILIO_CHANNELS = ("sms", "whatsapp")
# Each channel as people say it ("We will tell them by text message").
CHANNEL_WORDS = {"email": "email", "sms": "text message", "whatsapp": "WhatsApp"}
DEFAULT_ZONE = "Europe/London"


@dataclass(frozen=True)
class Cadence:
    window_start: time
    window_end: time
    send_time: time
    pre_arrival_days: int
    family_intro_days_before: int
    ambassador_min_days: int
    checkin_days: tuple[int, ...]
    checkin_expire_days: int
    close_days: int
    close_expire_days: int


@dataclass
class Plan:
    """One message a person should get: what, about what, when, and until when."""

    kind: str
    subject: str
    due_at: datetime
    template: str
    values: dict = field(default_factory=dict)
    expires_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.subject)


@cache
def _config() -> dict:
    with open(CONFIG_DIR / "messages.toml", "rb") as fh:
        return tomllib.load(fh)


def _clock(value: str) -> time:
    hours, minutes = (int(part) for part in str(value).split(":"))
    return time(hours, minutes)


@cache
def cadence_for(region: str | None) -> Cadence:
    """The cadence for `region`: config defaults with the region's overrides on top."""
    cfg = _config()
    values = dict(cfg["cadence"])
    values.update(cfg.get("regions", {}).get(region or "", {}).get("cadence", {}))
    return Cadence(
        window_start=_clock(values["window_start"]),
        window_end=_clock(values["window_end"]),
        send_time=_clock(values["send_time"]),
        pre_arrival_days=int(values["pre_arrival_days"]),
        family_intro_days_before=int(values["family_intro_days_before"]),
        ambassador_min_days=int(values["ambassador_min_days"]),
        checkin_days=tuple(int(d) for d in values["checkin_days"]),
        checkin_expire_days=int(values["checkin_expire_days"]),
        close_days=int(values["close_days"]),
        close_expire_days=int(values["close_expire_days"]),
    )


def texts() -> dict[str, dict[str, str]]:
    """Message templates by name, from config/messages.toml."""
    return _config()["texts"]


# --- Time ---------------------------------------------------------------------------------

def zone(name: str | None) -> ZoneInfo:
    """The time zone called `name`; an unknown name falls back to UK time."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def local_moment(day: date, at: time, tz: str | None) -> datetime:
    """`day` at local time `at` in zone `tz`, as an aware UTC datetime (DST-correct)."""
    return datetime.combine(day, at, tzinfo=zone(tz)).astimezone(UTC)


def in_window(now: datetime, tz: str | None, cadence: Cadence) -> bool:
    """True when `now` is inside the sending window in zone `tz`."""
    local = now.astimezone(zone(tz)).time()
    return cadence.window_start <= local < cadence.window_end


def next_window_start(now: datetime, tz: str | None, cadence: Cadence) -> datetime:
    """The next moment (UTC) at or after `now` when the window in zone `tz` is open."""
    local = now.astimezone(zone(tz))
    if local.time() < cadence.window_start:
        day = local.date()
    elif local.time() < cadence.window_end:
        return now
    else:
        day = local.date() + timedelta(days=1)
    return local_moment(day, cadence.window_start, tz)


# --- Channels and addresses -----------------------------------------------------------------

def channel_for(person: Person) -> str:
    """The channel `person` gets messages on: the one they chose and agreed to, else email.

    A text goes only to a number its holder has confirmed with a code
    (services/phone_verification.py): an unconfirmed number may be someone else's.
    """
    enabled = enabled_channels(current_app.config)
    if (
        person.channel in TWILIO_CHANNELS
        and person.channel in enabled
        and person.phone
        and person.phone_verified_at is not None
        and not person.sms_opted_out
    ):
        return person.channel
    return "email"


def address_for(person: Person, user: User, channel: str) -> str:
    return user.email if channel == "email" else (person.phone or "")


def _long_date(day: date | None) -> str:
    return f"{day.day} {day:%B %Y}" if day else "your start date"


def _after(days: int, *, ago: bool) -> str:
    weeks = days // 7
    if days == 7:
        return "a week ago" if ago else "in your first week"
    if days % 7 == 0:
        return f"{weeks} weeks ago" if ago else f"{weeks} weeks in"
    return f"{days} days ago" if ago else f"{days} days in"


def compose(template: str, *, person: Person | User, channel: str,
            values: dict) -> tuple[str, str]:
    """Title and body of text `template` of config/messages.toml for `person` (or a staff
    user) on `channel`.

    Every message with a text there is written here, so every one greets the same way
    (texts.greeting_name: "Hello Priya," for "Dr Priya Raman").
    """
    text = texts()[template]
    values = {**values, "name": words.greeting_name(person.full_name)}
    body = text.get("email", text["text"]) if channel == "email" else text["text"]
    return text["title"].format_map(values), body.format_map(values)


def render(plan: Plan, person: Person, channel: str) -> tuple[str, str]:
    """Title and body of `plan` for `person` on `channel`, from the config texts."""
    return compose(plan.template, person=person, channel=channel, values=plan.values)


# --- Plans ----------------------------------------------------------------------------------

def _arrival_start(person: Person) -> datetime | None:
    if person.arrival_date is None:
        return None
    return local_moment(person.arrival_date, time(0), person.timezone)


def pre_arrival_plans(person: Person, now: datetime) -> list[Plan]:
    """"What to expect", arrival - 21 days, for a newcomer who has not yet arrived."""
    arrival = _arrival_start(person)
    if person.role != "newcomer" or arrival is None or arrival <= now:
        return []
    c = cadence_for(person.region)
    due = local_moment(person.arrival_date - timedelta(days=c.pre_arrival_days), c.send_time,
                       person.timezone)
    # One who joins later than that hears at once: due when they joined, a moment that stays
    # put, so that re-planning them later (any profile save) leaves the message as it is.
    # The link is the region's welcome guide (re-planned when the region changes).
    return [Plan("what_to_expect", "arrival", max(due, person.created_at or now), "what_to_expect",
                 {"arrival": _long_date(person.arrival_date),
                  "link": guides.public_url(person.region)},
                 expires_at=arrival)]


def minutes_words(n: int) -> str:
    """"1 minute", "2 minutes": how long a survey takes, in a message."""
    return "1 minute" if n == 1 else f"{n} minutes"


def hello_plans(person: Person, now: datetime) -> list[Plan]:
    """The hello survey (config/surveys.toml), the day after a newcomer joins.

    Its message and link last link_days after joining, and no longer than 4 weeks after
    arrival: it is about starting. A moment long past is not queued.
    """
    from buddy import surveys as config
    from buddy.services import surveys

    survey = config.at("signup")
    if survey is None or person.role != "newcomer" or "newcomer" not in survey.audience:
        return []
    c = cadence_for(person.region)
    joined = (person.created_at or now).astimezone(zone(person.timezone)).date()
    due = local_moment(joined + timedelta(days=1), c.send_time, person.timezone)
    last = joined + timedelta(days=config.asking().link_days)
    if person.arrival_date is not None:
        last = min(last, person.arrival_date + timedelta(days=28))
    expires = local_moment(last, time(0), person.timezone)
    if expires <= now:
        return []
    intake = surveys.hello_intake(person)
    ask = surveys.Ask(person_id=person.id, survey=survey.key, intake=intake, family_id=None,
                      audience="newcomer", until=last)
    return [Plan("survey", surveys.subject(survey.key, intake), due, "survey_hello",
                 {"time": minutes_words(survey.minutes), "link": surveys.link(ask)},
                 expires_at=expires)]


def eight_week_plans(recipient: Person, place: str, family: Family,
                     members: list[tuple[Person, str]], arrival: date | None,
                     now: datetime) -> list[Plan]:
    """The eight-week survey, `days` after the newcomer's arrival (for a volunteer, the
    family's first newcomer's): once per person and intake."""
    from buddy import surveys as config
    from buddy.services import surveys

    survey = config.at("eight_weeks")
    audience = surveys.audience_of(place)
    if survey is None or arrival is None or audience not in survey.audience:
        return []
    c = cadence_for(family.region)
    day = arrival + timedelta(days=survey.days)
    due = local_moment(day, c.send_time, recipient.timezone)
    expires = due + timedelta(days=config.asking().reminder_days)
    if expires <= now:
        return []
    intake = surveys.family_intake(family, members, recipient)
    ask = surveys.Ask(person_id=recipient.id, survey=survey.key, intake=intake,
                      family_id=family.id, audience=audience,
                      until=day + timedelta(days=config.asking().link_days))
    return [Plan("survey", surveys.subject(survey.key, intake), due, "survey_eight_weeks",
                 {"time": minutes_words(survey.minutes), "link": surveys.link(ask)},
                 expires_at=expires)]


def ambassador_plans(
    recipient: Person, pair: AmbassadorPair, ambassador: Person, newcomer: Person,
    now: datetime, *, require_notice: bool = True,
) -> list[Plan]:
    """The introduction of `ambassador` and `newcomer`, to `recipient` (either of them).

    Due when the pair was published; only when arrival is at least `ambassador_min_days`
    away (unless `require_notice` is off, for an introduction already queued); it expires
    on arrival.
    """
    introduced = pair.published_at or now
    arrival = _arrival_start(newcomer)
    c = cadence_for(newcomer.region)
    if arrival is not None and arrival <= now:
        return []
    if require_notice and arrival is not None and (
        arrival - now < timedelta(days=c.ambassador_min_days)
    ):
        return []
    if recipient.id == newcomer.id:
        return [Plan("ambassador_intro", f"ambassador:{ambassador.id}", introduced,
                     "ambassador_intro_newcomer",
                     {"other": ambassador.full_name, "other_is": words.doctor(ambassador),
                      "link": _account_link()},
                     expires_at=arrival)]
    return [Plan("ambassador_intro", f"newcomer:{newcomer.id}", introduced,
                 "ambassador_intro_ambassador",
                 {"other": newcomer.full_name, "starts": words.starts(newcomer.arrival_date),
                  "link": _account_link()},
                 expires_at=arrival)]


def family_plans(
    recipient: Person, place: str, family: Family, members: list[tuple[Person, str]],
    now: datetime,
) -> list[Plan]:
    """Family introduction, check-ins or nudges, and close-or-continue for one member."""
    c = cadence_for(family.region)
    tz = recipient.timezone
    published = family.published_at or now
    # Each member as what they are ("a hospital doctor"), never one word for all of them.
    about = {"others": words.family_others(members, recipient),
             "members": words.family_lines(members, recipient), "link": _account_link()}
    newcomers = [p for p, pl in members if pl == "newcomer" and p.arrival_date]
    plans: list[Plan] = []

    def intro_due(newcomer: Person) -> datetime:
        day = newcomer.arrival_date - timedelta(days=c.family_intro_days_before)
        return max(published, local_moment(day, c.send_time, tz))

    def dated(kind: str, subject: str, template: str, day: date, expire_days: int,
              values: dict) -> None:
        due = local_moment(day, c.send_time, tz)
        expires = due + timedelta(days=expire_days)
        if expires > now:  # a moment long past is not queued only to expire
            plans.append(Plan(kind, subject, due, template, values, expires_at=expires))

    if place == "newcomer":
        due = intro_due(recipient) if recipient.arrival_date else published
        plans.append(Plan("family_intro", f"family:{family.id}", due, "family_intro_newcomer",
                          about))
        if recipient.arrival_date:
            for days in c.checkin_days:
                dated("checkin", f"day:{days}", "checkin",
                      recipient.arrival_date + timedelta(days=days), c.checkin_expire_days,
                      {"when": _after(days, ago=False)})
        plans += eight_week_plans(recipient, place, family, members, recipient.arrival_date,
                                  now)
        return plans + close_question_plans(family, members, now, tz, recipient=recipient,
                                            place=place)

    due = min((intro_due(n) for n in newcomers), default=published)
    plans.append(Plan("family_intro", f"family:{family.id}", due, "family_intro_volunteer",
                      about))
    for newcomer in newcomers:
        for days in c.checkin_days:
            dated("buddy_nudge", f"newcomer:{newcomer.id}:day:{days}", "buddy_nudge",
                  newcomer.arrival_date + timedelta(days=days), c.checkin_expire_days,
                  {"newcomer": newcomer.full_name, "when": _after(days, ago=True)})
    plans += eight_week_plans(recipient, place, family, members,
                              min((n.arrival_date for n in newcomers), default=None), now)
    return plans + close_question_plans(family, members, now, tz, recipient=recipient,
                                        place=place)


def close_question_plans(family: Family, members: list[tuple[Person, str]], now: datetime,
                         tz: str | None = None, *, recipient: Person | None = None,
                         place: str | None = None) -> list[Plan]:
    """The six-month question, once per family: every member is asked on the family's question
    day (last newcomer's arrival + close_days) whether to carry on or finish.

    Not asked once decided (carrying on): services/endings.py decides when it closes. Its
    link is the recipient's own six-month survey (config/surveys.toml), whose first question
    is this one; without a recipient, the family page.
    """
    # Imported here: endings re-plans members through this module when a family ends.
    from buddy import surveys as config
    from buddy.services import endings, surveys

    if family.carry_on_until is not None or family.status != FamilyStatus.PUBLISHED:
        return []
    c = cadence_for(family.region)
    question = endings.question_of(family, members)
    due = local_moment(question.asked_on, c.send_time, tz)
    expires = local_moment(question.closes_on, time(0), tz)
    if expires <= now:  # a question long closed is not queued only to expire
        return []
    until = endings.carry_on_limit(family.region, question.asked_on)
    link = public_url("family.show")
    survey = config.at("six_months")
    if survey is not None and recipient is not None and place is not None and (
            surveys.audience_of(place) in survey.audience):
        intake = surveys.family_intake(family, members, recipient)
        link = surveys.link(surveys.Ask(
            person_id=recipient.id, survey=survey.key, intake=intake, family_id=family.id,
            audience=surveys.audience_of(place),
            until=question.closes_on + timedelta(days=config.asking().link_days)))
    return [Plan("close_continue", f"family:{family.id}", due, "close_continue",
                 {"until": _long_date(until), "link": link},
                 expires_at=expires)]


def _account_link() -> str:
    return public_url("account.index")


# --- When a run's introductions go -----------------------------------------------------------

@dataclass(frozen=True)
class Introductions:
    """When the introductions of a draft run go if it is published today (`words` says it)."""

    kind: str  # families | ambassadors
    now: int  # families (or newcomers and their ambassadors) introduced on publication
    later: tuple[tuple[date, int], ...]  # (day, how many families), earliest first
    not_sent: int  # newcomers who arrive too soon for an ambassador introduction
    days_before: int
    min_days: int

    @property
    def words(self) -> str:
        """One or two sentences for the lead, e.g. "Introductions go to 12 families now and
        to 30 families on 21 July 2027, 14 days before their newcomers arrive."."""
        if self.kind == "ambassadors":
            text = (f"Introductions go to {_count(self.now, 'newcomer')} and their "
                    f"ambassador{'' if self.now == 1 else 's'} now." if self.now
                    else "No introductions go by message.")
            if self.not_sent:
                text += (f" {_count(self.not_sent, 'newcomer')} "
                         f"{'arrives' if self.not_sent == 1 else 'arrive'} within "
                         f"{self.min_days} days, so Buddy does not introduce them: please "
                         "tell them and their ambassadors yourself.")
            return text
        parts = [f"to {_count(self.now, 'family')} now"] if self.now else []
        if self.later:
            waiting = sum(n for _, n in self.later)
            when = f"{self.days_before} days before their newcomers arrive"
            if len(self.later) == 1:
                parts.append(f"to {_count(waiting, 'family')} on "
                             f"{words.long_date(self.later[0][0])}, {when}")
            else:
                days = [f"{n} on {words.long_date(day)}" for day, n in self.later[:3]]
                rest = self.later[3:]
                if rest:
                    days.append(f"{sum(n for _, n in rest)} up to "
                                f"{words.long_date(rest[-1][0])}")
                parts.append(f"to {_count(waiting, 'family')} {when}: "
                             f"{', '.join(days[:-1])} and {days[-1]}")
        if not parts:
            return "Nobody new to introduce: the families of this run were introduced before."
        return f"Introductions go {' and '.join(parts)}."


def _count(n: int, noun: str) -> str:
    plural = "families" if noun == "family" else f"{noun}s"
    return f"{n} {noun if n == 1 else plural}"


def introductions(session: Session, *, run, today: date) -> Introductions:
    """When the introductions of draft `run` go if it is published `today`, by the cadence
    (`family_plans`, `ambassador_plans`): a family on publication, or family_intro_days_before
    its first newcomer's arrival if that is later; only its members not introduced before."""
    c = cadence_for(run.region)
    now = not_sent = 0
    later: dict[date, int] = {}
    if run.kind == "ambassadors":
        for newcomer in session.exec(
                select(Person).join(AmbassadorPair, AmbassadorPair.newcomer_id == Person.id)
                .where(AmbassadorPair.run_id == run.id)).all():
            arrival = newcomer.arrival_date
            # As ambassador_plans: less than min_days from now to the start of arrival day.
            if arrival is not None and (arrival - today).days <= c.ambassador_min_days:
                not_sent += 1
            else:
                now += 1
        return Introductions("ambassadors", now, (), not_sent, c.family_intro_days_before,
                             c.ambassador_min_days)

    def due(person: Person) -> date:
        if person.arrival_date is None:
            return today
        return max(today, person.arrival_date - timedelta(days=c.family_intro_days_before))

    for family in session.exec(select(Family).where(Family.run_id == run.id)).all():
        members = members_of(session, family.id)
        running = session.exec(select(Family).where(
            Family.region == family.region, Family.code == family.code,
            Family.status == FamilyStatus.PUBLISHED, Family.id != family.id)).first()
        # Publishing adds a draft's new members to the running family of the same code:
        # those already in it were introduced when it was published.
        before = {p.id for p, _ in members_of(session, running.id)} if running else set()
        everyone = {p.id: (p, place) for p, place in members + (
            members_of(session, running.id) if running else [])}
        newcomers = [due(p) for p, place in everyone.values()
                     if place == "newcomer" and p.arrival_date]
        days = [due(p) if place == "newcomer" else min(newcomers, default=today)
                for p, place in members if p.id not in before]
        if not days:
            continue
        if min(days) <= today:
            now += 1
        else:
            later[min(days)] = later.get(min(days), 0) + 1
    return Introductions("families", now, tuple(sorted(later.items())), 0,
                         c.family_intro_days_before, c.ambassador_min_days)


# --- Writing plans to the outbox --------------------------------------------------------------

def _apply(session: Session, person: Person, plans: list[Plan], *, reconcile: bool) -> None:
    """Queue `plans` for `person`; with `reconcile`, cancel their pending cadence rows not planned.

    A message already handed to a provider is never queued again, on any channel. A text that
    failed for good falls back to email.
    """
    user = session.get(User, person.user_id)
    if user is None:
        return
    now = utcnow()
    rows = session.exec(
        select(Message).where(Message.user_id == user.id, Message.kind.in_(CADENCE_KINDS))
    ).all()
    done = {
        (m.kind, m.subject) for m in rows
        if m.status in MAYBE_SENT_MESSAGE_STATUSES
        or (m.status == MessageStatus.FAILED and m.channel == "email")
    }
    failed = {(m.channel, m.kind, m.subject) for m in rows if m.status == MessageStatus.FAILED}
    known = {(m.channel, m.kind, m.subject): m for m in rows}
    wanted: set[tuple[str, str, str]] = set()
    if person.status == PersonStatus.ACTIVE:
        preferred = channel_for(person)
        for plan in plans:
            if plan.key in done:
                continue
            channel = preferred
            if (channel, *plan.key) in failed:
                channel = "email"
            title, body = render(plan, person, channel)
            outbox.enqueue(
                session, user=user, channel=channel, kind=plan.kind, subject=plan.subject,
                to_address=address_for(person, user, channel), title=title, body=body,
                due_at=plan.due_at, person=person, timezone=person.timezone,
                expires_at=plan.expires_at, known=known,
            )
            wanted.add((channel, *plan.key))
    planned = {plan.key for plan in plans}
    for m in rows:
        if m.status != MessageStatus.PENDING or (m.channel, m.kind, m.subject) in wanted:
            continue
        if reconcile or person.status != PersonStatus.ACTIVE or (m.kind, m.subject) in planned:
            # Conditional: a dispatcher may have claimed the row since it was read here.
            session.execute(
                sa.update(Message)
                .where(Message.id == m.id, Message.status == MessageStatus.PENDING)
                .values(status=MessageStatus.CANCELLED, updated_at=now)
            )


def _published_families(session: Session, person: Person) -> list[tuple[Family, str]]:
    return list(session.exec(
        select(Family, FamilyMember.place)
        .join(FamilyMember, FamilyMember.family_id == Family.id)
        .where(FamilyMember.person_id == person.id, Family.status == FamilyStatus.PUBLISHED)
    ).all())


def _published_pairs(session: Session, person: Person) -> list[AmbassadorPair]:
    return list(session.exec(
        select(AmbassadorPair).where(
            AmbassadorPair.status == PairStatus.PUBLISHED,
            (AmbassadorPair.ambassador_id == person.id) | (AmbassadorPair.newcomer_id == person.id),
        )
    ).all())


def plans_for(session: Session, person: Person, now: datetime) -> list[Plan]:
    """Every cadence message `person` should have, from the database as it stands."""
    queued = set(session.exec(
        select(Message.kind, Message.subject)
        .where(Message.user_id == person.user_id, Message.kind == "ambassador_intro")
    ).all())
    plans = pre_arrival_plans(person, now) + _unanswered(session, person,
                                                         hello_plans(person, now))
    for pair in _published_pairs(session, person):
        ambassador, newcomer = session.get(Person, pair.ambassador_id), session.get(
            Person, pair.newcomer_id)
        if ambassador is None or newcomer is None:
            continue
        for plan in ambassador_plans(person, pair, ambassador, newcomer, now,
                                     require_notice=False):
            if plan.key in queued or ambassador_plans(person, pair, ambassador, newcomer, now):
                plans.append(plan)
    for family, place in _published_families(session, person):
        plans += family_plans(person, place, family, members_of(session, family.id), now)
    return plans


def _unanswered(session: Session, person: Person, plans: list[Plan]) -> list[Plan]:
    """`plans` without the surveys the person has already answered (from the account page)."""
    from buddy.models import SurveyRequest

    if not plans:
        return plans
    done = set(session.exec(select(SurveyRequest.survey).where(
        SurveyRequest.person_id == person.id, SurveyRequest.answered_at.is_not(None))).all())
    return [p for p in plans if p.kind != "survey" or p.subject.partition(":")[0] not in done]


def reconcile(session: Session, person: Person, now: datetime | None = None) -> None:
    """Bring `person`'s pending cadence messages in line with their current details."""
    _apply(session, person, plans_for(session, person, now or utcnow()), reconcile=True)


# --- Hooks ------------------------------------------------------------------------------------

def person_joined(session: Session, person: Person) -> None:
    """At sign-up: the email confirmation and, for a newcomer, "what to expect"."""
    queue_email_confirmation(session, person)
    now = utcnow()
    session.flush()  # the person's id, for the hello survey's link
    _apply(session, person, pre_arrival_plans(person, now) + hello_plans(person, now),
           reconcile=False)


def ambassador_paired(session: Session, pair: AmbassadorPair, ambassador: Person,
                      newcomer: Person) -> None:
    """Introduce `ambassador` and `newcomer` to each other when arrival is 7+ days away."""
    now = utcnow()
    for recipient in (newcomer, ambassador):
        _apply(session, recipient, ambassador_plans(recipient, pair, ambassador, newcomer, now),
               reconcile=False)


def family_published(session: Session, family: Family, members: list[tuple[Person, str]]) -> None:
    """Queue the introduction to every member, newcomers' check-ins, buddies' nudges, close."""
    now = utcnow()
    for person, place in members:
        _apply(session, person, family_plans(person, place, family, members, now),
               reconcile=False)


def person_changed(session: Session, person: Person, *, others: bool = True) -> None:
    """After an arrival date, status, channel or opt-out change: move, cancel or requeue.

    Pending rows move to their new times (same key, so never a second one); pausing or
    withdrawing cancels them; resuming queues them again. With `others`, the members of
    their published families and their ambassador pairings, whose messages give this
    person's name and arrival date, are brought in line too; a caller that knows neither
    changed leaves them out (a family of six costs six re-plans).
    """
    now = utcnow()
    session.flush()
    reconcile(session, person, now)
    if not others:
        return
    related: dict[int, Person] = {}
    for family, _place in _published_families(session, person):
        for other, _ in members_of(session, family.id):
            if other.id != person.id:
                related[other.id] = other
    for pair in _published_pairs(session, person):
        other_id = pair.ambassador_id if pair.newcomer_id == person.id else pair.newcomer_id
        other = session.get(Person, other_id)
        if other is not None:
            related[other.id] = other
    for other in related.values():
        reconcile(session, other, now)


def queue_email_confirmation(session: Session, person: Person) -> Message | None:
    """Queue the signed link that confirms `person`'s email address (sent at any hour)."""
    user = session.get(User, person.user_id)
    if user is None or person.email_confirmed_at is not None:
        return None
    days = current_app.config["BUDDY_CONFIRM_LINK_DAYS"]
    link = public_url("messaging.confirm_email",
                      token=tokens.sign(tokens.CONFIRM, {"p": person.id, "e": user.email}))
    title, body = compose("email_confirm", person=person, channel="email",
                          values={"link": link, "days": days})
    return outbox.enqueue(
        session, user=user, channel="email", kind="email_confirm",
        subject=f"email:{user.email}"[:80], to_address=user.email, title=title, body=body,
        person=person,
    )


def volunteer_decided(session: Session, person: Person, *, approved: bool,
                      channel: str | None = None, subject: str | None = None) -> Message | None:
    """Tell a volunteer the DA lead's decision on them, in the decision's transaction.

    Once a decision: the day it was made is in the key, so a double submit queues one
    message, while a volunteer who leaves, rejoins and is approved again is told again.
    `channel` and `subject` re-queue a notice whose text failed (by email).
    """
    user = session.get(User, person.user_id)
    if user is None:
        return None
    kind = "volunteer_approved" if approved else "volunteer_declined"
    channel = channel or channel_for(person)
    region = reference.regions().get(person.region)
    decider = session.get(User, person.decided_by) if person.decided_by else None
    values = {
        "region": region.name if region else person.region,
        "role": "an ambassador" if person.role == "ambassador" else "a buddy",
        "link": _account_link(),
        # Who to ask: the person who decided, by name and address.
        "contact": (f"{decider.full_name}{', the DA lead,' if decider.role == 'lead' else ''}"
                    f" at {decider.email}") if decider else "your region's DA lead",
    }
    title, body = compose(kind, person=person, channel=channel, values=values)
    return outbox.enqueue(
        session, user=user, channel=channel, kind=kind,
        subject=subject or f"{person.region}:{clock.today().isoformat()}",
        to_address=address_for(person, user, channel), title=title, body=body, person=person,
        timezone=person.timezone,
    )


def notice_by_email(session: Session, message: Message, person: Person) -> None:
    """Queue again by email a notice whose text could not go (opted out, failed, switched off)."""
    volunteer_decided(session, person, approved=message.kind == "volunteer_approved",
                      channel="email", subject=message.subject)
