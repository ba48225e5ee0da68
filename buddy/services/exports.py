"""CSV exports of a region (people, families, check-ins, flags, indicators) and the nation.

Only fields a DA lead may see go out; sensitive answers only for people who agreed to them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date

from sqlmodel import Session, select

from buddy import reference
from buddy.messaging.models import CheckIn, Flag
from buddy.models import Family, FamilyMember, Person
from buddy.services import indicators


def _safe(value) -> str:
    """A cell that a spreadsheet will show, never run: formulas are neutralised."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


# Excel opens a CSV without a byte-order mark in the machine's code page ("ZoÃ«" for "Zoë");
# with it, as UTF-8. Other spreadsheets and Python's "utf-8-sig" read it as UTF-8 too.
BOM = "\ufeff"


def _csv(header: list[str], rows: Iterable[Iterable]) -> str:
    """The text of a CSV download: a byte-order mark, the header, then neutralised cells."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return out.getvalue()


def _intake(value: str | None) -> str:
    """The intake column: the intake, or "all" for figures over every intake."""
    return value or "all"


def people_csv(session: Session, region: str, today: date, intake: str | None = None) -> str:
    """The region's members (with `intake`, that intake's only), each with their intake."""
    query = select(Person).where(Person.region == region)
    if intake is not None:
        query = query.where(Person.intake == intake)
    people = session.exec(query.order_by(Person.role, Person.id)).all()
    return _csv(
        ["id", "name", "role", "status", "stage", "setting", "scheme", "intake", "arrival_date",
         "channel", "interests", "wants_ambassador", "capacity", "can_anchor", "country",
         "languages", "signed_up"],
        ([p.id, p.full_name, p.role, p.status, p.stage, p.setting or "",
          reference.scheme_name(p.region, p.scheme), p.intake or "", p.arrival_date or "",
          p.channel, " ".join(p.interests), p.wants_ambassador,
          "" if p.capacity is None else p.capacity, p.can_anchor, p.country or "",
          " ".join(p.languages), p.created_at.date()]
         for p in people))


def families_csv(session: Session, region: str, today: date, intake: str | None = None) -> str:
    """Running and ended families with their members and the intake each was made for."""
    query = (select(Family, FamilyMember, Person)
             .join(FamilyMember, FamilyMember.family_id == Family.id)
             .join(Person, Person.id == FamilyMember.person_id)
             .where(Family.region == region, Family.status.in_(["published", "ended"])))
    if intake is not None:
        query = query.where(Family.intake == intake)
    rows = session.exec(query.order_by(Family.code, Family.id, FamilyMember.id)).all()
    return _csv(["family", "intake", "status", "published", "ended", "person_id", "name",
                 "place", "stage", "setting"],
                ([f.code, f.intake or "", "running" if f.status == "published" else "ended",
                  f.published_at.date() if f.published_at else "",
                  f.ended_at.date() if f.ended_at else "", p.id, p.full_name, m.place,
                  p.stage, p.setting or ""] for f, m, p in rows))


def _of(query, intake: str | None):
    return query if intake is None else query.where(Person.intake == intake)


def check_ins_csv(session: Session, region: str, today: date, intake: str | None = None) -> str:
    rows = session.exec(_of(
        select(CheckIn, Person).join(Person, Person.id == CheckIn.person_id)
        .where(CheckIn.region == region), intake).order_by(CheckIn.person_id, CheckIn.day)).all()
    return _csv(["person_id", "name", "intake", "day", "channel", "sent", "answer", "answered"],
                ([c.person_id, p.full_name, p.intake or "", c.day, c.channel, c.sent_at or "",
                  c.answer or "", c.answered_at or ""] for c, p in rows))


def flags_csv(session: Session, region: str, today: date, intake: str | None = None) -> str:
    rows = session.exec(_of(
        select(Flag, Person).join(Person, Person.id == Flag.person_id)
        .where(Flag.region == region), intake).order_by(Flag.created_at, Flag.id)).all()
    return _csv(["flag_id", "person_id", "name", "intake", "reason", "text", "status", "raised",
                 "handled", "note"],
                ([f.id, f.person_id, p.full_name, p.intake or "", f.reason, f.text, f.status,
                  f.created_at, f.handled_at or "", f.note or ""] for f, p in rows))


def indicators_csv(session: Session, region: str, today: date,
                   intake: str | None = None) -> str:
    row = indicators.summary(session, region, today, intake)
    return _csv(["region", "intake", *row], [[region, _intake(intake), *row.values()]])


def national_csv(session: Session, today: date, intake_list: list[str]) -> str:
    """Every region's indicators for each intake of `intake_list` (a time series), small
    numbers suppressed (for reports beyond a region)."""
    regions = list(reference.regions())
    rows = []
    for intake in intake_list:
        table = indicators.national(session, regions, today, intake)
        rows += [[region, intake, *row.values()] for region, row in table.items()]
    return _csv(["region", "intake", *indicators.FIGURES], rows)


REGION_EXPORTS = {
    "people": people_csv,
    "families": families_csv,
    "check-ins": check_ins_csv,
    "flags": flags_csv,
    "indicators": indicators_csv,
}
