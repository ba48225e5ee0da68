"""`dispatch`: one pass over the outbox. Claims due rows, sends them, records the outcome.

Safe with several dispatchers at once on SQLite and PostgreSQL: a row is claimed by one
conditional UPDATE (with FOR UPDATE SKIP LOCKED on PostgreSQL) that only one of them wins,
and no transaction is held across a network call (RELIABILITY.md, Outbox).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlmodel import Session, select

from buddy import db
from buddy.links import public_url
from buddy.messaging import cadence, tokens
from buddy.messaging.channels import (
    OPTED_OUT,
    Channel,
    NoTemplate,
    Outcome,
    build_channels,
    templates_path,
    whatsapp_content,
    whatsapp_templates,
)
from buddy.messaging.models import CheckIn, Flag, InboundMessage, Message
from buddy.models import Person, utcnow
from buddy.statuses import MessageStatus, PersonStatus, SendOutcome

log = logging.getLogger(__name__)

# About 8 tries over a day and a half: 1, 2, 4 ... 64 minutes, then capped at 6 hours.
MAX_ATTEMPTS = 8
BASE_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=6)
# A row left in `sending` this long belonged to a dispatcher that died mid-send.
STUCK_AFTER = timedelta(minutes=10)
# Cadence emails wait for the address to be confirmed; look again after this long.
CONFIRM_WAIT = timedelta(hours=1)
# WhatsApp allows free text for 24 hours after the person's last message; the margin keeps
# a text that waits a few minutes in Twilio's queue inside them.
WHATSAPP_SESSION = timedelta(hours=24)
SESSION_MARGIN = timedelta(minutes=5)
provider_log = logging.getLogger("buddy.provider")


def backoff(attempts: int) -> timedelta:
    """Delay before try number `attempts + 1`: exponential, capped, with +-25% jitter.

    The jitter spreads retries out so that a provider that was down is not hit by every
    waiting message in the same second when it comes back.
    """
    delay = min(BASE_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)
    return delay * random.uniform(0.75, 1.25)


def status_callback_url(message: Message) -> str:
    """Twilio's status callback for `message`: the outbox id in the URL reconciles it."""
    return public_url("messaging.twilio_status", message_id=message.id)


