"""Outcomes, optional: training outcomes a DA lead uploads, shown only as counts of 5 or more.

The evaluation asks whether support changes progression (ARCP outcomes, exams, extensions).
A lead uploads a CSV (GMC number or email address, the outcome, its date), read by the one
CSV reader (trainee_lists.table: encodings, separators, forgiving headers, row numbers);
the preview names every bad row; the confirm stores every good row in one transaction.
Outcomes are shown per intake, by participation (engaged at 8 weeks or not, the dashboard's
definition, indicators.people_at), never per person and never to members. They are deleted
with the person (foreign key cascade) and when retention anonymises them (retention.py).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

import sqlalchemy as sa
from sqlmodel import Session, select

from buddy import clock, scoping
from buddy.models import Outcome, OutcomeUpload, Person, User
from buddy.services import ServiceError, audit, indicators, survey_results, uploads
from buddy.services.accounts import normalise_email
from buddy.services.trainee_lists import (
    BadFile,
    Problem,
    Read,
    decode,
    header_key,
    parse_date,
    table,
)
from buddy.settings import CONFIG_DIR

WHAT = "the outcomes"
UPLOAD_HOURS = 24  # an upload not confirmed within a day is deleted (daily step)
HEADERS = {
    "email": {"email", "emailaddress", "mail", "email1"},
    "gmc_number": {"gmc", "gmcnumber", "gmcno", "gmcreference", "gmcref", "gmcnum"},
    "outcome": {"outcome", "outcomes", "result", "arcpoutcome", "progression", "event"},
    "on": {"date", "outcomedate", "dateofoutcome", "arcpdate", "on", "resultdate", "when"},
}
COLUMN_WORDS = {"email": "Email", "gmc_number": "GMC number", "outcome": "Outcome",
                "on": "Date"}
ENGAGED, NOT_ENGAGED, EVERYONE = "engaged", "not_engaged", "everyone"
GROUP_WORDS = {ENGAGED: "Still engaged at 8 weeks", NOT_ENGAGED: "Not engaged at 8 weeks",
               EVERYONE: "All newcomers of the intake"}


@cache
def kinds() -> dict[str, str]:
    """Every outcome Buddy accepts: {key: words}, in config/outcomes.toml's order."""
    with open(CONFIG_DIR / "outcomes.toml", "rb") as fh:
        raw = tomllib.load(fh)["outcomes"]
    return {key: str(entry["words"]) for key, entry in raw.items()}


@cache
def _spellings() -> dict[str, str]:
    with open(CONFIG_DIR / "outcomes.toml", "rb") as fh:
        raw = tomllib.load(fh)["outcomes"]
    out = {}
    for key, entry in raw.items():
        for spelling in [key, entry["words"], *entry.get("spellings", [])]:
            out[header_key(str(spelling))] = key
    return out


@dataclass
class Row:
    """One good row: whose outcome (a person of the region), which, and when."""

    row: int
    person_id: int
    outcome: str
    on: date


@dataclass
class Preview(Read):
    """What a file holds: good rows, rows with what to fix, people not in Buddy."""

    rows: list[Row] = field(default_factory=list)
    not_in_buddy: list[int] = field(default_factory=list)  # row numbers
    already: int = 0  # good rows Buddy holds already (a list uploaded again)


def _columns(header: list[str], out: Preview) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for index, name in enumerate(header):
        key = header_key(name)
        what = next((w for w, spellings in HEADERS.items() if key in spellings), None)
        if what is not None and what not in found:
            found[what] = (index, name)
        elif name:
            out.ignored_columns.append(name)
    missing = []
    if "email" not in found and "gmc_number" not in found:
        missing.append("Email or GMC number")
    missing += [COLUMN_WORDS[w] for w in ("outcome", "on") if w not in found]
    if missing:
        raise BadFile(
            f"The file has no {' or '.join(missing)} column. The first row must name the "
            "columns, like: GMC number, Email, Outcome, Date. "
            f"It names: {', '.join(h for h in header if h) or 'nothing'}.")
    return found


