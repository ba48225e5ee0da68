"""The daily jobs of the programme year, in the order they depend on each other.

`buddy daily` and the scheduler call `run` once a day (the scheduler also once at its start,
to catch up after a stop). Every step acts on all that is due on or before `now` and records
what it did in the database, so running it twice at the same moment changes nothing the
second time, and a run that died halfway is finished by the next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session

from buddy.services import (
    confirmations,
    endings,
    invitations,
    outcomes,
    retention,
    signup_drafts,
    surveys,
    training_year,
)

log = logging.getLogger("buddy.daily")

# Endings first: a family that ends today frees its newcomers for today's invitation to
# volunteer; retention last, after everything that may still need a person's details.
STEPS: tuple[tuple[str, Callable[..., dict[str, int]]], ...] = (
    ("family endings", endings.daily),
    ("stage moves and invitations to volunteer", training_year.daily),
    ("volunteer confirmations", confirmations.daily),
    ("invitations: reminders, expiry and deletion", invitations.daily),
    ("surveys: who was asked, stops and reminders", surveys.daily),
    ("retention", retention.daily),
    ("sign-up drafts", signup_drafts.daily),
    ("outcome uploads left unconfirmed", outcomes.daily),
)


def run(session: Session, *, now: datetime) -> tuple[dict[str, int], list[str]]:
    """Run every step at `now`: (what was done, by count; the steps that failed).

    A step that fails is rolled back and logged; the steps after it still run, and the next
    run retries it.
    """
    done: dict[str, int] = {}
    failed: list[str] = []
    for name, step in STEPS:
        try:
            counts = step(session, now=now)
        except Exception:
            session.rollback()
            log.exception("daily step failed", extra={"step": name})
            failed.append(name)
            continue
        done.update({key: n for key, n in counts.items() if n})
    log.info("daily", extra={"counts": done, "failed": failed, "at": now.isoformat()})
    return done, failed