def dispatch(
    *, now: datetime | None = None, limit: int | None = None,
    channels: dict[str, Channel] | None = None,
) -> Counter:
    """Run one pass: recover stuck rows, expire stale ones, send everything due.

    `now` replays a given moment (tests, operators); without it the clock is read as the
    pass goes. Needs an app context. Returns counts of outcomes (sent, failed, retry, ...).
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    own = channels is None
    channels = channels or build_channels(current_app.config,
                                          status_callback=status_callback_url)
    counts: Counter = Counter()
    postgres = db.engine().dialect.name == "postgresql"
    try:
        with Session(db.engine(), expire_on_commit=False) as session:
            requeued, uncertain = _recover_stuck(session, clock())
            counts["requeued"] += requeued
            counts[MessageStatus.UNCERTAIN] += uncertain
            counts[MessageStatus.EXPIRED] += _expire(session, clock())
            while limit is None or sum(counts.values()) < limit:
                message_id = _claim_next(session, clock(), postgres=postgres)
                if message_id is None:
                    break
                try:
                    counts[_process(session, message_id, clock(), channels)] += 1
                except (sa.exc.OperationalError, sa.exc.InterfaceError):
                    raise  # the database is away: the pass cannot go on; the row recovers
                except Exception as exc:  # one message, whatever it holds, never stops the pass
                    counts[_failed_alone(session, message_id, exc, clock())] += 1
                finally:
                    session.expunge_all()
    finally:
        if own:
            for channel in channels.values():
                channel.close()
    return +counts


def _failed_alone(session: Session, message_id: int, exc: Exception, now: datetime) -> str:
    """Fail the one message whose building or sending raised; the pass goes on.

    Whatever went wrong belongs to this message (its address, its text, a channel that
    choked on it), so it is failed with the reason, like any other permanent failure.
    """
    session.rollback()
    log.exception("message %s could not be sent", message_id)
    reason = f"Could not be sent ({type(exc).__name__}: {exc})"[:500]
    message = session.get(Message, message_id, populate_existing=True)
    if message is None or message.status != MessageStatus.SENDING:
        session.rollback()
        return MessageStatus.FAILED
    person = session.get(Person, message.person_id) if message.person_id else None
    try:
        return _record(session, message, person, Outcome(SendOutcome.FAILED, error=reason), now)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        raise
    except Exception:  # even the follow-up failed: the row is failed all the same
        session.rollback()
        log.exception("message %s: its failure could not be followed up", message_id)
        session.execute(
            sa.update(Message).where(Message.id == message_id,
                                     Message.status == MessageStatus.SENDING)
            .values(status=MessageStatus.FAILED, last_error=reason, updated_at=now)
        )
        session.commit()
        return MessageStatus.FAILED


def _recover_stuck(session: Session, now: datetime) -> tuple[int, int]:
    """Rows left in `sending` by a dispatcher that died: (requeued, uncertain).

    Without `handed_at` the provider was never called, so the row goes back to pending and
    is sent once; with it the provider may have the message, so it is uncertain and never
    resent automatically (RELIABILITY.md, Outbox).
    """
    stuck = (Message.status == MessageStatus.SENDING, Message.claimed_at < now - STUCK_AFTER)
    requeued = session.execute(
        sa.update(Message)
        .where(*stuck, Message.handed_at.is_(None))
        .values(status=MessageStatus.PENDING, updated_at=now, attempts=Message.attempts - 1,
                last_error="The dispatcher stopped before sending: queued again")
        .returning(Message.id)
    ).all()
    uncertain = session.execute(
        sa.update(Message)
        .where(*stuck, Message.handed_at.is_not(None))
        .values(status=MessageStatus.UNCERTAIN, updated_at=now,
                last_error="Stopped while sending (the dispatcher died?): the provider may "
                           "have it, so it is not resent automatically")
        .returning(Message.id)
    ).all()
    session.commit()
    return len(requeued), len(uncertain)


def _expire(session: Session, now: datetime) -> int:
    result = session.execute(
        sa.update(Message)
        .where(Message.status == MessageStatus.PENDING, Message.expires_at.is_not(None),
               Message.expires_at <= now)
        .values(status=MessageStatus.EXPIRED, updated_at=now,
                last_error="Not sent before it stopped being relevant")
        .returning(Message.id)
    ).all()
    session.commit()
    return len(result)


def _claim_next(session: Session, now: datetime, *, postgres: bool) -> int | None:
    """Claim the next due row for this dispatcher, or None when nothing is due."""
    due = (
        select(Message.id)
        .where(
            Message.status == MessageStatus.PENDING,
            Message.due_at <= now,
            sa.or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        )
        .order_by(Message.due_at, Message.id)
        .limit(1)
    )
    if postgres:
        # Another dispatcher's row, locked mid-claim, is skipped rather than waited for.
        due = due.with_for_update(skip_locked=True)
    # One statement: whichever dispatcher's UPDATE lands first wins; the other's WHERE
    # status='pending' no longer matches. RETURNING, as psycopg's rowcount can be -1.
    claimed = session.connection().execute(
        sa.update(Message)
        .where(Message.id == due.scalar_subquery(), Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.SENDING, claimed_at=now, updated_at=now,
                attempts=Message.attempts + 1)
        .returning(Message.id)
    ).first()
    session.commit()
    return claimed[0] if claimed else None


def _release(session: Session, message: Message, *, until: datetime, reason: str,
             now: datetime) -> str:
    """Put a claimed row back, untried, for later (outside the window, unconfirmed email)."""
    session.execute(
        sa.update(Message).where(Message.id == message.id, Message.status == MessageStatus.SENDING)
        .values(status=MessageStatus.PENDING, next_attempt_at=until, attempts=Message.attempts - 1,
                last_error=reason, updated_at=now)
    )
    session.commit()
    return "waiting"


def _finish(session: Session, message: Message, status: MessageStatus, reason: str,
            now: datetime) -> str:
    session.execute(
        sa.update(Message).where(Message.id == message.id, Message.status == MessageStatus.SENDING)
        .values(status=status, last_error=reason, updated_at=now)
    )
    return status


def _anonymised(session: Session, message: Message, person: Person | None) -> bool:
    """Whether the recipient was anonymised (buddy/services/retention.py): never sent then."""
    if person is not None:
        return person.anonymised_at is not None
    # Account emails (a reset link, "someone tried to sign up") carry the user, not the person.
    return session.exec(select(Person.id).where(Person.user_id == message.user_id,
                                                Person.anonymised_at.is_not(None))).first() \
        is not None


def _process(session: Session, message_id: int, now: datetime,
             channels: dict[str, Channel]) -> str:
    message = session.get(Message, message_id, populate_existing=True)
    person = session.get(Person, message.person_id) if message.person_id else None
    planned = message.kind in cadence.CADENCE_KINDS or message.kind in cadence.DAILY_KINDS
    notice = message.kind in cadence.NOTICE_KINDS

    # Re-check before sending: still relevant, still active, still wanted on this channel?
    if _anonymised(session, message, person):
        result = _finish(session, message, MessageStatus.CANCELLED, "Person anonymised", now)
        session.commit()
        return result
    if message.expires_at is not None and message.expires_at <= now:
        result = _finish(session, message, MessageStatus.EXPIRED,
                         "Not sent before it stopped being relevant", now)
        session.commit()
        return result
    if person is not None and (planned or notice):
        # A notice of a decision goes whatever the status it left them in, unless they left.
        if ((person.status != PersonStatus.ACTIVE and planned)
                or (notice and person.status == PersonStatus.WITHDRAWN)):
            result = _finish(session, message, MessageStatus.CANCELLED,
                             f"Person is {person.status}", now)
            session.commit()
            return result
        if message.channel != "email" and (
            person.sms_opted_out or message.channel not in channels
        ):
            reason = ("Opted out of texts" if person.sms_opted_out
                      else f"{message.channel} is switched off")
            result = _finish(session, message, MessageStatus.CANCELLED, reason, now)
            session.flush()
            # Queued by email instead.
            if notice:
                cadence.notice_by_email(session, message, person)
            else:
                cadence.reconcile(session, person, now)
            session.commit()
            return result
        if message.channel == "email" and person.email_confirmed_at is None:
            return _release(session, message, until=now + CONFIRM_WAIT, now=now,
                            reason="Waiting for the email address to be confirmed")
        rules = cadence.cadence_for(message.region)
        if message.timezone and not cadence.in_window(now, message.timezone, rules):
            return _release(session, message, now=now,
                            until=cadence.next_window_start(now, message.timezone, rules),
                            reason="Waiting for the sending window")
    if message.invitation_id is not None:
        # To someone not yet in Buddy: only while their invitation is open, texts by day.
        from buddy.services import invitations

        reason = invitations.still_wanted(session, message)
        if reason is not None:
            result = _finish(session, message, MessageStatus.CANCELLED, reason, now)
            session.commit()
            return result
        rules = cadence.cadence_for(message.region)
        if message.timezone and not cadence.in_window(now, message.timezone, rules):
            return _release(session, message, now=now,
                            until=cadence.next_window_start(now, message.timezone, rules),
                            reason="Waiting for the sending window")
    channel = channels.get(message.channel)
    if channel is None:
        result = _finish(session, message, MessageStatus.FAILED,
                         f"No {message.channel} channel", now)
        session.commit()
        return result

    body = message.body
    if message.kind == "checkin" and person is not None:
        check_in = _check_in_for(session, message, person)
        session.commit()
        if message.channel == "email":
            body += _answer_links(check_in, person)
    if message.kind == "close_continue" and message.channel == "email" and person is not None:
        # Signed now, not when queued months ago: a link's life starts when it is sent.
        from buddy.services import endings

        body += endings.answer_links(message, person)
    content = None
    if message.channel == "whatsapp" and not whatsapp_session_open(
            session, message.to_address, now):
        # Outside the 24 hours after the person's last message WhatsApp takes only an
        # approved template: free text would fail with 63016 (decided now, not at queueing,
        # as the row may have waited for days).
        try:
            content = whatsapp_content(
                kind=message.kind, body=body, texts=cadence.texts(),
                templates=whatsapp_templates(templates_path(current_app.config)))
        except NoTemplate as exc:
            return _record(session, message, person,
                           Outcome(SendOutcome.FAILED, error=str(exc)), now)
    # One short commit before the network call: from here on a crash leaves the row
    # uncertain (the provider may have it); before it, the row is simply queued again.
    session.execute(sa.update(Message)
                    .where(Message.id == message.id, Message.status == MessageStatus.SENDING)
                    .values(handed_at=now))
    session.commit()
    started = time.perf_counter()
    try:
        outcome = channel.send(message, body, content)
    except Exception:
        _log_call(message, "error", started)
        raise
    _log_call(message, outcome.status, started, code=outcome.code)
    try:
        return _record(session, message, person, outcome, now)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        raise
    except Exception:  # the follow-up (check-in, fallback, flag) failed, not the send
        session.rollback()
        log.exception("message %s: its outcome could not be followed up", message.id)
        return _record_bare(session, message, outcome, now)


def _record_bare(session: Session, message: Message, outcome: Outcome, now: datetime) -> str:
    """The provider's outcome alone, without its follow-up: a sent message stays sent (a
    failed one would fall back to email and reach the person twice)."""
    status = _row_status(outcome)
    values: dict = {"status": status, "updated_at": now, "error_code": outcome.code,
                    "last_error": f"{outcome.error or 'Sent'}; recording it failed (see the log)"}
    if status == MessageStatus.SENT:
        values.update(sent_at=now, provider_id=outcome.provider_id)
    elif status == MessageStatus.PENDING:
        values["next_attempt_at"] = now + backoff(message.attempts)
    session.execute(sa.update(Message).where(
        Message.id == message.id, Message.status == MessageStatus.SENDING).values(**values))
    session.commit()
    return SendOutcome.RETRY if status == MessageStatus.PENDING else status


def _row_status(outcome: Outcome) -> MessageStatus:
    """The status a send's outcome leaves its row in: a retry waits in pending."""
    if outcome.status == SendOutcome.RETRY:
        return MessageStatus.PENDING
    return MessageStatus(outcome.status)


