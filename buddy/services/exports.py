"""CSV exports of a region (people, families, check-ins, flags, indicators) and the nation.

Only fields a DA lead may see go out; sensitive answers only for people who agreed to them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime

from sqlmodel import Session, select

from buddy import clock, intakes, phones, reference
from buddy.messaging.models import CheckIn, Flag
from buddy.models import Family, FamilyMember, Person, User
from buddy.services import flags, indicators
from buddy.services.profiles import CHANNELS, SETTINGS
from buddy.statuses import MATCHED_FAMILY_STATUSES, FamilyStatus, FlagStatus, PersonStatus


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


# Words, not codes: a DA lead opens these files in a spreadsheet. The only code kept is the
# person's number, which joins one file to another, and its heading says so.
PERSON_ID = "Person number (joins the files)"
ROLES = {"newcomer": "Newcomer", "buddy": "Buddy", "ambassador": "Ambassador"}
STATUSES = {PersonStatus.PENDING: "Waiting for approval", PersonStatus.ACTIVE: "Active",
            PersonStatus.PAUSED: "Paused", PersonStatus.WITHDRAWN: "Left the scheme",
            PersonStatus.DECLINED: "Not approved"}
PLACES = {"anchor": "Anchor (leads the family)", "buddy": "Buddy", "newcomer": "Newcomer"}
ANSWERS = {"ok": "All is going well", "call": "Would like a call"}
FLAG_STATUSES = {FlagStatus.OPEN: "Waiting", FlagStatus.CONTACTED: "Contacted",
                 FlagStatus.RESOLVED: "Resolved"}


def _yes(value: bool | None) -> str:
    return "Yes" if value else "No"


def _stage(value: str | None) -> str:
    return {"qualified": "Qualified"}.get(value or "", value or "")


def _when(moment: datetime | None) -> str:
    """A moment as England's date and time, which a spreadsheet reads ("2026-11-18 10:00")."""
    return f"{moment.astimezone(clock.ENGLAND):%Y-%m-%d %H:%M}" if moment else ""


def _intake(value: str | None) -> str:
    """The intake in words ("August 2027"), or "All intakes" for figures over every one."""
    return intakes.label(value) if value else "All intakes"


def _heading(figure: str) -> str:
    """An indicator's heading as the national page shows it ("First check in answered")."""
    return figure.replace("_", " ").capitalize()


def people_csv(session: Session, region: str, today: date, intake: str | None = None) -> str:
    """The region's members (with `intake`, that intake's only), each with their intake and
    how to reach them (the lead's own region: the caller scopes `region`)."""
    query = (select(Person, User).join(User, User.id == Person.user_id)
             .where(Person.region == region))
    if intake is not None:
        query = query.where(Person.intake == intake)
    rows = session.exec(query.order_by(Person.role, Person.id)).all()
    countries, languages, interests = (reference.countries(), reference.languages(),
                                       reference.interests())
    return _csv(
        [PERSON_ID, "Name", "Role", "Status", "Stage", "Works in", "Scheme", "Intake",
         "Arrival date", "Email", "Mobile", "Mobile confirmed", "Prefers", "Interests",
         "Wants an ambassador", "Can support (newcomers)", "Would lead a family",
         "Country of qualification", "Languages besides English", "Signed up"],
        ([p.id, p.full_name, ROLES.get(p.role, p.role), STATUSES.get(p.status, p.status),
          _stage(p.stage), SETTINGS.get(p.setting or "", ""),
          reference.scheme_name(p.region, p.scheme), intakes.label(p.intake) if p.intake
          else "", p.arrival_date or "",
          "" if p.anonymised_at else u.email, phones.display(p.phone),
          _yes(p.phone_verified_at) if p.phone else "", CHANNELS.get(p.channel, p.channel),
          ", ".join(interests.get(i, i) for i in p.interests), _yes(p.wants_ambassador),
          "" if p.capacity is None else p.capacity,
          _yes(p.can_anchor) if p.role != "newcomer" else "",
          countries.get(p.country, p.country) if p.country else "",
          ", ".join(languages.get(c, c) for c in p.languages), p.created_at.date()]
         for p, u in rows))