def read(session: Session, *, data: bytes, region: str) -> Preview:
    """Every row of an outcomes file for `region`: good, with what to fix, or not in Buddy.

    :raises BadFile: when the file as a whole cannot be read.
    """
    header, records, _encoding, _delimiter = table(data, what=WHAT)
    out = Preview()
    columns = _columns(header, out)
    if not records:
        raise BadFile("The file has a header row but no outcomes under it.")
    people = _people(session, region)
    spellings = _spellings()
    for number, record in records:
        def cell(what: str, record=record) -> str:
            index = columns.get(what, (None,))[0]
            return record[index].strip() if index is not None and index < len(record) else ""

        problems: list[Problem] = []

        def bad(what: str, message: str, number=number, problems=problems) -> None:
            problems.append(Problem(number, columns.get(what, (0, COLUMN_WORDS[what]))[1],
                                    message))

        email, gmc = cell("email"), re.sub(r"\s", "", cell("gmc_number"))
        if email:
            try:
                email = normalise_email(email)
            except ServiceError:
                bad("email", f"\"{email}\" is not an email address. Write it like "
                             "name@example.com")
                email = ""
        if gmc and not re.fullmatch(r"[0-9]{7}", gmc):
            bad("gmc_number", f"\"{gmc}\" is not a GMC number: it has 7 digits, like 7123456")
            gmc = ""
        if not cell("email") and not cell("gmc_number"):
            bad("gmc_number" if "gmc_number" in columns else "email",
                "Give the person's GMC number or email address")
        outcome = spellings.get(header_key(cell("outcome")))
        if outcome is None:
            bad("outcome", (f"\"{cell('outcome')}\" is not an outcome Buddy knows. " if
                            cell("outcome") else "The outcome is empty. ")
                + "Write one of: " + "; ".join(kinds().values()))
        on = None
        try:
            on = parse_date(cell("on")) if cell("on") else None
            if on is None:
                bad("on", "The date is empty. Write it day first, like 03/08/2027")
            elif on > clock.today():
                bad("on", f"{on:%d/%m/%Y} is in the future: give the date of the outcome")
        except ValueError as exc:
            bad("on", str(exc))
        if problems:
            out.problems.extend(problems)
            continue
        person_id = people.get(("gmc", gmc)) if gmc else None
        if person_id is None and email:
            person_id = people.get(("email", email))
        if person_id is None:
            out.not_in_buddy.append(number)
            continue
        out.rows.append(Row(row=number, person_id=person_id, outcome=outcome, on=on))
    existing = set(session.exec(select(Outcome.person_id, Outcome.outcome, Outcome.on).where(
        Outcome.region == region)).all())
    fresh = [r for r in out.rows if (r.person_id, r.outcome, r.on) not in existing]
    # The same outcome twice in one file is one outcome.
    out.already = len(out.rows) - len(fresh)
    out.rows = list({(r.person_id, r.outcome, r.on): r for r in fresh}.values())
    return out


def _people(session: Session, region: str) -> dict[tuple[str, str], int]:
    """The region's newcomers (and former newcomers: they keep their intake) by GMC number
    and by email address: only people with an intake have outcomes that Buddy counts."""
    rows = session.exec(select(Person.id, Person.gmc_number, User.email)
                        .join(User, User.id == Person.user_id)
                        .where(Person.region == region, Person.intake.is_not(None),
                               Person.anonymised_at.is_(None))).all()
    out: dict[tuple[str, str], int] = {}
    for person_id, gmc, email in rows:
        if gmc:
            out[("gmc", gmc)] = person_id
        out[("email", email)] = person_id
    return out


# --- Upload, preview, confirm ----------------------------------------------------------------

def upload(session: Session, *, lead: User, region: str, filename: str, data: bytes
           ) -> OutcomeUpload:
    """Read an outcomes file and keep it for its preview; commits.

    :raises BadFile: when the file cannot be read at all (nothing is kept).
    """
    scoping.check_region(lead, region)
    read(session, data=data, region=region)
    text, _encoding = decode(data, what=WHAT)
    return uploads.keep(session, OutcomeUpload, lead=lead, region=region,
                        filename=filename or "outcomes", text=text)


def upload_for(session: Session, *, lead: User, upload_id: str) -> OutcomeUpload:
    """The upload `upload_id` of this lead (the admin may open any).

    :raises NotFound: for another lead's upload, a used one, or one that never was.
    """
    return uploads.kept_for(session, OutcomeUpload, lead=lead, upload_id=upload_id)


def preview(session: Session, *, kept: OutcomeUpload) -> Preview:
    """What confirming `kept` would store now."""
    return read(session, data=kept.content.encode("utf-8"), region=kept.region)


