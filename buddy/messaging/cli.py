"""Messaging commands: `buddy dispatch` (one pass) and `buddy scheduler` (every minute)."""

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


@click.command("scheduler")
@click.option("--interval", type=int, default=60, show_default=True,
              help="Seconds between dispatch passes.")
@with_appcontext
def scheduler_command(interval: int) -> None:
    """Run the one scheduler process: a dispatch pass every minute until stopped.

    Run exactly one of these (APScheduler in several processes runs each job once per
    process). It keeps no state of its own: the outbox table is the truth.
    """
    from apscheduler.schedulers.blocking import BlockingScheduler

    from buddy.messaging.dispatch import dispatch

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

    scheduler = BlockingScheduler(timezone=UTC)
    scheduler.add_job(run_pass, "interval", seconds=interval, id="dispatch",
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


COMMANDS.extend([dispatch_command, scheduler_command])
