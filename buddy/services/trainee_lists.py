"""Trainee lists: one parser for the lead's upload page and `buddy import-trainees`.

A region's list of incoming trainees (or of current trainees and GPs to invite as buddies)
comes from a spreadsheet saved as CSV: UTF-8 with or without a byte-order mark, or
Windows-1252 (Excel's "CSV" on Windows), comma or semicolon separated, headers named in
many ways. `read` turns the file into rows and problems; `check` adds what the database
knows (people already in Buddy, people already invited); services/invitations.py imports.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, select

from buddy import phones, reference
from buddy.models import Invitation, Person, User
from buddy.services import ServiceError
from buddy.services.accounts import normalise_email
from buddy.text import clean_name

ROLES = {"newcomers": "newcomer", "volunteers": "volunteer"}
# Header spellings seen in regions' spreadsheets, compared with everything but letters and
# digits removed and lower-cased ("E-mail address" -> "emailaddress").
HEADERS = {
    "email": {"email", "emailaddress", "mail", "emailaddr", "personalemail",
              "contactemail", "preferredemail", "emails"},
    "full_name": {"name", "fullname", "traineename", "doctorname", "doctor", "trainee",
                  "nameoftrainee", "names"},
    "first_name": {"firstname", "forename", "forenames", "givenname", "givennames",
                   "firstnames"},
    "surname": {"surname", "lastname", "familyname", "secondname"},
    "start_date": {"startdate", "starting", "start", "startingdate", "datestarting",
                   "poststartdate", "arrivaldate", "arrival", "commencementdate",
                   "dateofstart", "startdateofpost", "datestart"},
    "scheme": {"scheme", "programme", "program", "trainingscheme", "gpscheme", "vts",
               "trainingprogramme"},
    "phone": {"phone", "mobile", "mobilenumber", "phonenumber", "mobilephone", "telephone",
              "tel", "contactnumber", "mobileno", "phoneno", "cellphone"},
    "gmc_number": {"gmc", "gmcnumber", "gmcno", "gmcreference", "gmcref", "gmcnum"},
}
# Words for columns in messages ("Row 4, column Start date: ...") when the file's own header
# is not at hand.
COLUMN_WORDS = {"email": "Email", "full_name": "Name", "start_date": "Start date",
                "scheme": "Scheme", "phone": "Phone", "gmc_number": "GMC number"}
MONTHS = {name.lower(): n for n, name in enumerate(
    ("January", "February", "March", "April", "May", "June", "July", "August",
     "September", "October", "November", "December"), 1)}
MONTHS.update({name[:3]: n for name, n in list(MONTHS.items())})
MONTHS["sept"] = 9
DATE_HINT = "Write the date day first, like 03/08/2027, 3 Aug 2027 or 2027-08-03"
# Excel adds a time to dates it exported from a date-time cell.
_TIME = re.compile(r"\s+\d{1,2}:\d{2}(:\d{2})?$")
_NUMERIC = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2}|\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_WORDS = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?[\s\-/]+([A-Za-z]+)\.?,?[\s\-/]+(\d{2}|\d{4})$")


class BadFile(ServiceError):
    """The file as a whole cannot be read (empty, not text, no usable header)."""

    def __init__(self, message: str):
        super().__init__({"file": message})


@dataclass
class Problem:
    """What is wrong with one row, in words a lead can act on."""

    row: int  # as the spreadsheet numbers it: the header is row 1
    column: str
    message: str

    @property
    def words(self) -> str:
        return f"Row {self.row}, column {self.column}: {self.message}"


@dataclass
class Trainee:
    """One good row of the list."""

    row: int
    full_name: str
    email: str
    start_date: date | None = None
    phone: str | None = None
    gmc_number: str | None = None
    scheme: str | None = None  # the region's scheme slug, when the list's scheme is known


@dataclass
class Skipped:
    """A good row that will not be imported, and why (in words)."""

    row: int
    full_name: str
    reason: str


@dataclass
class Read:
    """What reading a file found besides its good rows: each bad row's problems, and the
    columns it did not use (trainee lists here, outcomes in buddy/services/outcomes.py)."""

    problems: list[Problem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def bad_rows(self) -> list[int]:
        return sorted({p.row for p in self.problems})


@dataclass
class TraineeList(Read):
    """What a file holds: good rows, bad rows, notes, and how it was read."""

    rows: list[Trainee] = field(default_factory=list)
    duplicates: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str = ","


@dataclass
class Preview:
    """A list checked against the database: who will be invited, who not, and why."""

    parsed: TraineeList
    to_invite: list[Trainee]
    in_buddy: list[Skipped]
    invited: list[Skipped]

    @property
    def skipped(self) -> list[Skipped]:
        return sorted(self.parsed.duplicates + self.in_buddy + self.invited,
                      key=lambda s: s.row)


def decode(data: bytes, *, what: str = "your trainee list") -> tuple[str, str]:
    """The file's text and the encoding it was read as.

    UTF-8 is tried strictly first (with or without a byte-order mark): Windows-1252 reads any
    UTF-8 file without an error, but as nonsense ("ZoÃ«"), while a Windows-1252 file with an
    accented name is almost never valid UTF-8.

    :raises BadFile: when the file is empty or neither encoding reads it.
    """
    if not data.strip():
        raise BadFile(f"The file is empty. Choose the CSV file of {what}.")
    if data.startswith(b"\xef\xbb\xbf"):
        data, bom = data[3:], True
    else:
        bom = False
    try:
        return data.decode("utf-8"), "UTF-8 with a byte-order mark" if bom else "UTF-8"
    except UnicodeDecodeError:
        pass
    if bom:
        raise BadFile("The file says it is UTF-8 but is not. Save it again from your "
                      "spreadsheet as \"CSV UTF-8\".")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:1000]:
        raise BadFile("The file is saved as UTF-16 (\"Unicode text\"). Save it again from "
                      "your spreadsheet as \"CSV UTF-8\".")
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        raise BadFile("The file is not a text file we can read. Save it from your spreadsheet "
                      "as \"CSV UTF-8\".") from None


def header_key(header: str) -> str:
    """A header as compared: letters and digits only, lower-cased ("E-mail" -> "email")."""
    return _key(header)


def _key(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", unicodedata.normalize("NFKD", header).lower())


def _delimiter(header_line: str) -> str:
    # Counted on the header line, where no value is quoted: csv.Sniffer guesses wrongly on
    # short files whose names contain commas.
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def parse_date(value: str) -> date:
    """A date written the UK way: 03/08/2027, 3/8/27, 3 Aug 2027, 3 August 2027, 2027-08-03.

    :raises ValueError: with what to fix.
    """
    text = _TIME.sub("", value.strip())
    day = month = year = None
    if match := _ISO.match(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _NUMERIC.match(text):
        day, month, year = (int(g) for g in match.groups())
        if month > 12 and day <= 12:
            raise ValueError(f"\"{value}\" looks like a US date (month first). {DATE_HINT}")
    elif match := _WORDS.match(text):
        day, year = int(match[1]), int(match[3])
        month = MONTHS.get(match[2].lower())
        if month is None:
            raise ValueError(f"\"{match[2]}\" is not a month. {DATE_HINT}")
    else:
        raise ValueError(f"\"{value}\" is not a date. {DATE_HINT}")
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"\"{value}\" is not a real date. {DATE_HINT}") from None


def _scheme(region: str, value: str) -> str | None:
    schemes = reference.regions()[region].schemes
    wanted = _key(value)
    for slug, name in schemes.items():
        if wanted in (_key(slug), _key(name)):
            return slug
    return None


def table(data: bytes, *, what: str = "your trainee list") -> tuple[
        list[str], list[tuple[int, list[str]]], str, str]:
    """A CSV file's header, its non-empty rows with their row numbers as the spreadsheet
    shows them (the header is row 1 when it is the first line), the encoding and separator.

    The one reader of uploaded CSV files: trainee lists here, outcomes (services/outcomes.py).

    :raises BadFile: when the file as a whole cannot be read.
    """
    text, encoding = decode(data, what=what)
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = _delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    row_number = 0
    try:
        for record in reader:
            row_number += 1
            if header is None:
                if any(cell.strip() for cell in record):
                    header = [cell.strip() for cell in record]
                continue
            if any(cell.strip() for cell in record):
                rows.append((row_number, record))
    except csv.Error as exc:
        raise BadFile(f"Row {row_number} cannot be read ({exc}). Check its quotation marks, "
                      "or save the file again from your spreadsheet.") from None
    if header is None:
        raise BadFile(f"The file is empty. Choose the CSV file of {what}.")
    return header, rows, encoding, delimiter


def read(data: bytes, *, region: str, role: str = "newcomer") -> TraineeList:
    """Every row of the file `data`, good or with what to fix, for `region`.

    A start date is needed for newcomers (it decides their intake); volunteers may have none.

    :raises BadFile: when the file as a whole cannot be read.
    """
    header, records, encoding, delimiter = table(data)
    out = TraineeList(encoding=encoding, delimiter=delimiter)
    columns = _columns(header, role=role, out=out)
    for row_number, record in records:
        _row(record, row_number, columns, region=region, role=role, out=out)
    if not out.rows and not out.problems:
        raise BadFile("The file has a header row but no trainees under it.")
    _mark_duplicates(out)
    return out


def _columns(header: list[str], *, role: str, out: TraineeList) -> dict[str, tuple[int, str]]:
    """Which column holds what: {field: (index, header as written)}.

    :raises BadFile: when a column every list needs is missing.
    """
    found: dict[str, tuple[int, str]] = {}
    for index, name in enumerate(header):
        key = _key(name)
        for what, spellings in HEADERS.items():
            if key in spellings and what not in found:
                found[what] = (index, name)
                break
        else:
            if name:
                out.ignored_columns.append(name)
    missing = []
    if "email" not in found:
        missing.append("Email")
    if "full_name" not in found and not ("first_name" in found and "surname" in found):
        missing.append("Name (or First name and Surname)")
    if role == "newcomer" and "start_date" not in found:
        missing.append("Start date")
    if missing:
        raise BadFile(
            f"The file has no {' or '.join(missing)} column. The first row must name the "
            f"columns, like: Name, Email, Start date, Scheme, Phone, GMC number. "
            f"It names: {', '.join(h for h in header if h) or 'nothing'}.")
    return found


def _cell(record: list[str], columns: dict, what: str) -> str:
    if what not in columns:
        return ""
    index = columns[what][0]
    return record[index].strip() if index < len(record) else ""


def _row(record: list[str], row: int, columns: dict, *, region: str, role: str,
         out: TraineeList) -> None:
    problems: list[Problem] = []

    def bad(what: str, message: str) -> None:
        problems.append(Problem(row, columns.get(what, (0, COLUMN_WORDS[what]))[1], message))

    raw_name = _cell(record, columns, "full_name") or " ".join(
        part for part in (_cell(record, columns, "first_name"),
                          _cell(record, columns, "surname")) if part)
    name = ""
    try:
        name = clean_name(raw_name, label="the trainee's name")
    except ServiceError as exc:
        if "full_name" in columns:
            bad("full_name", exc.errors["full_name"])
        else:
            problems.append(Problem(row, columns["first_name"][1], exc.errors["full_name"]))

    raw_email = _cell(record, columns, "email")
    email = ""
    if not raw_email:
        bad("email", "The email address is empty: every trainee needs one")
    else:
        try:
            email = normalise_email(raw_email)
        except ServiceError:
            bad("email", f"\"{raw_email}\" is not an email address. Write it like "
                         "name@example.com")

    start = None
    raw_start = _cell(record, columns, "start_date")
    if raw_start:
        try:
            start = parse_date(raw_start)
        except ValueError as exc:
            bad("start_date", str(exc))
    elif role == "newcomer":
        bad("start_date", f"The start date is empty. {DATE_HINT}")

    phone = None
    raw_phone = _cell(record, columns, "phone")
    if raw_phone:
        try:
            phone = phones.normalise_mobile(raw_phone, None)
        except ValueError as exc:
            bad("phone", f"\"{raw_phone}\": {exc}")

    gmc = None
    raw_gmc = re.sub(r"\s", "", _cell(record, columns, "gmc_number"))
    if raw_gmc:
        if re.fullmatch(r"[0-9]{7}", raw_gmc):
            gmc = raw_gmc
        else:
            bad("gmc_number", f"\"{raw_gmc}\" is not a GMC number: it has 7 digits, like "
                              "7123456")

    scheme = None
    raw_scheme = _cell(record, columns, "scheme")
    if raw_scheme:
        scheme = _scheme(region, raw_scheme)
        if scheme is None:
            # Not a reason to hold the row back: the person chooses their scheme at sign-up.
            out.notes.append(f"Row {row}: the scheme \"{raw_scheme}\" is not one of "
                             f"{reference.regions()[region].name}'s schemes, so the sign-up "
                             "will ask for it")
    if problems:
        out.problems.extend(problems)
        return
    out.rows.append(Trainee(row=row, full_name=name, email=email, start_date=start,
                            phone=phone, gmc_number=gmc, scheme=scheme))


def _mark_duplicates(out: TraineeList) -> None:
    """Keep the first row of each person; later rows with the same email or GMC are skipped."""
    by_email: dict[str, int] = {}
    by_gmc: dict[str, int] = {}
    kept: list[Trainee] = []
    for trainee in out.rows:
        first = by_email.get(trainee.email)
        what = "email address"
        if first is None and trainee.gmc_number:
            first, what = by_gmc.get(trainee.gmc_number), "GMC number"
        if first is not None:
            out.duplicates.append(Skipped(trainee.row, trainee.full_name,
                                          f"same {what} as row {first}"))
            continue
        by_email[trainee.email] = trainee.row
        if trainee.gmc_number:
            by_gmc[trainee.gmc_number] = trainee.row
        kept.append(trainee)
    out.rows = kept


def _chunks(values: list[str], size: int = 500) -> Iterable[list[str]]:
    # SQLite of some builds allows 999 parameters in one statement.
    for start in range(0, len(values), size):
        yield values[start:start + size]


def check(session: Session, *, parsed: TraineeList, region: str) -> Preview:
    """Split the good rows into those to invite and those Buddy already has.

    Skipped: anyone already in Buddy (an account with the email, or a person with the GMC
    number, in any region) and anyone this region has invited before (any answer).
    """
    emails = [t.email for t in parsed.rows]
    gmcs = [t.gmc_number for t in parsed.rows if t.gmc_number]
    user_emails: set[str] = set()
    person_gmcs: set[str] = set()
    invited_emails: set[str] = set()
    invited_gmcs: set[str] = set()
    for chunk in _chunks(emails):
        user_emails.update(session.exec(select(User.email).where(User.email.in_(chunk))))
        invited_emails.update(session.exec(select(Invitation.email).where(
            Invitation.region == region, Invitation.email.in_(chunk))))
    for chunk in _chunks(gmcs):
        person_gmcs.update(session.exec(select(Person.gmc_number).where(
            Person.gmc_number.in_(chunk))))
        invited_gmcs.update(session.exec(select(Invitation.gmc_number).where(
            Invitation.region == region, Invitation.gmc_number.in_(chunk))))
    to_invite, in_buddy, invited = [], [], []
    for t in parsed.rows:
        if t.email in user_emails:
            in_buddy.append(Skipped(t.row, t.full_name, "already in Buddy (same email address)"))
        elif t.gmc_number in person_gmcs:
            in_buddy.append(Skipped(t.row, t.full_name, "already in Buddy (same GMC number)"))
        elif t.email in invited_emails:
            invited.append(Skipped(t.row, t.full_name, "already invited (same email address)"))
        elif t.gmc_number in invited_gmcs:
            invited.append(Skipped(t.row, t.full_name, "already invited (same GMC number)"))
        else:
            to_invite.append(t)
    return Preview(parsed=parsed, to_invite=to_invite, in_buddy=in_buddy, invited=invited)