def _log_call(message: Message, outcome: str, started: float, code: str | None = None) -> None:
    # One line per provider call, for operators: never the address, the text or a name.
    provider_log.info("provider_call", extra={
        "kind": message.kind, "channel": message.channel, "outcome": outcome,
        "ms": round((time.perf_counter() - started) * 1000, 1), "message_id": message.id,
        "code": code,
    })


def whatsapp_session_open(session: Session, number: str, now: datetime) -> bool:
    """True when `number` wrote to us on WhatsApp recently enough for free text now."""
    number = number.removeprefix("whatsapp:")
    last = session.exec(
        select(sa.func.max(InboundMessage.received_at)).where(
            InboundMessage.channel == "whatsapp",
            InboundMessage.from_address == f"whatsapp:{number}",
            InboundMessage.received_at <= now,
        )
    ).one()
    if last is None:
        return False
    if last.tzinfo is None:  # SQLite hands back naive datetimes for aggregates
        last = last.replace(tzinfo=UTC)
    return now - last < WHATSAPP_SESSION - SESSION_MARGIN


def _check_in_for(session: Session, message: Message, person: Person) -> CheckIn:
    day = int(message.subject.rsplit(":", 1)[-1])
    check_in = session.exec(
        select(CheckIn).where(CheckIn.person_id == person.id, CheckIn.day == day)
    ).first()
    if check_in is None:
        check_in = CheckIn(person_id=person.id, region=person.region, day=day,
                           channel=message.channel, message_id=message.id)
        session.add(check_in)
        session.flush()
    return check_in


