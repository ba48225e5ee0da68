"""Demo data: the national synthetic cohort from matching.synthetic, as Buddy accounts, laid
out as a programme in its second year on the clock's today (`_history` has the rules).

Everyone gets an @example.org address, so loading again replaces earlier demo data and
never touches real accounts.
"""

from __future__ import annotations

import random
import tomllib
from datetime import UTC, date, datetime, time, timedelta

import phonenumbers
import sqlalchemy as sa
from flask import current_app
from phonenumbers import PhoneNumberType
from phonenumbers import timezone as phone_timezones
from sqlmodel import Session

from buddy import clock, intakes, passwords, reference
from buddy import surveys as survey_config
from buddy.messaging import cadence
from buddy.messaging.models import CheckIn, Flag, Message
from buddy.models import (
    AmbassadorPair,
    AuditEvent,
    AvoidPair,
    Family,
    FamilyAnswer,
    FamilyMember,
    GuideVersion,
    MatchRun,
    Person,
    StageMove,
    SurveyAnswer,
    SurveyRequest,
    User,
    VolunteerConfirmation,
    utcnow,
)
from buddy.services import ServiceError, confirmations, endings, guides, training_year
from buddy.settings import CONFIG_DIR
from buddy.states import is_matchable
from buddy.statuses import FamilyStatus, FlagStatus, MessageStatus, PersonStatus
from matching import synthetic

DEMO_DOMAIN = "example.org"
# Statuses besides active, in percent of volunteers: leads have some decisions to make.
PENDING_VOLUNTEER_PERCENT = 8


def _names() -> dict:
    with open(CONFIG_DIR / "demo_names.toml", "rb") as fh:
        return tomllib.load(fh)


def _mobile(rng: random.Random, country: str) -> str:
    """A valid mobile number for `country` (the example number with random last digits)."""
    example = phonenumbers.example_number_for_type(country, PhoneNumberType.MOBILE)
    if example is None:
        country, example = "GB", phonenumbers.example_number_for_type("GB", PhoneNumberType.MOBILE)
    digits = str(example.national_number)
    for _ in range(20):
        candidate = digits[:-4] + f"{rng.randrange(10_000):04d}"
        number = phonenumbers.parse("+" + str(example.country_code) + candidate)
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def _next_mobile(e164: str) -> str:
    """The next valid number after `e164` in its last four digits (no random draw, so the
    rest of the seeded demo data stays the same)."""
    number = phonenumbers.parse(e164)
    digits = str(number.national_number)
    last = int(digits[-4:])
    for step in range(1, 10_000):
        candidate = phonenumbers.parse(
            f"+{number.country_code}{digits[:-4]}{(last + step) % 10_000:04d}")
        if phonenumbers.is_valid_number(candidate):
            return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164)
    raise ValueError(f"no free mobile number near {e164}")


def _timezone(e164: str) -> str:
    zones = [z for z in phone_timezones.time_zones_for_number(phonenumbers.parse(e164))
             if z in reference.timezones()]
    return zones[0] if zones else "Europe/London"


