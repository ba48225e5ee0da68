"""Scheduled commands: `buddy dispatch` (one pass), `buddy daily` (the programme year's daily
jobs) and `buddy scheduler` (dispatch and the stale match run check every minute, daily once a
day)."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext

COMMANDS: list = []


def _parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use an ISO time like 2027-08-11T09:30:00+01:00") from None
    # A time without a zone is read as UTC, the zone everything is stored in.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@click.command("dispatch")
@click.option("--now", "now", metavar="ISO-TIME",
              help="Act as if it were this moment (replay; default: the clock).")
@click.option("--limit", type=int, default=None, help="Stop after this many messages.")
@with_appcontext
def dispatch_command(now: str | None, limit: int | None) -> None:
    """Send every message that is due, once, and record what happened."""
    from buddy.messaging.dispatch import dispatch

    counts = dispatch(now=_parse_now(now), limit=limit)
    summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "nothing due"
    click.echo(f"Dispatch: {summary}.")


@click.command("daily")
@with_appcontext
def daily_command() -> None:
    """Run the daily jobs once at the clock's time: family endings, stage moves, invitations
    to volunteer, volunteer confirmations, retention. Safe to run again."""
    from buddy import clock, db
    from buddy.services import daily

    done, failed = daily.run(db.get_session(), now=clock.now())
    summary = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in sorted(done.items()))
    click.echo(f"Daily ({clock.now():%Y-%m-%d %H:%M} UTC): {summary or 'nothing due'}.")
    if failed:
        raise click.ClickException(f"These steps failed and will be tried again: "
                                   f"{', '.join(failed)} (see the log)")


@click.command("scheduler")
@click.option("--interval", type=int, default=60, show_default=True,
              help="Seconds between dispatch passes.")
@click.option("--daily-at", default="06:00", show_default=True, metavar="HH:MM",
              help="When the daily jobs run, UK time (and once when the scheduler starts).")
@with_appcontext
def scheduler_command(interval: int, daily_at: str) -> None:
    """Run the one scheduler process: a dispatch pass and the stale match run check every
    minute, and the daily jobs once a day, until stopped.

    Run exactly one of these (APScheduler in several processes runs each job once per
    process). It keeps no state of its own: the outbox table is the truth.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from buddy import clock, db
    from buddy.messaging.dispatch import dispatch
    from buddy.services import daily, runs

    try:
        hour, minute = (int(part) for part in daily_at.split(":"))
    except ValueError:
        raise click.BadParameter("use a time like 06:00", param_hint="--daily-at") from None
    app = current_app._get_current_object()
    # Logging (JSON lines to standard error) is set up at the process's start (buddy.cli).
    log = logging.getLogger("buddy.scheduler")

    def run_pass() -> None:
        with app.app_context():
            try:
                counts = dispatch()
            except Exception:  # the next minute tries again; the outbox keeps every row
                log.exception("dispatch pass failed")
                return
            if counts:
                log.info("dispatch", extra={"counts": dict(counts)})

    def guarded(what: str, job):
        """`job` at the clock's time in the app's context; a failure is logged, and the next
        run catches up (every job acts on all that is due)."""
        def run() -> None:
            with app.app_context():
                try:
                    job(db.get_session(), now=clock.now())
                except Exception:
                    log.exception(f"{what} failed")
        return run

    run_daily = guarded("daily run", daily.run)
    # A match run whose job died is failed within a minute of being found stale, so that its
    # page says so: pages that show runs only read them.
    check_runs = guarded("stale match run check", runs.fail_stale_runs)

    scheduler = BlockingScheduler(timezone=UTC)
    # Once at start as well: a scheduler that was down at the daily time catches up at once
    # (every step is idempotent, so a second run the same day changes nothing).
    scheduler.add_job(run_daily, "cron", hour=hour, minute=minute, timezone=clock.ENGLAND,
                      id="daily", next_run_time=datetime.now(UTC), coalesce=True,
                      max_instances=1, misfire_grace_time=6 * 3600)
    for job, name in ((run_pass, "dispatch"), (check_runs, "stale runs")):
        scheduler.add_job(job, "interval", seconds=interval, id=name,
                          next_run_time=datetime.now(UTC), coalesce=True, max_instances=1,
                          misfire_grace_time=interval)

    def stop(_signum, _frame) -> None:
        # Let a pass in progress finish its current message; the rest stay pending.
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"Scheduler: dispatching every {interval} s (Ctrl+C to stop).")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


COMMANDS.extend([dispatch_command, daily_command, scheduler_command])
