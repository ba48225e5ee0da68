"""Benchmark: send N due messages through the fake Twilio and SMTP servers.

    python -m tests.perf.messaging [--messages 20000] [--dispatchers 2] [--database-url URL]

Starts the fakes, fills a fresh database (a temporary SQLite file unless --database-url
names an empty one) with due outbox rows (40% SMS, 20% WhatsApp, 40% email), runs
`--dispatchers` dispatcher processes at once until nothing is due, then prints messages per
second and the duplicates and losses found by comparing the outbox with what the fake
servers received. Both must be zero. Needs the test extras (aiosmtpd).
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from buddy.statuses import MessageStatus, PersonStatus
from tests.fakes import FakeSMTP, FakeTwilio
from tests.perf import database

NOW = datetime(2027, 9, 1, 12, 0, tzinfo=UTC)
BENCH_NUMBER = "+447400123456"
CHANNEL_MIX = ("sms", "sms", "whatsapp", "email", "email")  # 40% SMS, 20% WhatsApp
# At NOW (12:00 UTC) all three are inside the 09:00-19:00 sending window.
MEMBER_ZONES = ("Europe/London", "Asia/Kolkata", "Europe/Berlin")


def dispatcher_settings(database_url: str, twilio_url: str, smtp_port: int) -> dict:
    """Settings for a dispatcher that sends through the fakes (also tests/perf/faults.py)."""
    return {
        "BUDDY_ENV": "test",
        "BUDDY_SECRET_KEY": "bench-secret-key-bench-secret-key-0123456789",
        "BUDDY_DATABASE_URL": database_url,
        "BUDDY_PUBLIC_URL": "http://localhost",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_FROM_NUMBER": "+15005550006",
        "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886",
        "BUDDY_TWILIO_API_URL": twilio_url,
        "BUDDY_SMTP_HOST": "127.0.0.1",
        "BUDDY_SMTP_PORT": smtp_port,
        "BUDDY_MAIL_FROM": "Buddy <buddy@example.org>",
    }


def fill(database_url: str, count: int, *, now: datetime = NOW, members: bool = False,
         channels: tuple[str, ...] = CHANNEL_MIX) -> list[int]:
    """Insert `count` outbox rows due at `now` (channels cycling through `channels`).

    With `members`, each recipient is an active member (a Person) with a confirmed email and
    a time zone from MEMBER_ZONES, and the rows are cadence messages, so the dispatcher's
    re-checks (status, confirmed email, sending window) run on every row.
    """
    from buddy.db import build_engine
    from buddy.messaging.models import InboundMessage, Message
    from buddy.models import Person, User

    engine = build_engine(database_url)
    users = max(1, count // 20)
    with engine.begin() as conn:
        conn.execute(sa.insert(User), [
            {"email": f"bench{n}@example.org", "password_hash": "x", "role": "member",
             "full_name": f"Bench {n}", "session_version": 1, "created_at": now}
            for n in range(users)])
        ids = [row[0] for row in conn.execute(sa.select(User.id).order_by(User.id))]
        people: dict[int, tuple[int, str]] = {}
        if members:
            conn.execute(sa.insert(Person), [
                {"user_id": user_id, "full_name": f"Bench {n}", "role": "newcomer",
                 "region": "london", "stage": "ST1", "channel": "sms",
                 "status": PersonStatus.ACTIVE, "timezone": MEMBER_ZONES[n % len(MEMBER_ZONES)],
                 "interests": [],
                 "languages": [], "support_needs": [], "contact_consent_at": now,
                 "email_confirmed_at": now, "sms_opted_out": False, "created_at": now,
                 "updated_at": now}
                for n, user_id in enumerate(ids)])
            people = {row[0]: (row[1], row[2]) for row in conn.execute(
                sa.select(Person.user_id, Person.id, Person.timezone))}
        rows = []
        for n in range(count):
            channel = channels[n % len(channels)]
            user_id = ids[n % users]
            row = {
                "user_id": user_id, "channel": channel, "kind": "bench",
                "subject": str(n), "title": f"Bench message {n}",
                "to_address": f"b{n}@example.org" if channel == "email" else BENCH_NUMBER,
                "body": f"Hello, this is benchmark message {n}.", "due_at": now,
                "status": MessageStatus.PENDING, "attempts": 0, "created_at": now,
                "updated_at": now,
            }
            if members:
                person_id, zone = people[user_id]
                row.update(kind="family_intro", subject=f"bench:{n}", person_id=person_id,
                           region="london", timezone=zone)
            rows.append(row)
        for start in range(0, len(rows), 5000):
            conn.execute(sa.insert(Message), rows[start:start + 5000])
        if "whatsapp" in channels:
            # The number wrote an hour ago: its WhatsApp session is open, so the messages go
            # as free text (outside one only a registered template may go).
            conn.execute(sa.insert(InboundMessage), [{
                "message_sid": "SMbench", "channel": "whatsapp", "body": "Hello",
                "from_address": f"whatsapp:{BENCH_NUMBER}", "meaning": "unclear",
                "received_at": now - timedelta(hours=1)}])
        all_ids = [row[0] for row in conn.execute(sa.select(Message.id))]
    engine.dispose()
    return all_ids


def received_counts(twilio, smtp) -> Counter:
    """Outbox id -> how many times a provider kept it (Twilio accepted, SMTP took the DATA).

    The id comes from the status-callback URL (Twilio) and the Message-ID (email).
    """
    received: Counter = Counter()
    for request in twilio.accepted():
        received[int(request["StatusCallback"].rsplit("/", 1)[-1])] += 1
    with smtp.lock:
        for mail in smtp.received:
            marker = mail["content"].split(b"Message-ID: <buddy.", 1)[1]
            received[int(marker.split(b".", 1)[0])] += 1
    return received


def _dispatcher(settings: dict, results) -> None:
    from buddy import create_app
    from buddy.messaging.dispatch import dispatch

    app = create_app(settings)
    with app.app_context():
        counts = dispatch(now=NOW)
    app.extensions["buddy.engine"].dispose()
    results.put(dict(counts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--dispatchers", type=int, default=2)
    database.add_option(parser)
    args = parser.parse_args(argv)

    from buddy.db import build_engine
    from buddy.messaging.models import Message

    with database.bench_database(args.database_url) as database_url:
        twilio, smtp = FakeTwilio().start(), FakeSMTP().start()
        try:
            ids = fill(database_url, args.messages)
            settings = dispatcher_settings(database_url, twilio.url, smtp.port)
            context = multiprocessing.get_context("spawn")
            results = context.Queue()
            workers = [context.Process(target=_dispatcher, args=(settings, results))
                       for _ in range(args.dispatchers)]
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            counts = [results.get() for _ in workers]
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - started

            received = received_counts(twilio, smtp)
            engine = build_engine(database_url)
            with engine.connect() as conn:
                statuses = Counter(dict(conn.execute(
                    sa.select(Message.status, sa.func.count()).group_by(Message.status)).all()))
            engine.dispose()
        finally:
            twilio.stop()
            smtp.stop()

    duplicates = sum(n - 1 for n in received.values() if n > 1)
    losses = len(set(ids) - set(received)) + (len(ids) - statuses.get(MessageStatus.SENT, 0))
    print(f"{len(ids)} messages, {args.dispatchers} dispatchers, "
          f"{database.backend(database_url)}: "
          f"{elapsed:.1f} s, {len(ids) / elapsed:.0f} messages/s")
    print(f"per dispatcher: {[c.get(MessageStatus.SENT, 0) for c in counts]}; "
          f"received by fake Twilio {len(twilio.accepted())}, by SMTP {len(smtp.received)}")
    print(f"duplicates: {duplicates}, losses: {losses}")
    return 0 if duplicates == 0 and losses == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
