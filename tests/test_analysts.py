"""The analysts' file: pseudonymous rows per intake, no names, contact details or free text;
a stable keyed code per person; its columns documented in docs/indicators.md."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest

from buddy import clock
from buddy.models import Outcome
from buddy.services import analysts, survey_results
from buddy.services import surveys as survey_service
from buddy.settings import ConfigError
from tests.factories import login

INTAKE = "2027-08"
ROOT = Path(__file__).resolve().parent.parent
SECRET_TEXT = "My landlord Mr Okafor is unkind"


@pytest.fixture
def people(app, session, factory):
    kw = {"region": "wessex", "scheme": "wessex:poole"}
    consenting = factory.newcomer(full_name="Aisha Rahman", email="aisha@example.org",
                                  gmc_number="7111111", sensitive_consent="y", country="NG",
                                  languages=["yo", "ig"], gender="female", **kw)
    private = factory.newcomer(full_name="Bogdan Ionescu", email="bogdan@example.org", **kw)
    # Sensitive answers given once and consent withdrawn since: still never in the file.
    private.country, private.gender = "RO", "male"
    volunteer = factory.volunteer(full_name="Carys Evans", email="carys@example.org", **kw)
    session.add(private)
    session.add(Outcome(person_id=consenting.id, region="wessex", outcome="arcp_1",
                        on=date(2026, 6, 30)))
    session.commit()
    with app.app_context():
        request = survey_service.ensure_request(
            session, person=consenting, survey="hello", intake=INTAKE, family_id=None,
            audience="newcomer", sent_at=clock.now())
        session.commit()
        for key, value in (("help_with", "training"), ("confidence", "4"), ("meet", "online"),
                           ("anything_else", SECRET_TEXT)):
            survey_service.answer(session, request=request, question_key=key, value=value)
    return {"consenting": consenting, "private": private, "volunteer": volunteer}


def _download(client, intake=INTAKE) -> tuple[str, list[dict]]:
    response = client.get(f"/admin/analysts.csv?intake={intake}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    return text, list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.fixture
def admin_client(app, factory):
    client = app.test_client()
    login(client, factory.staff("admin").email)
    return client


def test_the_file_has_no_names_contact_details_or_free_text(app, session, factory, people,
                                                            admin_client):
    text, rows = _download(admin_client)
    assert len(rows) == 2  # the intake's two newcomers; the volunteer was asked nothing
    for person in people.values():
        user = factory.user_of(person)
        for value in (person.full_name, user.email, person.phone, person.gmc_number,
                      person.full_name.split()[0]):
            if value:
                assert value not in text, value
    assert "7111111" not in text and "Poole" not in text and "poole" not in text
    assert SECRET_TEXT not in text and "Okafor" not in text
    assert not re.search(r"@|\+\d{6,}", text)


def test_the_file_holds_what_the_analysts_need(app, session, people, admin_client):
    _, rows = _download(admin_client)
    by_code = {r["person"]: r for r in rows}
    with app.app_context():
        aisha = by_code[analysts.pseudonym(people["consenting"].id)]
        bogdan = by_code[analysts.pseudonym(people["private"].id)]
    assert aisha["region"] == "wessex" and aisha["intake"] == INTAKE
    assert aisha["role"] == "newcomer" and aisha["stage"] == "ST1"
    assert (aisha["country"], aisha["languages"], aisha["gender"]) == ("NG", "yo;ig", "female")
    # Sensitive answers only with consent.
    assert (bogdan["country"], bogdan["languages"], bogdan["gender"]) == ("", "", "")
    assert aisha["signed_up"] == "yes" and aisha["engaged_8_weeks"] == "no"
    assert aisha["hello"] == "answered" and bogdan["hello"] == "not_asked"
    assert (aisha["hello.help_with"], aisha["hello.confidence"]) == ("training", "4")
    assert "hello.anything_else" not in aisha
    assert aisha["outcome.arcp_1"] == "2026-06-30" and bogdan["outcome.arcp_1"] == ""


def test_the_code_is_stable_across_downloads_and_changes_with_the_key(
        make_app, app, session, people, admin_client, factory):
    first, rows = _download(admin_client)
    second, _ = _download(admin_client)
    assert first == second
    other = make_app(BUDDY_ANALYTICS_KEY="another-key-" + "x7Qp2Lm9Zt4Rv8Wn" * 3)
    client = other.test_client()
    login(client, factory.staff("admin").email)
    third, again = _download(client)
    assert {r["person"] for r in again}.isdisjoint({r["person"] for r in rows})
    assert [r["region"] for r in sorted(again, key=lambda r: r["hello"])] == \
        [r["region"] for r in sorted(rows, key=lambda r: r["hello"])]
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["person"]) for r in rows)


def test_each_download_is_in_the_audit_trail_and_only_the_admin_may(app, session, factory,
                                                                      people, admin_client):
    from sqlmodel import select

    from buddy.models import AuditEvent

    _download(admin_client)
    event = session.exec(select(AuditEvent).where(
        AuditEvent.action == "analysts_file_downloaded")).one()
    assert event.detail == {"intake": INTAKE, "rows": 2}
    lead = app.test_client()
    login(lead, factory.staff("lead", region="wessex").email)
    assert lead.get(f"/admin/analysts.csv?intake={INTAKE}").status_code == 404


def test_every_column_is_documented():
    doc = (ROOT / "docs" / "indicators.md").read_text()
    section = doc[doc.index("## The analysts' file"):]
    for column in analysts.COLUMNS:
        assert f"`{column}`" in section, column
    assert "`survey.question`" in section and "`outcome.key`" in section
    for survey in ("hello", "eight_weeks", "six_months"):
        assert f"`{survey}`" in section


def test_production_needs_an_analytics_key_of_its_own():
    from buddy.settings import load_settings
    from tests.test_app import PRODUCTION

    assert load_settings(environ={}, overrides=PRODUCTION)["BUDDY_ANALYTICS_KEY"] == \
        PRODUCTION["BUDDY_ANALYTICS_KEY"]
    for key in ("", "changeme", PRODUCTION["BUDDY_SECRET_KEY"]):
        with pytest.raises(ConfigError, match="BUDDY_ANALYTICS_KEY is missing, too weak or "
                                              "the same as BUDDY_SECRET_KEY"):
            load_settings(environ={}, overrides={**PRODUCTION, "BUDDY_ANALYTICS_KEY": key})
    # Development: a key of the process's own, never empty.
    assert len(load_settings(environ={}, overrides={"BUDDY_ENV": "development"})[
        "BUDDY_ANALYTICS_KEY"]) == 64


def test_survey_definitions_are_the_documents():
    doc = " ".join((ROOT / "docs" / "indicators.md").read_text().split())
    for key, text in survey_results.DEFINITIONS.items():
        assert f"(`{key}`)" in doc and " ".join(text.split()) in doc, key
