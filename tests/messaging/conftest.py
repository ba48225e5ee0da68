"""Messaging fixtures: a fake Twilio Messages API and a real local SMTP server (aiosmtpd).

The app under test talks to both through the real twilio client and smtplib.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from buddy.messaging.dispatch import dispatch
from buddy.messaging.models import Message
from buddy.models import AmbassadorPair, Family, FamilyMember, Person, utcnow
from buddy.statuses import FamilyStatus, PairStatus
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER  # noqa: F401 (re-exported)


@pytest.fixture
def app(make_app, channel_settings):
    return make_app(**channel_settings)


def run(app, now: datetime | None = None, **kw):
    """One dispatch pass, as `buddy dispatch --now` runs it."""
    with app.app_context():
        return dispatch(now=now, **kw)


def rows(session, **where) -> list[Message]:
    session.expire_all()
    query = select(Message).order_by(Message.id)
    for key, value in where.items():
        query = query.where(getattr(Message, key) == value)
    return list(session.exec(query).all())


def confirm(session, person: Person) -> Person:
    person.email_confirmed_at = utcnow()
    session.add(person)
    session.commit()
    return person


def at(year, month, day, hour=12, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def publish_family(app, session, members: list[tuple[Person, str]], *, region="london",
                   published_at: datetime | None = None) -> Family:
    """A published family written the way the match-run service does, then the hook."""
    from buddy.messaging import cadence

    family = Family(code=f"{region}-t", region=region, status=FamilyStatus.PUBLISHED,
                    published_at=published_at or utcnow())
    session.add(family)
    session.flush()
    for person, place in members:
        session.add(FamilyMember(family_id=family.id, person_id=person.id, place=place))
    with app.app_context():
        cadence.family_published(session, family, members)
    session.commit()
    return family


def publish_pair(app, session, ambassador: Person, newcomer: Person, *,
                 published_at: datetime | None = None) -> AmbassadorPair:
    """A published ambassador pair written the way the match-run service does, then the hook;
    the caller commits."""
    from buddy.messaging import cadence

    pair = AmbassadorPair(ambassador_id=ambassador.id, newcomer_id=newcomer.id,
                          region=newcomer.region, status=PairStatus.PUBLISHED,
                          published_at=published_at or utcnow())
    session.add(pair)
    session.flush()
    with app.app_context():
        cadence.ambassador_paired(session, pair, ambassador, newcomer)
    return pair


def sign(url: str, form: dict) -> dict:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


def arrival(day: date) -> dict:
    return {"arrival_day": str(day.day), "arrival_month": str(day.month),
            "arrival_year": str(day.year)}