def families_csv(session: Session, region: str, today: date, intake: str | None = None) -> str:
    """Running and ended families with their members and the intake each was made for."""
    query = (select(Family, FamilyMember, Person)
             .join(FamilyMember, FamilyMember.family_id == Family.id)
             .join(Person, Person.id == FamilyMember.person_id)
             .where(Family.region == region, Family.status.in_(MATCHED_FAMILY_STATUSES)))
    if intake is not None:
        query = query.where(Family.intake == intake)
    rows = session.exec(query.order_by(Family.code, Family.id, FamilyMember.id)).all()
    return _csv(["Family", "Intake", "Status", "Published", "Ended", PERSON_ID, "Name",
                 "Place", "Stage", "Works in"],
                ([f.code, intakes.label(f.intake) if f.intake else "",
                  "Running" if f.status == FamilyStatus.PUBLISHED else "Ended",
                  f.published_at.date() if f.published_at else "",
                  f.ended_at.date() if f.ended_at else "", p.id, p.full_name,
                  PLACES.get(m.place, m.place), _stage(p.stage),
                  SETTINGS.get(p.setting or "", "")] for f, m, p in rows))


def _of(query, intake: str | None):
    return query if intake is None else query.where(Person.intake == intake)


def check_ins_csv(session: Session, region: str, today: date, intake: str | None = None) -> str:
    rows = session.exec(_of(
        select(CheckIn, Person).join(Person, Person.id == CheckIn.person_id)
        .where(CheckIn.region == region), intake).order_by(CheckIn.person_id, CheckIn.day)).all()
    return _csv([PERSON_ID, "Name", "Intake", "Days after arrival", "Sent by",
                 "Sent (UK time)", "Answer", "Answered (UK time)", "Answered by"],
                ([c.person_id, p.full_name, intakes.label(p.intake) if p.intake else "", c.day,
                  CHANNELS.get(c.channel, c.channel), _when(c.sent_at),
                  ANSWERS.get(c.answer or "", "No answer") if c.sent_at else "",
                  _when(c.answered_at), CHANNELS.get(c.answer_channel or "", "")]
                 for c, p in rows))


def flags_csv(session: Session, region: str, today: date, intake: str | None = None) -> str:
    rows = session.exec(_of(
        select(Flag, Person).join(Person, Person.id == Flag.person_id)
        .where(Flag.region == region), intake).order_by(Flag.created_at, Flag.id)).all()
    out = []
    for f, p in rows:
        said = flags.reply(session, f)
        out.append([f.person_id, p.full_name, intakes.label(p.intake) if p.intake else "",
                    flags.REASONS.get(f.reason, f.reason),
                    (said.text or "") if said else f.text, said.meaning if said else "",
                    FLAG_STATUSES.get(f.status, f.status), _when(f.created_at),
                    _when(f.handled_at), f.note or ""])
    return _csv([PERSON_ID, "Name", "Intake", "Why", "What they wrote (or what went wrong)",
                 "What it means", "Status", "Raised (UK time)", "Handled (UK time)", "Notes"],
                out)


def indicators_csv(session: Session, region: str, today: date,
                   intake: str | None = None) -> str:
    row = indicators.summary(session, region, today, intake)
    return _csv(["Region", "Intake", *map(_heading, row)],
                [[reference.regions()[region].name, _intake(intake), *row.values()]])


def national_csv(session: Session, today: date, intake_list: list[str]) -> str:
    """Every region's indicators for each intake of `intake_list` (a time series), small
    numbers suppressed (for reports beyond a region)."""
    regions = reference.regions()
    rows = []
    for intake in intake_list:
        table = indicators.national(session, list(regions), today, intake)
        rows += [[regions[region].name, _intake(intake), intake, *row.values()]
                 for region, row in table.items()]
    # Analysts sort a time series by the intake's YYYY-MM: the one code kept here.
    return _csv(["Region", "Intake", "Intake as YYYY-MM (sorts by date)",
                 *map(_heading, indicators.FIGURES)], rows)


REGION_EXPORTS = {
    "people": people_csv,
    "families": families_csv,
    "check-ins": check_ins_csv,
    "flags": flags_csv,
    "indicators": indicators_csv,
}