def confirm(session: Session, *, lead: User, upload_id: str) -> int:
    """Store every good row of the upload the lead previewed, all or none; commits.
    The number of outcomes stored.

    :raises NotFound: see upload_for.
    :raises ServiceError: when another upload stored some of them at the same moment.
    """
    kept = upload_for(session, lead=lead, upload_id=upload_id)
    checked = preview(session, kept=kept)

    def store() -> int:
        if checked.rows:
            session.execute(sa.insert(Outcome), [
                {"person_id": r.person_id, "region": kept.region, "outcome": r.outcome,
                 "on": r.on, "uploaded_by": lead.id, "created_at": clock.now()}
                for r in checked.rows])
        audit.record(session, actor=lead, action="outcomes_uploaded", region=kept.region,
                     detail={"stored": len(checked.rows), "bad_rows": len(checked.bad_rows),
                             "not_in_buddy": len(checked.not_in_buddy),
                             "already": checked.already})
        return len(checked.rows)

    return uploads.use(session, kept, store,
                       conflict="Some of these outcomes were stored by another upload just "
                                "now, so none was stored. Check the preview again and confirm.")


def daily(session: Session, *, now: datetime) -> dict[str, int]:
    """Delete uploads left unconfirmed for UPLOAD_HOURS (each holds a list of people).

    Idempotent; catches up on any days missed; one short transaction.
    """
    # RETURNING, not rowcount: psycopg 3 can report -1 (RELIABILITY.md, Outbox).
    deleted = session.execute(sa.delete(OutcomeUpload).where(
        OutcomeUpload.created_at < now - timedelta(hours=UPLOAD_HOURS))
        .returning(OutcomeUpload.id)).all()
    session.commit()
    return {"outcome_uploads_deleted": len(deleted)}


# --- What the pages show ---------------------------------------------------------------------

def counts(session: Session, *, region: str, intake: str, today: date) -> dict[str, dict]:
    """{outcome: {ENGAGED, NOT_ENGAGED, EVERYONE: people}} for one region's intake: people
    with the outcome (counted once), by participation."""
    engaged = set(session.exec(indicators.people_at("engaged_8_weeks", region, today,
                                                    intake)).all())
    rows = session.exec(
        select(Outcome.outcome, Outcome.person_id).join(Person, Person.id == Outcome.person_id)
        .where(Person.region == region, Person.intake == intake).distinct()).all()
    out = {key: {ENGAGED: 0, NOT_ENGAGED: 0, EVERYONE: 0} for key in kinds()}
    for outcome, person_id in rows:
        cell = out.setdefault(outcome, {ENGAGED: 0, NOT_ENGAGED: 0, EVERYONE: 0})
        cell[ENGAGED if person_id in engaged else NOT_ENGAGED] += 1
        cell[EVERYONE] += 1
    return out


def shown(session: Session, *, region: str, intake: str, today: date
          ) -> dict[str, dict[str, int | str]]:
    """counts() as the lead's results page shows them: only counts of 5 or more, and none
    that lets a smaller one be worked out from the row's total. Empty when no outcome of the
    intake was uploaded (that says nothing about anyone)."""
    found = counts(session, region=region, intake=intake, today=today)
    if not any(cells[EVERYONE] for cells in found.values()):
        return {}
    values = {(o, g): n for o, cells in found.items() for g, n in cells.items()}
    seen = survey_results.protect(values, [((o, EVERYONE), [(o, ENGAGED), (o, NOT_ENGAGED)])
                                           for o in found])
    return {o: {g: seen[(o, g)] for g in (ENGAGED, NOT_ENGAGED, EVERYONE)} for o in found}


def of_intake(session: Session, *, intake: str, regions: list[str] | None = None
              ) -> dict[int, list[tuple[str, date]]]:
    """{person id: [(outcome, date)]} of the newcomers of `intake` (the analysts' file)."""
    query = (select(Outcome.person_id, Outcome.outcome, Outcome.on)
             .join(Person, Person.id == Outcome.person_id).where(Person.intake == intake)
             .order_by(Outcome.on, Outcome.outcome))
    if regions is not None:
        query = query.where(Person.region.in_(regions))
    out: dict[int, list[tuple[str, date]]] = {}
    for person_id, outcome, on in session.exec(query).all():
        out.setdefault(person_id, []).append((outcome, on))
    return out