def _channel(rng: random.Random, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def loaded(session: Session) -> bool:
    """True when the demo admin account exists."""
    admin = session.scalar(sa.select(User.id).where(User.email == f"admin@{DEMO_DOMAIN}"))
    return admin is not None


def real_accounts(session: Session) -> int:
    """How many accounts are not demo accounts."""
    return session.scalar(sa.select(sa.func.count()).select_from(User).where(
        sa.not_(User.email.like(f"%@{DEMO_DOMAIN}")))) or 0


def clear(session: Session) -> None:
    """Delete every demo account and every match (demo databases hold nothing else)."""
    for table in (SurveyAnswer, SurveyRequest):
        session.execute(sa.delete(table))
    for table in (AmbassadorPair, AvoidPair, FamilyAnswer, Family, MatchRun, StageMove,
                  VolunteerConfirmation, GuideVersion):
        session.execute(sa.delete(table))
    demo_users = sa.select(User.id).where(User.email.like(f"%@{DEMO_DOMAIN}"))
    session.execute(sa.update(AuditEvent).where(AuditEvent.actor_id.in_(demo_users))
                    .values(actor_id=None))
    session.execute(sa.delete(Person).where(Person.user_id.in_(demo_users)))
    session.execute(sa.delete(User).where(User.email.like(f"%@{DEMO_DOMAIN}")))


def refuse_production(env: str) -> None:
    """Stop demo data reaching a production deployment.

    :raises ServiceError: when `env` is production: every demo account, an admin included,
        has the password printed in the README.
    """
    if env == "production":
        raise ServiceError("buddy demo does not run in production (BUDDY_ENV=production): "
                           "demo accounts, an admin among them, share a published password. "
                           "Load demo data into a development database of its own")


def load(*, session: Session, seed: int, password: str) -> dict[str, int]:
    """Replace the demo data with the seeded national cohort and staff accounts, as a
    programme in its second year on the clock's today (BUDDY_NOW moves it).

    :raises ServiceError: in production, or when the database holds real accounts (demo
        data is for demo databases only, and loading it deletes every match).
    """
    refuse_production(current_app.config["BUDDY_ENV"])
    if real := real_accounts(session):
        raise ServiceError(f"This database has {real} real accounts: load demo data only "
                           "into a database of its own (set BUDDY_DATABASE_URL)")
    with open(CONFIG_DIR / "demo.toml", "rb") as fh:
        demo_cfg = tomllib.load(fh)
    names = _names()
    rng = random.Random(seed)
    # One hash for every demo account: argon2 per person would take minutes.
    password_hash = passwords.hash_password(password)
    now = utcnow()
    clear(session)

    counts = {"admins": 1, "DA leads": 0, "newcomers": 0, "buddies": 0, "ambassadors": 0}
    session.add(User(email=f"admin@{DEMO_DOMAIN}", full_name="Demo Admin", role="admin",
                     password_hash=password_hash))
    for slug, region in reference.regions().items():
        session.add(User(email=f"lead.{slug}@{DEMO_DOMAIN}", role="lead", region=slug,
                         full_name=f"{region.name} DA Lead", password_hash=password_hash))
        counts["DA leads"] += 1

    cohort = synthetic.national_cohort(seed)
    consent_percent = demo_cfg["newcomers"]["consent_sensitive_percent"]
    withdrawn_percent = demo_cfg["newcomers"]["withdrawn_percent"]
    used_emails: set[str] = set()
    used_phones: set[str] = set()
    rows: list[tuple[User, dict]] = []
    for p in cohort["people"]:
        country = p.get("country") or "GB"
        pool = names.get(country, names["other"])
        female = p.get("gender") == "F" or (p.get("gender") is None and rng.random() < 0.5)
        first = rng.choice(pool["female" if female else "male"])
        last = rng.choice(pool["family"])
        base = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        email, n = f"{base}@{DEMO_DOMAIN}", 1
        while email in used_emails:
            n += 1
            email = f"{base}{n}@{DEMO_DOMAIN}"
        used_emails.add(email)

        # Newcomers are mostly still abroad: their number and time zone are from home.
        abroad = p["role"] == "newcomer" and country != "GB"
        phone = _mobile(rng, country if abroad else "GB")
        while phone in used_phones:  # one owner per verified number (uq_people_verified_phone)
            phone = _next_mobile(phone)
        used_phones.add(phone)
        consent = rng.random() * 100 < consent_percent
        # Demo members start where buddy/states.py would have taken them: most volunteers
        # approved by their region's lead, some still waiting, some newcomers gone.
        status = PersonStatus.ACTIVE
        if p["role"] == "newcomer" and rng.random() * 100 < withdrawn_percent:
            status = PersonStatus.WITHDRAWN
        elif p["role"] != "newcomer" and rng.random() * 100 < PENDING_VOLUNTEER_PERCENT:
            status = PersonStatus.PENDING
        approved_region = (p["region"] if p["role"] != "newcomer"
                           and status == PersonStatus.ACTIVE else None)
        gender = {"F": "female", "M": "male"}.get(p.get("gender") or "")
        profile = dict(
            full_name=f"{first} {last}",
            role=p["role"],
            phone=phone,
            phone_country=phonenumbers.region_code_for_number(phonenumbers.parse(phone)),
            channel=_channel(rng, demo_cfg["channels"]),
            timezone=_timezone(phone) if abroad else "Europe/London",
            region=p["region"],
            scheme=p.get("scheme"),
            stage=p["stage"],
            arrival_date=date.fromisoformat(p["arrival"]) if p.get("arrival") else None,
            wants_ambassador=bool(p.get("wants_ambassador")),
            interests=p.get("interests", []),
            share_email=rng.random() < 0.8,
            share_phone=rng.random() < 0.7,
            setting=p.get("setting") if p["role"] != "newcomer" else None,
            capacity=p.get("capacity"),
            # The cohort's default (spec/matching.md): ST3 and qualified primary care anchor.
            can_anchor=p["role"] == "buddy" and bool(p.get(
                "can_anchor", p["stage"] in ("ST3", "qualified")
                and p.get("setting") == "primary")),
            gmc_number=f"{rng.randrange(10**6, 10**7):07d}" if p["role"] != "newcomer" else None,
            status=status,
            approved_region=approved_region,
            contact_consent_at=now,
            # Demo addresses (example.org) count as confirmed, so demo emails are not held;
            # demo numbers count as verified, so demo texts go as texts.
            email_confirmed_at=now,
            phone_verified_at=now,
            sensitive_consent_at=now if consent else None,
            country=p.get("country") if consent else None,
            languages=p.get("languages", []) if consent else [],
            gender=gender if consent else None,
            same_gender_anchor=bool(p.get("same_gender_anchor")) and consent and bool(gender),
            support_needs=[],
        )
        user = User(email=email, full_name=profile["full_name"], role="member",
                    password_hash=password_hash)
        rows.append((user, profile))
        counts[{"newcomer": "newcomers", "buddy": "buddies",
                "ambassador": "ambassadors"}[p["role"]]] += 1

    session.add_all(user for user, _ in rows)
    session.flush()
    people = [Person(user_id=user.id, **profile) for user, profile in rows]
    session.add_all(people)
    session.flush()
    counts.update(_history(session, rng, people, now, demo_cfg))
    roles = {"newcomer": "newcomers", "buddy": "buddies", "ambassador": "ambassadors"}
    for key in roles.values():
        counts[key] = 0
    for person in people:
        counts[roles[person.role]] += 1
        # Consent and confirmations date from sign-up, which _history has just set.
        person.contact_consent_at = person.email_confirmed_at = person.created_at
        person.phone_verified_at = person.created_at
        if person.sensitive_consent_at is not None:
            person.sensitive_consent_at = person.created_at
    counts["survey answers"] = _survey_answers(session, rng, people, now)
    _guides(session, now)
    session.add(AuditEvent(action="demo_loaded", detail={"seed": seed, **counts}))
    session.commit()
    return counts


def _guides(session: Session, now: datetime) -> None:
    """Version 1 of every region's welcome guide, by its demo DA lead, and of the national
    one, by the demo admin, from config/demo_guides/ (checked as a lead's save is)."""
    staff = dict(session.execute(sa.select(User.email, User.id).where(
        User.role.in_(("lead", "admin")), User.email.like(f"%@{DEMO_DOMAIN}"))).all())
    for region in [*reference.regions(), guides.NATIONAL]:
        writer = (f"admin@{DEMO_DOMAIN}" if region == guides.NATIONAL
                  else f"lead.{region}@{DEMO_DOMAIN}")
        body = (CONFIG_DIR / "demo_guides" / f"{region}.md").read_text(encoding="utf-8")
        session.add(GuideVersion(region=region, version=1, body=guides.clean_body(body),
                                 written_by=staff[writer], written_at=now))


# Shares of check-ins answered at each day after arrival, and of answers asking for a call.
ANSWER_RATE = {7: 0.72, 28: 0.58, 56: 0.47, 91: 0.41}
CALL_RATE = 0.08
UNCLEAR_RATE = 0.03
# The rest of the second year's proportions: config/demo.toml [programme_year].
with open(CONFIG_DIR / "demo.toml", "rb") as _fh:
    _YEAR = tomllib.load(_fh)["programme_year"]
QUESTION_ANSWER_RATE = _YEAR["six_month_answer_percent"] / 100
CARRY_ON_RATE = _YEAR["carry_on_percent"] / 100
# The first PENDING_ALUMNI of a region's alumni wait for their lead.
ALUMNI_PERCENT, MIN_ALUMNI = _YEAR["alumni_percent"], _YEAR["min_alumni"]
PENDING_ALUMNI = _YEAR["pending_alumni"]
CONFIRMED_PERCENT, AVAILABLE_PERCENT = _YEAR["confirmed_percent"], _YEAR["available_percent"]
# Anchors kept out of the running intake's families: the next intake's match needs room.
ANCHOR_RESERVE = _YEAR["anchor_reserve_percent"] / 100
LADDER = ("ST1", "ST2", "ST3", "qualified")


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def _share(intake: str, region: str, february_percent: float) -> float:
    """The share of a year's starters in `intake`: most start at the training-year change."""
    programme = intakes.programme(region)
    if intakes.start(intake).month == programme.training_year_month:
        return (100 - february_percent) / 100
    return february_percent / 100 / max(1, len(programme.intake_months) - 1)


def _alumni_intake(today: date, region: str, before: str) -> str:
    """The latest intake, `before` or earlier, whose newcomers have been invited to volunteer
    (a year into training): volunteers are ST2 or later."""
    wait = timedelta(days=intakes.programme(region).invite_alumni_days_after)
    intake = before
    for _ in range(6):
        first = intakes.start(intake)
        due = (intakes.training_year_change(first.year + 1, region)
               if first.month == intakes.programme(region).training_year_month
               else first.replace(year=first.year + 1))
        if due + wait <= today:
            return intake
        intake = intakes.previous(intake, region)[0]
    return intake


def _last_change(today: date, region: str) -> date:
    change = intakes.training_year_change(today.year, region)
    return change if change <= today else intakes.training_year_change(today.year - 1, region)


def _history(session: Session, rng: random.Random, people: list[Person], now: datetime,
             demo_cfg: dict) -> dict[str, int]:
    """A programme in its second year, as of the clock's today, region by region.

    The rules (README.md, "Demo accounts"): the intake a lead matches now (intakes.next_intake) is
    signing up: newcomers with arrival dates in it, no family. The intake before it is running:
    published families, check-ins answered as of today, six-month answers when asked. The one
    before that has ended: every family ended the day its question closed, with the reason
    buddy daily would give. Newcomers are spread over the three intakes as a year's starters
    are (config/demo.toml, about 90% in August). A few newcomers of the latest intake a year
    into training are buddies now. Stage moves due up to today are done, and volunteers have
    answered the next intake's question (treated as asked even before its asking day, so a lead
    can run a match at once). Returns counts.
    """
    today = clock.today()
    february = demo_cfg["newcomers"]["february_start_percent"]
    counts = {"families running": 0, "families ended": 0, "alumni buddies": 0,
              "stage moves": 0, "volunteers confirmed": 0}
    by_region: dict[str, list[Person]] = {}
    for p in people:
        by_region.setdefault(p.region, []).append(p)
    for region, members in sorted(by_region.items()):
        nxt = intakes.next_intake(today, region)
        last, before = intakes.previous(nxt, region, 2)
        alumni_intake = _alumni_intake(today, region, before)
        newcomers = [p for p in members if p.role == "newcomer"]
        alumni = [p for p in newcomers if p.status == PersonStatus.ACTIVE][
            : max(MIN_ALUMNI, len(newcomers) * ALUMNI_PERCENT // 100)]
        chosen = set(map(id, alumni))
        newcomers = [p for p in newcomers if id(p) not in chosen]
        layers = (nxt, last, before)
        weights = [_share(i, region, february) for i in layers]
        for p in newcomers:
            _place_in(rng, p, rng.choices(layers, weights=weights)[0], now)
        for n, p in enumerate(alumni):
            _alumnus(rng, p, alumni_intake, region, pending=n < PENDING_ALUMNI, now=now)
        counts["alumni buddies"] += len(alumni)
        for p in members:
            if p.role != "newcomer" and id(p) not in chosen:
                _volunteer_joined(rng, p, today, region)
        for p in members:
            intakes.assign(p)
        session.flush()
        number = 0
        for intake, running in ((before, False), (last, True)):
            number, made = _families(session, rng, region, intake, members, number,
                                     running=running, now=now)
            for key, n in made.items():
                counts[key] += n
        counts["stage moves"] += _stage_moves(session, members, today)
        _invitations(session, members, today)
        counts["volunteers confirmed"] += _confirmations(session, rng, members, nxt, region,
                                                         now)
    return counts


def _place_in(rng: random.Random, p: Person, intake: str, now: datetime) -> None:
    """Give a newcomer an arrival in the first week of `intake` and a sign-up before it."""
    first = intakes.start(intake)
    p.arrival_date = first + timedelta(days=rng.randint(0, 6))
    signed_up = _at(p.arrival_date) - timedelta(days=rng.uniform(14, 150))
    if signed_up >= now:  # the next intake: sign-ups spread over the last three months
        signed_up = now - timedelta(days=rng.uniform(0.1, 90))
    p.created_at = p.updated_at = signed_up


def _alumnus(rng: random.Random, p: Person, intake: str, region: str, *, pending: bool,
             now: datetime) -> None:
    """Make a newcomer of `intake` a buddy who volunteered after their invitation: their
    account and intake carry over; a lead approved them unless `pending`."""
    _place_in(rng, p, intake, now)
    p.role = "buddy"
    p.stage = "ST1"  # moved on by _stage_moves
    p.intake = intake
    p.setting = "primary"
    p.can_anchor = False
    p.capacity = rng.choice([1, 1, 2])
    p.wants_ambassador = False
    p.gmc_number = f"{rng.randrange(10**6, 10**7):07d}"
    p.status = PersonStatus.PENDING if pending else PersonStatus.ACTIVE
    p.approved_region = None if pending else region
    p.updated_at = now - timedelta(days=rng.uniform(0.1, 20))


def _volunteer_joined(rng: random.Random, p: Person, today: date, region: str) -> None:
    """A volunteer's sign-up day, late enough that the moves due since lead to their stage:
    volunteers join at ST2 or later."""
    last_change = _last_change(today, region)
    floor = {"ST2": last_change,
             "ST3": intakes.training_year_change(last_change.year - 1, region)}.get(
        p.stage, today - timedelta(days=3 * 365))
    # Most volunteers have been with the programme a while: joins lean to the early side.
    day = floor + timedelta(days=1 + int(max(0, (today - floor).days - 1) * rng.random() ** 2))
    p.created_at = p.updated_at = min(_at(day), _at(today, 0))


def _families(session: Session, rng: random.Random, region: str, intake: str,
              members: list[Person], number: int, *, running: bool,
              now: datetime) -> tuple[int, dict[str, int]]:
    """The families of an earlier intake, made by its match run three weeks before it began;
    returns the last family number used and counts."""
    today = clock.today()
    published = _at(intakes.start(intake) - timedelta(days=21))
    group_of = [p for p in members if p.role == "newcomer" and p.intake == intake
                and is_matchable(p)]
    ready = [p for p in members if p.role == "buddy" and is_matchable(p)
             and p.created_at < published and not p.intake]
    anchors = [p for p in ready if p.can_anchor]
    if running:
        anchors = anchors[: len(anchors) - int(len(anchors) * ANCHOR_RESERVE)]
    helpers = [p for p in ready if not p.can_anchor]
    made = {"families running": 0, "families ended": 0}
    for anchor in anchors:
        # Keep the family rules (spec/matching.md): capacity, same-gender anchors.
        fits = [p for p in group_of if not p.same_gender_anchor or p.gender == anchor.gender]
        group = fits[: min(3, anchor.capacity or 0)]
        if not group:
            continue
        group_of = [p for p in group_of if p not in group]
        number += 1
        family = Family(code=f"{region}-{number:03d}", region=region,
                        status=FamilyStatus.PUBLISHED, published_at=published, intake=intake,
                        created_at=published)
        session.add(family)
        session.flush()
        places = [(anchor, "anchor")] + [(p, "newcomer") for p in group]
        helper = next((h for h in helpers if (h.capacity or 0) >= len(group)), None)
        if helper is not None:
            helpers.remove(helper)
            places.append((helper, "buddy"))
        for person, place in places:
            session.add(FamilyMember(family_id=family.id, person_id=person.id, place=place,
                                     reasons=["placed by an earlier match run"]))
        _introduced(session, family, places, published)
        for newcomer in group:
            _check_ins(session, rng, newcomer, now)
        ended = _six_months(session, rng, family, places, today, running=running)
        made["families ended" if ended else "families running"] += 1
    return number, made


def _introduced(session: Session, family: Family, places: list[tuple[Person, str]],
                published: datetime) -> None:
    """The introductions its members were sent when the family was published, as the outbox
    keeps them: without them a later run's publishing would introduce everyone again."""
    emails = dict(session.exec(sa.select(User.id, User.email).where(
        User.id.in_([p.user_id for p, _ in places]))).all())
    for person, place in places:
        template = "family_intro_newcomer" if place == "newcomer" else "family_intro_volunteer"
        title = cadence.texts()[template]["title"]
        session.add(Message(
            user_id=person.user_id, person_id=person.id, region=person.region,
            channel=person.channel, kind="family_intro", subject=f"family:{family.id}",
            to_address=emails[person.user_id] if person.channel == "email" else person.phone,
            title=title, body=title, due_at=published, timezone=person.timezone,
            status=MessageStatus.SENT, sent_at=published, created_at=published,
            updated_at=published))


def _six_months(session: Session, rng: random.Random, family: Family,
                places: list[tuple[Person, str]], today: date, *, running: bool) -> bool:
    """The six-month question as buddy daily would have left it today; True if it ended.

    An ended intake's families mostly chose to finish (a few members said carry on, never
    both the anchor and a newcomer). A running intake's family whose question has closed
    carried on: its anchor and a newcomer said so.
    """
    question = endings.question_of(family, places)
    if question.asked_on > today:
        return False
    answered_until = min(today, question.closes_on - timedelta(days=1))
    answers: dict[int, FamilyAnswer] = {}
    for person, _place in places:
        if rng.random() >= QUESTION_ANSWER_RATE:
            continue
        day = question.asked_on + timedelta(
            days=rng.randint(0, (answered_until - question.asked_on).days))
        answer = endings.CARRY_ON if rng.random() < CARRY_ON_RATE else endings.FINISH
        answers[person.id] = FamilyAnswer(family_id=family.id, person_id=person.id,
                                          answer=answer, channel=person.channel,
                                          answered_at=_at(day, 12))
    closed = question.closes_on <= today
    anchor = next(p for p, place in places if place == "anchor")
    newcomer = next(p for p, place in places if place == "newcomer")
    if running and closed:
        # The anchor and a newcomer chose to carry on, or buddy daily would end it today.
        wanted = [anchor] + ([] if any(
            answers.get(p.id) is not None and answers[p.id].answer == endings.CARRY_ON
            for p, place in places if place == "newcomer") else [newcomer])
        for person in wanted:
            answers[person.id] = FamilyAnswer(
                family_id=family.id, person_id=person.id, answer=endings.CARRY_ON,
                channel=person.channel, answered_at=_at(question.asked_on + timedelta(days=3), 12))
    elif endings.decide(family, places, answers) is None:
        answers[anchor.id].answer = endings.FINISH  # an ended intake: never both carry on
    session.add_all(answers.values())
    if not closed:
        return False
    reason = endings.decide(family, places, answers)
    ended_on = question.closes_on
    if reason is None:
        limit = endings.carry_on_limit(family.region, question.asked_on)
        if limit > today:
            family.carry_on_until = limit
            return False
        reason, ended_on = endings.YEAR_END, limit
    family.status, family.locked = FamilyStatus.ENDED, False
    family.ended_at, family.end_reason = _at(ended_on, 7), reason
    return True


# Who answers each survey (the evaluation's forms: most answer at the start, fewer later).
SURVEY_RATES = {"hello": 0.60, "eight_weeks": 0.45, "six_months": 0.35}
# Of those who start, some stop halfway: their answers so far are kept.
SURVEY_PARTIAL = 0.1
# Answers lean positive, not uniformly: weights for scale points 1 to 5, and for each
# choice's options in their order in config/surveys.toml (the rest share what is left).
SCALE_WEIGHTS = (4, 9, 24, 38, 25)
CHOICE_LEAN = 0.45
# What people write, by survey: before arrival (hello), and about the family later.
SURVEY_TEXTS = {
    "hello": ("I arrive with my two children and need a school place.",
              "I have not worked in general practice before, only in hospital.",
              "Could someone explain the ePortfolio before I start?",
              "I am worried about the AKT and would like a study group.",
              "I do not drive yet; how do people get to home visits?",
              "My English is good but I find phone consultations hard.",
              "I would like to meet other doctors from Nigeria in the region.",
              "Where do trainees usually live near the practice?"),
    "eight_weeks": ("We met for coffee twice; I would like more practical tips.",
                    "My buddy was busy, so the anchor helped instead.",
                    "The WhatsApp group is very active and friendly.",
                    "It took three weeks before anyone replied to me.",
                    "Meeting a hospital doctor in the family helped with my rotation.",
                    "Practical help with the ePortfolio was the most useful part."),
    "six_months": ("It helped a lot to have someone to ask about the portfolio.",
                   "Please start the family earlier, before we arrive.",
                   "Finding housing was the hardest part; my buddy helped me find a flat.",
                   "I would like to be a buddy next year.",
                   "We stopped meeting after Christmas, but I knew whom to ask.",
                   "More time for the volunteers would help: my rota made it hard."),
}


def _survey_answers(session: Session, rng: random.Random, people: list[Person],
                    now: datetime) -> int:
    """Survey requests and answers as buddy daily and the members would have left them:
    hello at sign-up, eight weeks and six months for the families of earlier intakes.
    Returns how many answers."""
    today = clock.today()
    asked: list[tuple[Person, str, str, int | None, str, datetime]] = []
    by_id = {p.id: p for p in people}
    for p in people:
        if p.role == "newcomer" and p.intake:
            sent = p.created_at + timedelta(days=1)
            if sent < now:
                asked.append((p, "hello", p.intake, None, "newcomer", sent))
    session.flush()
    # Every family in a demo database is demo data (clear deletes the rest).
    family_answers = {(a.family_id, a.person_id): a.answer
                      for a in session.exec(sa.select(FamilyAnswer)).scalars()}
    families = list(session.exec(sa.select(Family).order_by(Family.id)).scalars())
    members: dict[int, list[tuple[Person, str]]] = {}
    for m in session.exec(sa.select(FamilyMember).order_by(FamilyMember.id)).scalars():
        if m.person_id in by_id:
            members.setdefault(m.family_id, []).append((by_id[m.person_id], m.place))
    for family in families:
        places = members.get(family.id, [])
        arrivals = [p.arrival_date for p, place in places
                    if place == "newcomer" and p.arrival_date]
        if not arrivals:
            continue
        eight = min(arrivals) + timedelta(days=survey_config.surveys()["eight_weeks"].days)
        question = endings.question_of(family, places)
        for person, place in places:
            audience = "newcomer" if place == "newcomer" else "volunteer"
            if eight <= today:
                asked.append((person, "eight_weeks", family.intake, family.id, audience,
                              _at(eight)))
            if question.asked_on <= today:
                asked.append((person, "six_months", family.intake, family.id, audience,
                              _at(question.asked_on)))
    settings = survey_config.asking()
    given: list[tuple[SurveyRequest, SurveyAnswer]] = []
    seen: set[tuple[int, str, str]] = set()
    for person, key, intake, family_id, audience, sent in asked:
        if (person.id, key, intake) in seen:
            continue  # a volunteer in two families of one intake is asked once
        seen.add((person.id, key, intake))
        survey = survey_config.surveys()[key]
        questions = list(survey.questions_for(audience))
        carry_on = family_answers.get((family_id, person.id))
        if key == "six_months":
            # The carry-on question is the family's: asked only of those who answered it
            # (the survey is how most did), with the same answer.
            questions = [q for q in questions if not q.records or carry_on is not None]
        request = SurveyRequest(person_id=person.id, survey=key, edition=survey.edition,
                                intake=intake, region=person.region, family_id=family_id,
                                audience=audience, created_at=sent, sent_at=sent)
        answering = rng.random() < SURVEY_RATES[key] and person.status != PersonStatus.WITHDRAWN
        # The reminders buddy daily has sent by now; asking stopped for those not active.
        elapsed = (today - sent.astimezone(clock.ENGLAND).date()).days
        request.reminders_sent = min(settings.reminders, elapsed // settings.reminder_days)
        if person.status != PersonStatus.ACTIVE:
            request.stopped_at, request.stop_reason = sent + timedelta(days=2), "left"
        if not answering:
            session.add(request)
            continue
        when = min(now, sent + timedelta(hours=rng.randint(2, 24 * 6)))
        upto = len(questions)
        if rng.random() < SURVEY_PARTIAL:
            upto = rng.randint(1, max(1, len(questions) - 1))
        request.started_at = when
        request.answered_at = when if upto == len(questions) else None
        session.add(request)
        for question in questions[:upto]:
            if question.records:
                value = carry_on
            elif question.kind == "scale":
                value = rng.choices(survey_config.SCALE, weights=SCALE_WEIGHTS)[0]
            elif question.kind == "choice":
                options = question.options
                rest = (1 - CHOICE_LEAN) / max(1, len(options) - 1)
                value = rng.choices([o.key for o in options],
                                    weights=[CHOICE_LEAN] + [rest] * (len(options) - 1))[0]
            else:
                value = rng.choice(SURVEY_TEXTS[key]) if rng.random() < 0.3 else ""
            given.append((request, SurveyAnswer(
                question=question.key, kind=question.kind, wording=question.text,
                answer=value, answer_words=question.words_for(value) if value else "",
                answered_at=when)))
    # One flush for every request's id, then the answers (a flush each took seconds).
    session.flush()
    for request, answer in given:
        answer.request_id = request.id
    session.add_all(answer for _, answer in given)
    return len(given)


def _stage_moves(session: Session, members: list[Person], today: date) -> int:
    """Every stage move due up to today, done on its day (buddy/services/training_year.py):
    newcomers and alumni move on from ST1; a volunteer's stage today is where their moves
    since joining led."""
    made = 0
    for p in members:
        days = training_year.schedule(p, today)
        if not days:
            continue
        stage = p.stage
        if p.role != "newcomer" and not p.intake and stage in LADDER:
            stage = LADDER[max(LADDER.index(stage) - len(days), 1)]
        for day in days:
            after = training_year.NEXT_STAGE.get(stage, stage)
            session.add(StageMove(person_id=p.id, due_on=day, from_stage=stage, to_stage=after,
                                  moved_at=_at(day, 6)))
            stage = after
            made += 1
        p.stage = stage
    return made


def _invitations(session: Session, members: list[Person], today: date) -> None:
    """The invitation to volunteer (buddy/services/training_year.py), sent on its day to the
    newcomers of earlier intakes who may volunteer: buddy daily has nobody left to invite."""
    running = set(session.exec(
        sa.select(FamilyMember.person_id).join(Family, Family.id == FamilyMember.family_id)
        .where(Family.status == FamilyStatus.PUBLISHED, Family.region == members[0].region)).all())
    emails = None
    for p in members:
        first = training_year.first_move(p) if p.role == "newcomer" else None
        if (first is None or p.status != PersonStatus.ACTIVE or p.id in running
                or today < first + timedelta(
                    days=intakes.programme(p.region).invite_alumni_days_after)):
            continue
        if emails is None:
            emails = dict(session.exec(sa.select(User.id, User.email).where(
                User.id.in_([m.user_id for m in members]))).all())
        sent = _at(first + timedelta(days=intakes.programme(p.region).invite_alumni_days_after),
                   9)
        title = cadence.texts()[training_year.INVITE_KIND]["title"]
        session.add(Message(
            user_id=p.user_id, person_id=p.id, region=p.region, channel=p.channel,
            kind=training_year.INVITE_KIND, subject=training_year.INVITE_SUBJECT,
            to_address=emails[p.user_id] if p.channel == "email" else p.phone, title=title,
            body=title, due_at=sent, timezone=p.timezone, status=MessageStatus.SENT, sent_at=sent,
            created_at=sent, updated_at=sent))


def _confirmations(session: Session, rng: random.Random, members: list[Person], intake: str,
                   region: str, now: datetime) -> int:
    """Volunteers' answers for the next intake: those who joined since its asking day count as
    confirmed (buddy/services/confirmations.py); of the others, most have answered. When the
    asking day has come, the question (and the reminder, when due) went to every volunteer
    who joined before it, so buddy daily has nobody left to ask."""
    asked = confirmations.ask_day(intake, region)
    since = min(_at(asked, 9), now - timedelta(days=14))
    remind_on = intakes.start(intake) - timedelta(days=confirmations.REMINDER_DAYS_BEFORE)
    today = clock.today()
    volunteers = [p for p in members if p.role in ("buddy", "ambassador") and is_matchable(p)]
    emails = dict(session.exec(sa.select(User.id, User.email).where(
        User.id.in_([p.user_id for p in volunteers] or [-1]))).all())
    title = f"Can you be a buddy for the {intakes.label(intake)} intake?"
    yes = 0
    for p in volunteers:
        answer = None
        if p.created_at.date() >= asked:
            channel, answered = "signup", p.created_at
        elif rng.random() * 100 < CONFIRMED_PERCENT:
            channel = p.channel
            answered = since + (now - since) * rng.random()
        else:
            channel = None
        if channel is not None:
            available = channel == "signup" or rng.random() * 100 < AVAILABLE_PERCENT
            answer = VolunteerConfirmation(
                person_id=p.id, intake=intake, available=available,
                capacity=p.capacity if available else None, channel=channel,
                answered_at=answered)
            session.add(answer)
            yes += available
        if channel == "signup" or asked > today:
            continue
        kinds = [(confirmations.ASK_KIND, _at(asked, 9))]
        if answer is None and today >= remind_on:
            kinds.append((confirmations.REMINDER_KIND, _at(remind_on, 9)))
        for kind, sent in kinds:
            session.add(Message(
                user_id=p.user_id, person_id=p.id, region=p.region, channel=p.channel,
                kind=kind, subject=confirmations.subject(intake),
                to_address=emails[p.user_id] if p.channel == "email" else p.phone,
                title=title, body=title, due_at=sent, timezone=p.timezone,
                status=MessageStatus.SENT, sent_at=sent, created_at=sent, updated_at=sent))
    return yes


def _check_ins(session: Session, rng: random.Random, person: Person, now) -> None:
    for day, rate in ANSWER_RATE.items():
        sent = datetime.combine(person.arrival_date + timedelta(days=day), time(10), tzinfo=UTC)
        if sent > now:
            continue
        answer = None
        if rng.random() < rate:
            answer = "call" if rng.random() < CALL_RATE else "ok"
        check_in = CheckIn(person_id=person.id, region=person.region, day=day,
                           channel=person.channel, sent_at=sent, answer=answer,
                           answered_at=sent + timedelta(hours=rng.randint(1, 30)) if answer
                           else None, answer_channel=person.channel if answer else None)
        session.add(check_in)
        session.flush()
        unclear = answer is None and rng.random() < UNCLEAR_RATE
        if answer == "call" or unclear:
            # Older flags have mostly been dealt with; recent ones wait in the queue.
            age = (now - sent).days
            status = FlagStatus.OPEN if age < 20 or rng.random() < 0.15 else rng.choice(
                [FlagStatus.CONTACTED, FlagStatus.RESOLVED])
            session.add(Flag(person_id=person.id, region=person.region,
                             reason="asked_for_call" if answer == "call" else "unclear_reply",
                             text="2" if answer == "call" else "when is induction??",
                             check_in_id=check_in.id, status=status,
                             created_at=sent + timedelta(hours=2)))
