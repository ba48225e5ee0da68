"""Intakes and the training year: which intake a newcomer belongs to, and the dates that move.

The rule (README.md, "The programme year"): intakes start on the 1st of the intake months in
config/programme.toml (August and February by default, overridable per region). A newcomer
belongs to the latest intake that starts on or before their arrival date plus `early_days`:
early starters (up to a month before) join the coming intake, late starters the one that
has begun. With no arrival date yet, a newcomer belongs to no intake and is matched with the
next one (`next_intake`); a changed arrival date moves them to the intake of the new date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

from buddy.settings import CONFIG_DIR, read_toml

INTAKE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


@dataclass(frozen=True)
class Programme:
    intake_months: tuple[int, ...]
    early_days: int
    late_match_days: int
    training_year_month: int
    training_year_weekday: int
    carry_on_until: str
    confirm_days_before: int
    invite_alumni_days_after: int
    retention_months: int


@cache
def _config() -> dict:
    return read_toml(CONFIG_DIR / "programme.toml")


@cache
def programme(region: str | None = None) -> Programme:
    """The programme settings for `region` (its overrides over the defaults)."""
    data = _config()
    values = dict(data["programme"])
    values.update(data.get("regions", {}).get(region or "", {}))
    values["intake_months"] = tuple(sorted(int(m) for m in values["intake_months"]))
    return Programme(**values)


class BadIntake(ValueError):
    """Not an intake written YYYY-MM in one of the region's intake months."""


def parse(value: str, region: str | None = None) -> str:
    """`value` checked as an intake of `region`.

    :raises BadIntake: with what to type instead.
    """
    match = INTAKE.match((value or "").strip())
    months = programme(region).intake_months
    if not match or int(match.group(2)) not in months:
        named = " or ".join(MONTHS[m - 1] for m in months)
        raise BadIntake(f"Enter an intake as YYYY-MM in {named}, for example "
                        f"2027-{months[-1]:02d}, not {value!r}")
    return match.group(0)


def start(intake: str) -> date:
    """The first day of an intake."""
    year, month = intake.split("-")
    return date(int(year), int(month), 1)


def label(intake: str | None) -> str:
    """"August 2027" for "2027-08"; "not known yet" for None."""
    if not intake:
        return "not known yet"
    first = start(intake)
    return f"{MONTHS[first.month - 1]} {first.year}"


def _starts(region: str | None, around: int) -> list[date]:
    months = programme(region).intake_months
    return [date(year, month, 1) for year in range(around - 1, around + 2) for month in months]


def intake_of(arrival: date | None, region: str | None = None) -> str | None:
    """The intake a newcomer arriving on `arrival` belongs to; None without a date."""
    if arrival is None:
        return None
    reach = arrival + timedelta(days=programme(region).early_days)
    first = max(s for s in _starts(region, arrival.year) if s <= reach)
    return f"{first.year}-{first.month:02d}"


def next_intake(today: date, region: str | None = None) -> str:
    """The intake a lead matches now: the next to start, or one begun in the last
    `late_match_days` (its late sign-ups still join)."""
    since = today - timedelta(days=programme(region).late_match_days)
    first = min(s for s in _starts(region, today.year) if s >= since)
    return f"{first.year}-{first.month:02d}"


def previous(intake: str, region: str | None = None, count: int = 1) -> list[str]:
    """The `count` intakes before `intake`, newest first."""
    first = start(intake)
    starts = sorted((s for y in range(first.year - count - 1, first.year + 1)
                     for s in _starts(region, y) if s < first), reverse=True)
    unique = list(dict.fromkeys(starts))[:count]
    return [f"{s.year}-{s.month:02d}" for s in unique]


def training_year_change(year: int, region: str | None = None) -> date:
    """The day trainees move up a stage in `year` (first Wednesday of August by default)."""
    p = programme(region)
    first = date(year, p.training_year_month, 1)
    return first + timedelta(days=(p.training_year_weekday - first.weekday()) % 7)


def next_training_year_change(after: date, region: str | None = None) -> date:
    """The first training-year change strictly after `after`."""
    change = training_year_change(after.year, region)
    return change if change > after else training_year_change(after.year + 1, region)


def assign(person) -> bool:
    """Set a newcomer's `intake` from their arrival date and region; True if it changed.

    Volunteers keep theirs (an alumna's intake stays as history). A newcomer already in a
    running family stays in it when their intake moves: only the next runs see the change.
    """
    if person.role != "newcomer":
        return False
    intake = intake_of(person.arrival_date, person.region)
    if person.intake == intake:
        return False
    person.intake = intake
    return True
