"""Intakes: the rule, match runs per intake, the command line, and every figure per intake."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

import matching
from buddy import intakes
from buddy.messaging.models import CheckIn
from buddy.models import Family, FamilyMember, MatchRun, Person, VolunteerConfirmation
from buddy.services import drafts, indicators, people, publishing, runs
from buddy.services.cohorts import family_cohort, key
from tests.factories import login
from tests.test_status import profile_data

REGION = "wessex"
KW = {"region": REGION, "scheme": "wessex:poole"}
# 1 July 2027: August 2027 is the next intake; February 2027 has begun and is past matching.
NOW = "2027-07-01T09:00:00+01:00"
TODAY = date(2027, 7, 1)
FEB, AUG = "2027-02", "2027-08"
FEB_ARRIVAL = {"arrival_day": "3", "arrival_month": "2", "arrival_year": "2027"}


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW)


# --- The rule ---------------------------------------------------------------------------

@pytest.mark.parametrize(("arrival", "intake"), [
    (date(2027, 8, 4), "2027-08"),  # on time
    (date(2027, 9, 15), "2027-08"),  # a late starter joins the intake that has begun
    (date(2027, 7, 28), "2027-08"),  # an early starter joins the coming one
    (date(2028, 2, 3), "2028-02"),
    (date(2028, 1, 1), "2028-02"),  # 31 days before February: early_days
    (date(2027, 12, 31), "2027-08"),  # 32 days before: still the August intake
    (None, None),  # no arrival date yet: matched with the next intake
])
def test_the_intake_of_an_arrival_date(arrival, intake):
    assert intakes.intake_of(arrival, REGION) == intake


def test_a_region_can_have_its_own_intake_months(tmp_path, monkeypatch):
    config = tmp_path / "programme.toml"
    text = (intakes.CONFIG_DIR / "programme.toml").read_text(encoding="utf-8")
    config.write_text(text + "\n[regions.london]\nintake_months = [8, 2, 11]\n",
                      encoding="utf-8")
    monkeypatch.setattr(intakes, "CONFIG_DIR", tmp_path)
    intakes._config.cache_clear()
    intakes.programme.cache_clear()
    try:
        assert intakes.intake_of(date(2027, 11, 20), "london") == "2027-11"
        assert intakes.intake_of(date(2027, 11, 20), "wessex") == "2027-08"
        assert intakes.parse("2027-11", "london") == "2027-11"
        with pytest.raises(intakes.BadIntake, match="February or August"):
            intakes.parse("2027-11", "wessex")
    finally:
        intakes._config.cache_clear()
        intakes.programme.cache_clear()


def test_sign_up_and_a_changed_date_keep_the_intake(app, session, factory):
    newcomer = factory.newcomer(**KW)
    assert session.get(Person, newcomer.id).intake == AUG
    volunteer = factory.volunteer(**KW)
    assert volunteer.intake is None  # volunteers belong to no intake
    with app.app_context():
        people.update_profile(session=session, person=newcomer, data=profile_data(
            newcomer, arrival_date=date(2028, 2, 3)))
    session.expire_all()
    assert session.get(Person, newcomer.id).intake == "2028-02"
    with app.app_context():
        people.update_profile(session=session, person=newcomer, data=profile_data(
            newcomer, arrival_date=date(2027, 9, 15)))
    session.expire_all()
    assert session.get(Person, newcomer.id).intake == AUG


# --- Runs per intake ---------------------------------------------------------------------

def confirm(session, person, intake=AUG, available=True, capacity=None) -> None:
    session.add(VolunteerConfirmation(person_id=person.id, intake=intake, available=available,
                                      capacity=capacity, channel="web"))
    session.commit()


def family(session, code, status, intake, members) -> Family:
    row = Family(code=code, region=REGION, status=status, intake=intake,
                 published_at=datetime(2027, 1, 20, tzinfo=UTC),
                 ended_at=datetime(2027, 6, 20, tzinfo=UTC) if status == "ended" else None)
    session.add(row)
    session.commit()
    for person, place in members:
        session.add(FamilyMember(family_id=row.id, person_id=person.id, place=place))
    session.commit()
    return row


@pytest.fixture
def world(factory, session) -> dict:
    """Wessex on 1 July 2027, a programme in its second intake:

    - February 2027: two newcomers whose family (with Old Anchor) has ended, one in a family
      that still runs (with Running Anchor, who has not confirmed for August), one never
      placed;
    - August 2027: two newcomers, and one whose arrival date is not known yet;
    - volunteers: Old Anchor confirmed (capacity from the profile, 2), Capped Anchor
      confirmed for 1 (profile 3), Busy Anchor said no, Silent Anchor has not answered.
    """
    w = {"lead": factory.staff("lead", region=REGION, email="lead.wessex@example.org")}
    for name, capacity in (("Old Anchor", "2"), ("Running Anchor", "3"), ("Capped Anchor", "3"),
                           ("Busy Anchor", "3"), ("Silent Anchor", "3")):
        w[name] = factory.volunteer(capacity=capacity, full_name=name, **KW)
    for name in ("Ended One", "Ended Two", "Running One", "Never Placed"):
        w[name] = factory.newcomer(full_name=name, **FEB_ARRIVAL, **KW)
    for name in ("August One", "August Two", "No Date"):
        w[name] = factory.newcomer(full_name=name, **KW)
    undated = session.get(Person, w["No Date"].id)
    undated.arrival_date, undated.intake = None, None  # imported before they knew the date
    session.add(undated)
    session.commit()
    w["ended"] = family(session, "wessex-001", "ended", FEB, [
        (w["Old Anchor"], "anchor"), (w["Ended One"], "newcomer"), (w["Ended Two"], "newcomer")])
    w["running"] = family(session, "wessex-002", "published", FEB, [
        (w["Running Anchor"], "anchor"), (w["Running One"], "newcomer")])
    confirm(session, w["Old Anchor"])
    confirm(session, w["Capped Anchor"], capacity=1)
    confirm(session, w["Busy Anchor"], available=False)
    return w


def test_the_cohort_of_an_intake(app, session, world):
    with app.app_context():
        cohort = family_cohort(session, REGION, intake=AUG)
    by_key = {p["id"]: p for p in cohort["people"]}
    names = {session.get(Person, int(k.split("-")[1])).full_name for k in by_key}
    # Earlier intakes' newcomers only as members of the family that still runs.
    assert names == {"August One", "August Two", "No Date", "Running One",
                     "Old Anchor", "Capped Anchor", "Running Anchor"}
    # The ended family is history: not locked; the running one is, with every member.
    assert cohort["locked"] == [{"family": "wessex-002", "anchor": key(world["Running Anchor"]),
                                 "members": [key(world["Running Anchor"]),
                                             key(world["Running One"])]}]
    assert by_key[key(world["Old Anchor"])]["capacity"] == 2  # the ended family takes none
    assert by_key[key(world["Capped Anchor"])]["capacity"] == 1  # as confirmed
    assert by_key[key(world["Running Anchor"])]["capacity"] == 1  # keeps its family, no more


def test_a_confirmed_capacity_never_breaks_a_running_family(app, session, world):
    confirm(session, world["Running Anchor"], capacity=0)
    with app.app_context():
        cohort = family_cohort(session, REGION, intake=AUG)
    running = next(p for p in cohort["people"] if p["id"] == key(world["Running Anchor"]))
    assert running["capacity"] == 1


def test_a_run_for_the_next_intake_places_its_newcomers_with_confirmed_buddies(
        app, session, world):
    with app.app_context():
        run = runs.start_run(session, lead=world["lead"], region=REGION, time_limit_s=5)
        run = runs.execute_run(session, run.id)
        assert run.intake == AUG and run.status == "draft"
        assert matching.validate(matching.load_cohort(run.cohort),
                                 drafts.current_result(session, run)) == []
        publishing.publish(session, lead=world["lead"], run_id=run.id)
    session.expire_all()
    placed = {}
    for fam in session.exec(select(Family).where(Family.run_id == run.id)).all():
        assert (fam.status, fam.intake) == ("published", AUG)
        for member in session.exec(select(FamilyMember).where(
                FamilyMember.family_id == fam.id)).all():
            placed[session.get(Person, member.person_id).full_name] = fam.code
    assert {n for n in placed if n in ("August One", "August Two", "No Date")} == {
        "August One", "August Two", "No Date"}
    assert {placed["Old Anchor"], placed["Capped Anchor"]} <= set(placed.values())
    assert not {"Busy Anchor", "Silent Anchor", "Never Placed", "Ended One"} & set(placed)
    # The ended family keeps its code and members; the new families get codes of their own.
    assert "wessex-001" not in placed.values()
    ended = session.get(Family, world["ended"].id)
    assert ended.status == "ended" and len(session.exec(select(FamilyMember).where(
        FamilyMember.family_id == ended.id)).all()) == 3
    assert session.get(Family, world["running"].id).status == "published"


def test_a_run_for_an_earlier_intake_takes_its_newcomers_only(app, session, world):
    confirm(session, world["Old Anchor"], intake=FEB)
    with app.app_context():
        run = runs.start_run(session, lead=world["lead"], region=REGION, time_limit_s=5,
                             intake=FEB)
    newcomers = {session.get(Person, int(p["id"].split("-")[1])).full_name
                 for p in run.cohort["people"] if p["role"] == "newcomer"}
    # The family that ended was theirs: Ended One and Two are not matched again.
    assert newcomers == {"Never Placed", "Running One"}
    assert run.intake == FEB


def test_a_bad_intake_is_refused_with_what_to_type(app, session, world):
    with app.app_context(), pytest.raises(runs.ServiceError) as error:
        runs.start_run(session, lead=world["lead"], region=REGION, intake="2027-07")
    assert error.value.errors["intake"].startswith("Enter an intake as YYYY-MM in February or")
    assert session.exec(select(MatchRun)).all() == []


def test_the_run_page_offers_intakes_with_their_counts(app, session, world):
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    page = client.get("/lead/runs/").get_data(as_text=True)
    choices = re.findall(r'name="intake" type="radio" value="([\d-]+)"', page)
    assert choices == [AUG, FEB, "2026-08"]
    text = " ".join(page.split())
    assert "3 newcomers of August 2027 without a family, 2 volunteers confirmed" in text
    assert "1 newcomer of February 2027 without a family, 0 volunteers confirmed" in text
    assert 'id="no-confirmed"' not in page
    refused = client.post("/lead/runs/", data={"kind": "families", "time_limit": "5",
                                               "intake": "2027-07"}, follow_redirects=True)
    assert "Enter an intake as YYYY-MM in February or August" in refused.get_data(as_text=True)
    response = client.post("/lead/runs/", data={"kind": "families", "time_limit": "5",
                                                "intake": FEB})
    run = session.get(MatchRun, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert run.intake == FEB
    assert "February 2027 intake" in client.get(f"/lead/runs/{run.id}").get_data(as_text=True)


def test_with_no_confirmation_yet_the_run_page_says_whom_to_ask(app, session, factory):
    factory.staff("lead", region=REGION, email="lead.wessex@example.org")
    factory.volunteer(full_name="Not Asked Yet", **KW)
    factory.newcomer(**KW)
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    page = " ".join(client.get("/lead/runs/").get_data(as_text=True).split())
    assert ("No volunteer has confirmed for August 2027 yet: ask them from the "
            '<a href="/lead/volunteers?region=wessex&amp;status=active">Volunteers page</a>') \
        in page
    with app.app_context():
        cohort = family_cohort(session, REGION, intake=AUG)
    assert [p["role"] for p in cohort["people"]] == ["newcomer"]


# --- The command line ---------------------------------------------------------------------

def test_buddy_match_for_an_intake_publishes_its_families(app, session, world, runner):
    result = runner.invoke(args=["match", REGION, "--intake", AUG, "--time-limit", "5",
                                 "--publish"])
    assert result.exit_code == 0, result.output
    assert "August 2027" in result.output and "Published run" in result.output
    session.expire_all()
    run = session.exec(select(MatchRun)).one()
    assert run.intake == AUG and run.status == "published"
    assert {f.intake for f in session.exec(select(Family).where(Family.run_id == run.id))} \
        == {AUG}


def test_buddy_export_cohort_for_an_intake(app, session, world, runner, tmp_path):
    out = tmp_path / "cohort.json"
    result = runner.invoke(args=["export-cohort", REGION, "--intake", FEB, "--out", str(out)])
    assert result.exit_code == 0, result.output
    cohort = json.loads(out.read_text(encoding="utf-8"))
    assert {p["id"] for p in cohort["people"] if p["role"] == "newcomer"} == {
        key(world["Never Placed"]), key(world["Running One"])}
    default = json.loads(runner.invoke(args=["export-cohort", REGION]).output)
    assert key(world["August One"]) in {p["id"] for p in default["people"]}


@pytest.mark.parametrize("command", ["match", "export-cohort"])
def test_a_bad_intake_on_the_command_line_exits_with_the_rule(app, session, world, runner,
                                                              command):
    result = runner.invoke(args=[command, REGION, "--intake", "2027-09"])
    assert result.exit_code == 2
    assert "Enter an intake as YYYY-MM in February or August, for example 2027-08, not " \
        "'2027-09'" in result.output
    assert session.exec(select(MatchRun)).all() == []


# --- Figures per intake -------------------------------------------------------------------

def test_per_intake_figures_equal_a_hand_count(app, session, world):
    session.add(CheckIn(person_id=world["Ended One"].id, region=REGION, day=7, channel="sms",
                        sent_at=datetime(2027, 2, 10, 10, tzinfo=UTC), answer="ok",
                        answered_at=datetime(2027, 2, 10, 12, tzinfo=UTC)))
    session.commit()
    with app.app_context():
        feb = indicators.summary(session, REGION, TODAY, FEB)
        aug = indicators.summary(session, REGION, TODAY, AUG)
        every = indicators.summary(session, REGION, TODAY)
        feb_check_ins = indicators.check_in_response(session, REGION, FEB)
        aug_check_ins = indicators.check_in_response(session, REGION, AUG)
    now = {"approved_volunteers": 5, "spare_capacity": 2 + 3 - 1 + 3 + 3 + 3, "open_flags": 0}
    # February: four signed up; three placed (two in the ended family, one running); all
    # four arrived on 3 February, three of them with a family (the steps nest:
    # indicators.DEFINITIONS); one answered the first check-in.
    assert feb == {"signed_up": 4, "matched": 3, "arrived": 3, "first_check_in_answered": 1,
                   "engaged_8_weeks": 0, "arrivals_without_family": 0, **now}
    # August: two with a date (No Date belongs to no intake yet), none placed or arrived;
    # both arrive within 60 days of 1 July without a family.
    assert aug == {"signed_up": 2, "matched": 0, "arrived": 0, "first_check_in_answered": 0,
                   "engaged_8_weeks": 0, "arrivals_without_family": 2, **now}
    assert every["signed_up"] == 7 and every["matched"] == 3
    assert feb_check_ins[7] == {"sent": 1, "answered": 1}
    assert aug_check_ins[7] == {"sent": 0, "answered": 0}


def test_every_csv_row_of_an_intake_carries_it(app, session, world):
    client = app.test_client()
    login(client, "lead.wessex@example.org")

    def rows(name, intake):
        body = client.get(f"/lead/export/{name}.csv?intake={intake}").get_data()
        return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))

    feb_people = rows("people", FEB)
    assert {r["Name"] for r in feb_people} == {"Ended One", "Ended Two", "Running One",
                                               "Never Placed"}
    assert {r["Intake"] for r in feb_people} == {"February 2027"}
    everyone = rows("people", "all")
    assert {r["Intake"] for r in everyone if r["Role"] == "Newcomer"} == {
        "February 2027", "August 2027", ""}
    families = rows("families", FEB)
    assert {(r["Family"], r["Status"], r["Intake"]) for r in families} == {
        ("wessex-001", "Ended", "February 2027"), ("wessex-002", "Running", "February 2027")}
    assert rows("families", AUG) == []
    indicator_rows = rows("indicators", AUG)
    assert [(r["Region"], r["Intake"], r["Signed up"]) for r in indicator_rows] == [
        ("Wessex", "August 2027", "2")]
    for name in ("check-ins", "flags"):
        header = client.get(f"/lead/export/{name}.csv?intake={FEB}").get_data().decode(
            "utf-8-sig").splitlines()[0]
        assert "Intake" in header.split(",")


def test_a_dashboard_reads_one_intake_at_a_time(app, session, world):
    client = app.test_client()
    login(client, "lead.wessex@example.org")
    default = client.get("/lead/").get_data(as_text=True)
    # The current intake on 1 July 2027 is August 2027 (early starters arrive from July).
    assert '<option value="2027-08" selected>' in default
    assert "Newcomers of August 2027, step by step" in default
    feb = client.get(f"/lead/?intake={FEB}").get_data(as_text=True)
    assert "Newcomers of February 2027, step by step" in feb
    assert f"/lead/export/people.csv?region={REGION}&amp;intake={FEB}" in feb
    every = client.get("/lead/?intake=all").get_data(as_text=True)
    assert "Newcomers of every intake, step by step" in every
    assert f"/lead/export/people.csv?region={REGION}&amp;intake=all" in every
    bad = client.get("/lead/?intake=2027-13", follow_redirects=True).get_data(as_text=True)
    assert "Enter an intake as YYYY-MM" in bad and "Newcomers of August 2027" in bad


def test_the_national_view_shows_intakes_side_by_side(app, session, factory):
    factory.staff("admin", email="admin@example.org")
    for i in range(5):
        factory.newcomer(full_name=f"February {i}", **FEB_ARRIVAL, **KW)
    for i in range(6):
        factory.newcomer(full_name=f"August {i}", **KW)
    client = app.test_client()
    login(client, "admin@example.org")
    page = client.get(f"/admin/indicators?intake={AUG}").get_data(as_text=True)
    table = page.split('id="series"', 1)[1].split("</table>", 1)[0]
    headings = re.findall(r'<abbr title="([^"]+)">', table)
    assert headings == ["February 2026", "August 2026", "February 2027", "August 2027"]
    rows = {re.search(r'<th scope="row"[^>]*>(.*?)</th>', row).group(1):
            [html.unescape(cell) for cell in re.findall(r'numeric">([^<]*)</td>', row)]
            for row in re.findall(r"<tr class=\"nhsuk-table__row\">(.*?)</tr>", table, re.S)
            if 'scope="row"' in row}
    assert rows["Signed up"] == ["<5", "<5", "5", "6"]
    # Arrived counts newcomers in a family (the steps nest): none of these has one.
    assert rows["Arrived"] == ["<5", "<5", "<5", "<5"]
    national = page.split('id="national"', 1)[1].split("</table>", 1)[0]
    assert "August 2027" in page.split('id="national"', 1)[0].rsplit("<h2", 1)[1]
    wessex = national.split("Wessex", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'numeric">([^<]*)</td>', wessex)[0] == "6"
    body = client.get(f"/admin/indicators.csv?intake={AUG}").get_data().decode("utf-8-sig")
    found = {(r["Region"], r["Intake as YYYY-MM (sorts by date)"]): r["Signed up"]
             for r in csv.DictReader(io.StringIO(body))}
    assert found[("Wessex", AUG)] == "6" and found[("Wessex", FEB)] == "5"
    assert len(found) == 11 * 4