def _answer_links(check_in: CheckIn, person: Person) -> str:
    def link(answer: str) -> str:
        token = tokens.sign(tokens.CHECKIN, {"c": check_in.id, "p": person.id, "a": answer})
        return public_url("messaging.checkin_answer", token=token)

    days = current_app.config["BUDDY_CHECKIN_LINK_DAYS"]
    return (f"\n\nAll good:\n{link('ok')}\n\nI'd like a call:\n{link('call')}\n\n"
            f"These links are for you only and work for {days} days.")


def _record(session: Session, message: Message, person: Person | None, outcome: Outcome,
            now: datetime) -> str:
    """Write the outcome of one send, with its side effects, in one short transaction."""
    values: dict = {"updated_at": now}
    status = _row_status(outcome)
    if outcome.status == SendOutcome.SENT:
        values.update(status=status, sent_at=now, provider_id=outcome.provider_id,
                      last_error=None, error_code=None,
                      provider_status=sa.func.coalesce(Message.provider_status, "accepted"))
    elif outcome.status == SendOutcome.RETRY and message.attempts >= MAX_ATTEMPTS:
        status = MessageStatus.FAILED
        values.update(status=status, error_code=outcome.code,
                      last_error=f"Gave up after {message.attempts} tries: {outcome.error}")
    elif outcome.status == SendOutcome.RETRY:
        values.update(status=status, next_attempt_at=now + backoff(message.attempts),
                      last_error=outcome.error, error_code=outcome.code)
    else:  # failed or uncertain
        values.update(status=status, last_error=outcome.error, error_code=outcome.code)
    session.connection().execute(
        sa.update(Message).where(Message.id == message.id,
                                 Message.status == MessageStatus.SENDING)
        .values(**values)
    )
    session.expire_all()  # the Core UPDATE bypassed the identity map
    if status == MessageStatus.SENT and message.kind == "checkin" and person is not None:
        session.execute(
            sa.update(CheckIn)
            .where(CheckIn.person_id == person.id,
                   CheckIn.day == int(message.subject.rsplit(":", 1)[-1]))
            .values(sent_at=now, message_id=message.id, channel=message.channel)
        )
    if status == MessageStatus.FAILED and message.invitation_id is not None:
        from buddy.services import invitations

        if message.channel == "email":
            invitations.bounced(session, invitation_id=message.invitation_id)
        elif outcome.code == str(OPTED_OUT):  # the number said STOP to Twilio before
            invitations.texts_stopped(session, number=message.to_address)
    if status == MessageStatus.FAILED and person is not None:
        message_failed(session, message, person, code=outcome.code, error=values["last_error"],
                       now=now)
    session.commit()
    if status != MessageStatus.SENT:
        log.warning("message %s %s: %s", message.id, status, values.get("last_error"))
    return SendOutcome.RETRY if status == MessageStatus.PENDING else status


def message_failed(session: Session, message: Message, person: Person, *, code: str | None,
                   error: str | None, now: datetime) -> None:
    """After a permanent failure: keep our opt-out, fall back to email, or tell the DA lead."""
    if code == str(OPTED_OUT) and message.channel != "email":
        person.sms_opted_out = True
        person.updated_at = now
        session.add(person)
    if message.channel != "email" and message.kind in cadence.CADENCE_KINDS:
        session.flush()
        cadence.reconcile(session, person, now)  # the failed text goes again by email
        return
    if message.channel != "email" and message.kind in cadence.NOTICE_KINDS:
        session.flush()
        cadence.notice_by_email(session, message, person)
        return
    session.add(Flag(person_id=person.id, region=person.region, reason="message_failed",
                     message_id=message.id,
                     text=f"{message.title or message.kind} ({message.channel}): {error}"))
