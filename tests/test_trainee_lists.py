"""Reading a region's trainee list: encodings, separators, headers, dates, bad rows,
duplicates, and the people Buddy already has (buddy/services/trainee_lists.py)."""

from __future__ import annotations

from datetime import date

import pytest

from buddy.models import Invitation
from buddy.services import trainee_lists
from buddy.services.trainee_lists import BadFile, parse_date, read
from buddy.statuses import InvitationStatus
from tests.factories import mobile

ROOT_SAMPLE = "docs/sample-trainee-list.csv"
CLEAN = ("Name,Email,Start date,Scheme,Phone,GMC number\r\n"
         "Dr Priya Raman,Priya.Raman@Example.org,04/08/2027,Bournemouth,,7123456\r\n"
         "Sam Jones,sam.jones@example.org,4 Aug 2027,,,\r\n")


def test_a_clean_file_reads_every_row_with_its_spreadsheet_row_number():
    parsed = read(CLEAN.encode(), region="wessex")
    assert parsed.problems == [] and parsed.encoding == "UTF-8" and parsed.delimiter == ","
    priya, sam = parsed.rows
    assert (priya.row, priya.full_name, priya.email, priya.start_date, priya.scheme,
            priya.gmc_number) == (2, "Dr Priya Raman", "priya.raman@example.org",
                                  date(2027, 8, 4), "bournemouth", "7123456")
    assert (sam.row, sam.start_date, sam.scheme, sam.gmc_number) == (3, date(2027, 8, 4),
                                                                      None, None)


def test_the_sample_file_reads_without_a_problem():
    with open(ROOT_SAMPLE, "rb") as fh:
        parsed = read(fh.read(), region="wessex")
    assert parsed.problems == [] and parsed.notes == [] and len(parsed.rows) == 4
    assert {r.full_name for r in parsed.rows} >= {"Zoë Ndiaye", "José Álvarez"}


def test_an_excel_file_with_a_byte_order_mark_keeps_its_first_header():
    parsed = read(b"\xef\xbb\xbf" + CLEAN.encode("utf-8"), region="wessex")
    assert parsed.encoding == "UTF-8 with a byte-order mark"
    assert [r.full_name for r in parsed.rows] == ["Dr Priya Raman", "Sam Jones"]


def test_windows_1252_with_accented_names_and_semicolons():
    text = ("Full name;E-mail address;Starting\r\n"
            "Zoë Ndiaye;zoe@example.org;03/08/2027\r\n"
            "José Álvarez;jose@example.org;3 August 2027\r\n")
    parsed = read(text.encode("cp1252"), region="london")
    assert parsed.encoding == "Windows-1252" and parsed.delimiter == ";"
    assert [r.full_name for r in parsed.rows] == ["Zoë Ndiaye", "José Álvarez"]
    assert parsed.problems == []


def test_utf8_accents_are_not_read_as_windows_1252():
    parsed = read("Name,Email,Start date\nZoë Ndiaye,zoe@example.org,2027-08-03\n".encode(),
                  region="london")
    assert parsed.rows[0].full_name == "Zoë Ndiaye" and parsed.encoding == "UTF-8"


@pytest.mark.parametrize("header", [
    "Name,Email,Start date",
    "Full name,E-mail address,Starting",
    "full_name,email_address,start_date",
    "NAME,E-MAIL,START DATE",
    "First name,Surname,Email,Post start date",
    "Forename,Last name,Email Address,Arrival date",
])
def test_forgiving_headers(header):
    columns = header.split(",")
    values = {"first name": "Priya", "forename": "Priya", "surname": "Raman",
              "last name": "Raman"}
    cells = []
    for column in columns:
        key = column.lower()
        if key in values:
            cells.append(values[key])
        elif "mail" in key:
            cells.append("priya@example.org")
        elif "name" in key:
            cells.append("Priya Raman")
        else:
            cells.append("04/08/2027")
    parsed = read(f"{header}\n{','.join(cells)}\n".encode(), region="london")
    assert parsed.problems == []
    [row] = parsed.rows
    assert (row.full_name, row.email, row.start_date) == ("Priya Raman", "priya@example.org",
                                                          date(2027, 8, 4))


def test_optional_columns_by_other_names_and_unknown_columns_are_named():
    number = mobile("GB", 3)
    parsed = read(f"Name,Email,Start date,Mobile,GMC,Programme,Title\n"
                  f"Sam Jones,sam@example.org,04/08/2027,{number},7 123 456,Barnet,Dr\n".encode(),
                  region="london")
    [row] = parsed.rows
    assert row.gmc_number == "7123456" and row.scheme == "barnet" and row.phone.startswith("+44")
    assert parsed.ignored_columns == ["Title"]


@pytest.mark.parametrize(("text", "day"), [
    ("03/08/2027", date(2027, 8, 3)), ("3/8/27", date(2027, 8, 3)),
    ("3 Aug 2027", date(2027, 8, 3)), ("3 August 2027", date(2027, 8, 3)),
    ("2027-08-03", date(2027, 8, 3)), ("03-Aug-2027", date(2027, 8, 3)),
    ("03.08.2027", date(2027, 8, 3)), ("03/08/2027 00:00", date(2027, 8, 3)),
    ("3rd Sept 2027", date(2027, 9, 3)),
])
def test_uk_dates(text, day):
    assert parse_date(text) == day


@pytest.mark.parametrize(("text", "says"), [
    ("08/31/2027", "US date"), ("31/02/2027", "not a real date"), ("soon", "is not a date"),
    ("3 Agu 2027", "\"Agu\" is not a month"),
])
def test_bad_dates_say_what_to_fix(text, says):
    with pytest.raises(ValueError) as info:
        parse_date(text)
    assert says in str(info.value) and "like 03/08/2027" in str(info.value)


