"""Outcomes, optional: the lead's upload, its preview naming every bad row, all or nothing,
counts of 5 or more by participation, and deletion with the person and by retention."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from buddy.messaging.models import CheckIn
from buddy.models import AuditEvent, Outcome, OutcomeUpload, Person
from buddy.services import outcomes, retention
from buddy.services.trainee_lists import BadFile
from buddy.statuses import FamilyStatus
from tests.factories import PASSWORD, login

REGION = "wessex"
INTAKE = "2027-08"


@pytest.fixture
def lead(factory):
    return factory.staff("lead", region=REGION, email="lead.wessex@example.org")


@pytest.fixture
def newcomers(factory, session):
    people = [factory.newcomer(region=REGION, scheme="wessex:poole",
                               email=f"trainee{i}@example.org") for i in range(12)]
    people[0].gmc_number = "7000001"
    session.add(people[0])
    session.commit()
    return people


def _upload(client, body: bytes, name="outcomes.csv"):
    from io import BytesIO

    return client.post("/lead/outcomes/", data={"file": (BytesIO(body), name)},
                       content_type="multipart/form-data")


def test_the_preview_names_every_bad_row_and_stores_nothing_until_confirmed(
        app, session, lead, newcomers):
    client = app.test_client()
    login(client, lead.email)
    body = ("GMC number,E-mail,Outcome,Date\n"
            "7000001,,ARCP outcome 1,30/06/2026\n"        # by GMC number
            ",trainee1@example.org,AKT pass,2 Feb 2026\n"  # by email
            ",trainee2@example.org,Outcome 9,30/06/2026\n"  # not an outcome
            ",trainee3@example.org,ARCP 1,31/02/2026\n"     # not a real date
            "12345,,ARCP 1,30/06/2026\n"                    # not a GMC number
            ",,ARCP 1,30/06/2026\n"                         # nobody
            ",stranger@example.org,ARCP 1,30/06/2026\n"     # not in Buddy
            ",trainee9@example.org,ARCP 1,30/06/2099\n")    # in the future
    response = _upload(client, body.encode())
    assert response.status_code == 302
    page = html.unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "<strong>2 outcomes</strong> will be stored" in page
    assert "5 rows have problems" in page
    for row, column, words in [(4, "Outcome", "\"Outcome 9\" is not an outcome Buddy knows"),
                               (5, "Date", "\"31/02/2026\" is not a real date"),
                               (9, "Date", "30/06/2099 is in the future"),
                               (6, "GMC number", "\"12345\" is not a GMC number"),
                               (7, "GMC number", "Give the person's GMC number or email")]:
        assert f"<td class=\"nhsuk-table__cell\">{row}</td><td class=\"nhsuk-table__cell\">" \
               f"{column}</td><td class=\"nhsuk-table__cell\">{words}" in page, row
    assert "Rows about people not in Buddy: 8." in page
    assert session.exec(select(Outcome)).all() == []
    # Confirm: the good rows, in one go; the same file again stores nothing more.
    response = client.post(response.headers["Location"])
    assert response.status_code == 302
    stored = session.exec(select(Outcome.person_id, Outcome.outcome, Outcome.on)
                          .order_by(Outcome.on)).all()
    assert stored == [(newcomers[1].id, "akt_pass", date(2026, 2, 2)),
                      (newcomers[0].id, "arcp_1", date(2026, 6, 30))]
    event = session.exec(select(AuditEvent).where(
        AuditEvent.action == "outcomes_uploaded")).one()
    assert event.detail == {"stored": 2, "bad_rows": 5, "not_in_buddy": 1, "already": 0}
    again = _upload(client, body.encode())
    assert "<strong>0 outcomes</strong> will be stored" in client.get(
        again.headers["Location"]).get_data(as_text=True)
    assert session.exec(select(Outcome)).all().__len__() == 2


def test_excel_files_in_windows_1252_with_semicolons_are_read(app, session, lead, newcomers):
    data = "Email;Outcome;Date\ntrainee4@example.org;Extension;01.09.2026\n".encode("cp1252")
    with app.app_context():
        checked = outcomes.read(session, data=data, region=REGION)
    assert [(r.person_id, r.outcome) for r in checked.rows] == [(newcomers[4].id, "extension")]


@pytest.mark.parametrize(("body", "message"), [
    (b"", "The file is empty. Choose the CSV file of the outcomes."),
    (b"Name,Outcome\nSam,ARCP 1\n", "The file has no Email or GMC number or Date column"),
    (b"Email,Outcome,Date\n", "The file has a header row but no outcomes under it."),
])
def test_a_file_that_cannot_be_read_says_what_to_fix(app, session, lead, body, message):
    client = app.test_client()
    login(client, lead.email)
    response = _upload(client, body)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with pytest.raises(BadFile):
        outcomes.read(session, data=body, region=REGION)
    assert session.exec(select(OutcomeUpload)).all() == []


def test_confirm_is_all_or_nothing(app, session, lead, newcomers):
    """Two previews of one file confirmed one after the other store each outcome once."""
    body = (b"Email,Outcome,Date\ntrainee5@example.org,ARCP 1,30/06/2026\n"
            b"trainee6@example.org,ARCP 1,30/06/2026\n")
    with app.app_context():
        kept = outcomes.upload(session, lead=lead, region=REGION, filename="o.csv", data=body)
        # The second confirm checks the file again against the database: nothing twice.
        other = outcomes.upload(session, lead=lead, region=REGION, filename="o.csv", data=body)
        assert outcomes.confirm(session, lead=lead, upload_id=other.id) == 2
        assert outcomes.confirm(session, lead=lead, upload_id=kept.id) == 0
    assert len(session.exec(select(Outcome)).all()) == 2


def test_another_regions_lead_cannot_open_the_upload(app, session, lead, factory, newcomers):
    with app.app_context():
        kept = outcomes.upload(session, lead=lead, region=REGION, filename="o.csv",
                               data=b"Email,Outcome,Date\ntrainee1@example.org,ARCP 1,1/6/2028\n")
    other = app.test_client()
    login(other, factory.staff("lead", region="london").email)
    assert other.get(f"/lead/outcomes/uploads/{kept.id}").status_code == 404
    assert other.post(f"/lead/outcomes/uploads/{kept.id}").status_code == 404
    assert session.exec(select(Outcome)).all() == []


def _engage(session, person):
    person.arrival_date = date(2026, 8, 4)
    person.intake = INTAKE
    session.add(person)
    from buddy.models import Family, FamilyMember
    family = Family(code=f"{REGION}-{person.id:03d}", region=REGION, status=FamilyStatus.PUBLISHED)
    session.add(family)
    session.flush()
    session.add(FamilyMember(family_id=family.id, person_id=person.id, place="newcomer"))
    for day in (7, 56):
        session.add(CheckIn(person_id=person.id, region=REGION, day=day, answer="ok", channel="sms",
                            sent_at=datetime(2026, 10, 1, tzinfo=UTC)))
    session.commit()


@pytest.mark.parametrize(("engaged", "shown"), [(4, "<5"), (5, 5), (6, 6)])
def test_outcomes_show_only_as_counts_of_5_or_more_by_participation(
        app, session, lead, newcomers, engaged, shown):
    for person in newcomers[:engaged]:
        _engage(session, person)
    for person in newcomers:
        session.add(Outcome(person_id=person.id, region=REGION, outcome="arcp_1",
                            on=date(2027, 6, 30)))
    session.commit()
    today = date(2027, 12, 1)
    counts = outcomes.counts(session, region=REGION, intake=INTAKE, today=today)
    assert counts["arcp_1"] == {"engaged": engaged, "not_engaged": 12 - engaged,
                                "everyone": 12}
    seen = outcomes.shown(session, region=REGION, intake=INTAKE, today=today)["arcp_1"]
    assert seen["engaged"] == shown
    if engaged < 5:
        # 12 less the others would give the small one away.
        assert seen["not_engaged"] == "hidden" and seen["everyone"] == 12
    assert seen["not_engaged"] in (12 - engaged, "hidden")
    assert outcomes.shown(session, region=REGION, intake=INTAKE, today=today)[
        "akt_pass"] == {"engaged": "<5", "not_engaged": "<5", "everyone": "<5"}


def test_outcomes_are_deleted_with_the_person(app, session, newcomers):
    person_id = newcomers[0].id
    session.add(Outcome(person_id=person_id, region=REGION, outcome="arcp_1",
                        on=date(2028, 6, 30)))
    session.commit()
    client = app.test_client()
    login(client, "trainee0@example.org")
    response = client.post("/account/delete", data={"password": PASSWORD})
    assert response.status_code == 200
    session.expire_all()
    assert session.get(Person, person_id) is None
    assert session.exec(select(Outcome)).all() == []


def test_outcomes_are_deleted_by_retention(app, session, newcomers):
    person = newcomers[1]
    session.add(Outcome(person_id=person.id, region=REGION, outcome="akt_pass",
                        on=date(2028, 2, 2)))
    session.add(Outcome(person_id=newcomers[2].id, region=REGION, outcome="akt_pass",
                        on=date(2028, 2, 2)))
    session.commit()
    later = datetime(2030, 9, 1, tzinfo=UTC)
    with app.app_context():
        assert retention.anonymise(session, person.id, now=later)
    assert session.exec(select(Outcome.person_id)).all() == [newcomers[2].id]


def test_uploads_left_unconfirmed_are_deleted_after_a_day(app, session, lead, newcomers):
    with app.app_context():
        kept = outcomes.upload(session, lead=lead, region=REGION, filename="o.csv",
                               data=b"Email,Outcome,Date\ntrainee1@example.org,ARCP 1,1/6/2026\n")
    assert outcomes.daily(session, now=kept.created_at) == {"outcome_uploads_deleted": 0}
    later = kept.created_at.replace(year=kept.created_at.year + 1)
    assert outcomes.daily(session, now=later) == {"outcome_uploads_deleted": 1}
    assert session.exec(select(OutcomeUpload)).all() == []
