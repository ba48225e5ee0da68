"""Demo data: the national synthetic cohort from matching.synthetic, as Buddy accounts.

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

from buddy import intakes, passwords, reference
from buddy.messaging.models import CheckIn, Flag
from buddy.models import (
    AmbassadorPair,
    AuditEvent,
    AvoidPair,
    Family,
    FamilyMember,
    MatchRun,
    Person,
    User,
    utcnow,
)
from buddy.services import ServiceError
from buddy.settings import CONFIG_DIR
from buddy.states import PersonStatus, is_matchable
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
    for table in (AmbassadorPair, AvoidPair, Family, MatchRun):
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
    """Replace the demo data with the seeded national cohort and staff accounts.

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
            status=status.value,
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
    counts["families"] = _history(session, rng, people, now)
    for person in people:  # after _history, which moves the earlier intake's arrival dates
        intakes.assign(person)
    session.add(AuditEvent(action="demo_loaded", detail={"seed": seed, **counts}))
    session.commit()
    return counts


# Shares of check-ins answered at each day after arrival, and of answers asking for a call.
ANSWER_RATE = {7: 0.72, 28: 0.58, 56: 0.47, 91: 0.41}
CALL_RATE = 0.08
UNCLEAR_RATE = 0.03
EARLIER_COHORT = 0.3


def _history(session: Session, rng: random.Random, people: list[Person], now) -> int:
    """An earlier intake that has already arrived: published families, answered check-ins
    and flags, so that the dashboard has something to show. Returns the families made."""
    today = now.date()
    made = 0
    by_region: dict[str, list[Person]] = {}
    for p in people:
        by_region.setdefault(p.region, []).append(p)
        # Sign-ups spread over the last six months, as they arrive through a year.
        p.created_at = p.updated_at = now - timedelta(days=rng.uniform(0, 182))
    for region, members in sorted(by_region.items()):
        number = 0
        newcomers = [p for p in members if p.role == "newcomer" and is_matchable(p)]
        earlier = newcomers[: int(len(newcomers) * EARLIER_COHORT)]
        anchors = [p for p in members if p.can_anchor and is_matchable(p)]
        helpers = [p for p in members if p.role == "buddy" and not p.can_anchor
                   and is_matchable(p)]
        for p in earlier:
            p.arrival_date = today - timedelta(days=rng.randint(100, 120))
        published = datetime.combine(today - timedelta(days=130), time(10), tzinfo=UTC)
        for anchor in anchors:
            # Keep the family rules (spec/matching.md): capacity, same-gender anchors.
            fits = [p for p in earlier if not p.same_gender_anchor or p.gender == anchor.gender]
            group = fits[: min(3, anchor.capacity or 0)]
            if not group:
                continue
            earlier = [p for p in earlier if p not in group]
            made, number = made + 1, number + 1
            family = Family(code=f"{region}-{number:03d}", region=region, status="published",
                            published_at=published,
                            intake=intakes.intake_of(group[0].arrival_date, region))
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
            for newcomer in group:
                _check_ins(session, rng, newcomer, now)
    return made


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
            status = "open" if age < 20 or rng.random() < 0.15 else rng.choice(
                ["contacted", "resolved"])
            session.add(Flag(person_id=person.id, region=person.region,
                             reason="asked_for_call" if answer == "call" else "unclear_reply",
                             text="2" if answer == "call" else "when is induction??",
                             check_in_id=check_in.id, status=status,
                             created_at=sent + timedelta(hours=2)))
