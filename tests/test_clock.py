"""The one clock: BUDDY_NOW fixes "now" for every page and command (development and test)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from buddy.messaging import outbox
from buddy.messaging.models import Message
from buddy.settings import ConfigError
from tests.factories import Factory, login

FIXED = "2027-07-20T09:00:00+01:00"  # the factory's newcomers arrive on 4 August 2027
NOW = datetime(2027, 7, 20, 8, tzinfo=UTC)


@pytest.fixture
def fixed_app(make_app, fake_smtp):
    return make_app(BUDDY_NOW=FIXED, BUDDY_CHANNELS="email", BUDDY_SMTP_HOST=fake_smtp.host,
                    BUDDY_SMTP_PORT=fake_smtp.port, BUDDY_MAIL_FROM="Buddy <buddy@example.org>")


def test_a_page_counts_from_the_fixed_date(fixed_app):
    with Session(fixed_app.extensions["buddy.engine"], expire_on_commit=False) as session:
        factory = Factory(fixed_app, session)
        factory.newcomer(region="wessex", scheme="wessex:poole")
        lead = factory.staff("lead", region="wessex")
    client = fixed_app.test_client()
    login(client, lead.email)
    page = client.get("/lead/").get_data(as_text=True)
    # 4 August is 15 days after the fixed date: within "the next 60 days" (by the system
    # clock, in December 2026, it is months away).
    assert re.search(r'id="upcoming-count">1<', page), page


def test_dispatch_sends_what_is_due_at_the_fixed_moment(fixed_app, fake_smtp):
    with Session(fixed_app.extensions["buddy.engine"], expire_on_commit=False) as session:
        admin = Factory(fixed_app, session).staff("admin", region=None)
        with fixed_app.app_context():
            for subject, due in (("due", NOW - timedelta(minutes=5)),
                                 ("later", NOW + timedelta(minutes=5))):
                outbox.enqueue(session, user=admin, channel="email", kind="password_reset",
                               subject=subject, to_address=admin.email, title="Test",
                               body="Test", due_at=due)
            session.commit()
        result = fixed_app.test_cli_runner().invoke(args=["dispatch"])
        assert result.exit_code == 0, result.output
        session.expire_all()
        status = dict(session.exec(select(Message.subject, Message.status).where(
            Message.user_id == admin.id, Message.kind == "password_reset")).all())
    assert status == {"due": "sent", "later": "pending"}
    assert len(fake_smtp.messages_to(admin.email)) == 1


def test_a_clock_without_an_offset_is_refused_with_an_example(make_app):
    with pytest.raises(ConfigError, match="BUDDY_NOW needs an offset such as"):
        make_app(BUDDY_NOW="2027-07-20T09:00:00")
