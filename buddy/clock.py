"""The one clock of the app: every "now" and "today" comes from here.

In development and test `BUDDY_NOW` (ISO 8601 with an offset) fixes the clock for every
command and page, so a person can walk a programme year from the command line; production
refuses to start with it set (buddy/settings.py).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

# Dates people see and programme dates (intakes, the training-year change) are England's.
ENGLAND = ZoneInfo("Europe/London")


class BadClock(ValueError):
    """BUDDY_NOW is not an ISO 8601 moment with an offset."""


@lru_cache(maxsize=64)
def parse(value: str) -> datetime:
    """`value` as an aware UTC datetime.

    :raises BadClock: when it is not ISO 8601 or has no offset.
    """
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadClock(f"BUDDY_NOW must be an ISO 8601 moment such as "
                       f"2027-08-04T09:00:00+01:00, not {value!r}") from None
    if moment.tzinfo is None:
        raise BadClock(f"BUDDY_NOW needs an offset such as +01:00 or Z: {value!r}")
    return moment.astimezone(UTC)


def _fixed() -> str:
    if has_app_context():
        return str(current_app.config.get("BUDDY_NOW") or "")
    return os.environ.get("BUDDY_NOW", "")


def now() -> datetime:
    """The present moment in UTC: BUDDY_NOW where it is set, else the system clock."""
    fixed = _fixed()
    return parse(fixed) if fixed else datetime.now(UTC)


def today() -> date:
    """Today's date in England."""
    return now().astimezone(ENGLAND).date()