def test_a_bad_date_names_the_row_the_column_and_what_to_fix():
    parsed = read(b"Name,Email,Start date\nSam Jones,sam@example.org,04/08/2027\n"
                  b"Ali Khan,ali@example.org,31/02/2027\n", region="london")
    [problem] = parsed.problems
    assert problem.words == ("Row 3, column Start date: \"31/02/2027\" is not a real date. "
                             "Write the date day first, like 03/08/2027, 3 Aug 2027 or "
                             "2027-08-03")
    assert [r.full_name for r in parsed.rows] == ["Sam Jones"] and parsed.bad_rows == [3]


def test_every_problem_of_a_row_is_named_with_the_files_own_column_name():
    number = "01632 960000"  # a landline
    parsed = read(f"Trainee name,E-mail,Starting,Mobile,GMC No\n"
                  f",not-an-email,,{number},12345\n".encode(), region="london")
    assert {(p.row, p.column) for p in parsed.problems} == {
        (2, "Trainee name"), (2, "E-mail"), (2, "Starting"), (2, "Mobile"), (2, "GMC No")}
    assert parsed.rows == []


def test_rows_are_numbered_as_the_spreadsheet_shows_them_with_blank_rows_and_line_breaks():
    text = ('Name,Email,Start date\n'
            ',,\n'
            '"Sam\nJones",sam@example.org,04/08/2027\n'
            '\n'
            'Ali Khan,ali@example.org,bad\n')
    parsed = read(text.encode(), region="london")
    assert [p.row for p in parsed.problems] == [3, 5]  # a name on two lines is a problem too


def test_a_duplicate_inside_the_file_is_skipped_and_named():
    parsed = read(b"Name,Email,Start date,GMC number\n"
                  b"Sam Jones,sam@example.org,04/08/2027,7123456\n"
                  b"Sam Jones,SAM@example.org,04/08/2027,\n"
                  b"Samuel Jones,samuel@example.org,04/08/2027,7123456\n", region="london")
    assert [r.row for r in parsed.rows] == [2]
    assert [(d.row, d.reason) for d in parsed.duplicates] == [
        (3, "same email address as row 2"), (4, "same GMC number as row 2")]


@pytest.mark.parametrize(("data", "says"), [
    (b"", "The file is empty"),
    (b"\n\n  \n", "The file is empty"),
    (b"\xef\xbb\xbf", "The file is empty"),
    (b"Name,Email,Start date\n", "no trainees under it"),
    (b"Name,Email,Start date\n,,\n", "no trainees under it"),
    (b"Name,Start date\nSam,04/08/2027\n", "no Email column"),
    (b"Email,Start date\nsam@example.org,04/08/2027\n", "no Name (or First name and Surname)"),
    (b"Name,Email\nSam,sam@example.org\n", "no Start date column"),
    ("Name,Email\n".encode("utf-16"), "UTF-16"),
    (b"\xef\xbb\xbfName,Email\n\xff\n", "says it is UTF-8 but is not"),
    (b"Name,Email,Start date\n\x81\x8d,a@example.org,04/08/2027\n", "not a text file"),
])
def test_files_that_cannot_be_read_say_what_to_do(data, says):
    with pytest.raises(BadFile) as info:
        read(data, region="london")
    assert says in info.value.errors["file"]


def test_volunteers_need_no_start_date():
    parsed = read(b"Name,Email\nSam Jones,sam@example.org\n", region="london",
                  role="volunteer")
    assert parsed.problems == [] and parsed.rows[0].start_date is None


def test_an_unknown_scheme_is_a_note_not_a_problem():
    parsed = read(b"Name,Email,Start date,Scheme\nSam,sam@example.org,04/08/2027,Atlantis\n",
                  region="london")
    assert parsed.problems == [] and parsed.rows[0].scheme is None
    assert parsed.notes == ["Row 2: the scheme \"Atlantis\" is not one of London's schemes, so "
                            "the sign-up will ask for it"]


def test_people_already_in_buddy_or_invited_are_skipped_and_named(app, session, factory):
    member = factory.newcomer(email="member@example.org")
    volunteer = factory.volunteer(gmc_number="7654321")
    session.add(Invitation(region="london", intake="2027-08", role="newcomer",
                           full_name="Ali Khan", email="ali@example.org", batch_id="x",
                           status=InvitationStatus.DECLINED))
    session.add(Invitation(region="wessex", intake="2027-08", role="newcomer",
                           full_name="Other region", email="new@example.org", batch_id="x"))
    session.commit()
    parsed = read(b"Name,Email,Start date,GMC number\n"
                  b"Member,MEMBER@example.org,04/08/2027,\n"
                  b"Volunteer by GMC,someone@example.org,04/08/2027,7654321\n"
                  b"Ali Khan,ali@example.org,04/08/2027,\n"
                  b"New Person,new@example.org,04/08/2027,\n", region="london")
    checked = trainee_lists.check(session, parsed=parsed, region="london")
    assert [t.email for t in checked.to_invite] == ["new@example.org"]
    assert [(s.row, s.full_name, s.reason) for s in checked.skipped] == [
        (2, "Member", "already in Buddy (same email address)"),
        (3, "Volunteer by GMC", "already in Buddy (same GMC number)"),
        (4, "Ali Khan", "already invited (same email address)"),
    ]
    assert member.id and volunteer.gmc_number == "7654321"
