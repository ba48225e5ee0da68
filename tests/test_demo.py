"""Demo data: all 11 regions in realistic proportions, with working demo accounts."""

from __future__ import annotations

from collections import Counter

import phonenumbers
import pytest
from sqlmodel import select

from buddy import clock, demo, intakes, reference
from buddy.messaging.models import Message
from buddy.models import (
    Family,
    FamilyAnswer,
    FamilyMember,
    Person,
    StageMove,
    User,
    VolunteerConfirmation,
)
from buddy.services import ServiceError
from tests.factories import login

PASSWORD = "demo password 123"


@pytest.fixture
def loaded(app, session):
    with app.app_context():
        return demo.load(session=session, seed=7, password=PASSWORD)


def test_demo_data_is_realistic_keeps_the_rules_and_signs_in(loaded, app, session):
    """One load (about 10 s), three checks: proportions, family rules, demo accounts."""
    check_proportions(loaded, session)
    check_family_rules(session)
    check_accounts(app)


def check_proportions(loaded, session):
    assert loaded["DA leads"] == 11 and loaded["admins"] == 1
    assert 2000 <= loaded["newcomers"] <= 2400  # about 2,200 (reference/domain.md)
    assert 2100 <= loaded["buddies"] + loaded["ambassadors"] <= 2500
    assert 450 <= loaded["ambassadors"] <= 560
    people = session.exec(select(Person)).all()
    newcomers = [p for p in people if p.role == "newcomer"]
    by_region = Counter(p.region for p in newcomers)
    assert set(by_region) == set(reference.regions())
    assert by_region["london"] > by_region["thames-valley"]  # London is bigger
    # Country of qualification: India and Pakistan about 20% each of those who shared it.
    shared = [p.country for p in newcomers if p.country and p.country != "GB"]
    shares = {c: n / len(shared) for c, n in Counter(shared).items()}
    assert 0.15 < shares["IN"] < 0.25 and 0.15 < shares["PK"] < 0.25
    # About 65% agreed to the optional fields; nobody else has any stored.
    consented = sum(p.sensitive_consent_at is not None for p in people) / len(people)
    assert 0.6 < consented < 0.7
    assert all(not p.languages and p.country is None for p in people
               if p.sensitive_consent_at is None)
    # Every scheme belongs to its region, every number is a valid mobile in E.164.
    assert all(p.scheme in reference.regions()[p.region].schemes for p in people if p.scheme)
    for p in people[:300]:
        number = phonenumbers.parse(p.phone)
        assert phonenumbers.is_valid_number(number) and p.phone.startswith("+")
    assert any(p.status == "pending" for p in people if p.role != "newcomer")
    assert all(p.can_anchor == (p.role == "buddy" and p.stage in ("ST3", "qualified")
                                and p.setting == "primary") for p in people)


def check_family_rules(session):
    """The earlier intake's families pass the optimiser's own rule check, region by region."""
    import matching
    from buddy.services.cohorts import family_cohort, key, published_families

    for region in reference.regions():
        cohort = matching.load_cohort(family_cohort(session, region))
        families = []
        for family, members in published_families(session, region):
            families.append({
                "id": family.code, "region": region,
                "anchor": next(key(p) for m, p in members if m.place == "anchor"),
                "buddies": [key(p) for m, p in members if m.place == "buddy"],
                "newcomers": [key(p) for m, p in members if m.place == "newcomer"]})
        placed = {n for f in families for n in f["newcomers"]}
        result = {"kind": "families", "families": families, "settings": {},
                  "unmatched": [{"id": p.id, "reason": "later"} for p in cohort.role("newcomer")
                                if p.id not in placed]}
        assert families and matching.validate(cohort, result) == []


def check_accounts(app):
    for email, home in [("admin@example.org", "/admin/"),
                        ("lead.north-east@example.org", "/lead/")]:
        assert login(app.test_client(), email, PASSWORD).headers["Location"] == home


def test_loading_again_replaces_the_demo_data(loaded, app, session):
    with app.app_context():
        again = demo.load(session=session, seed=7, password=PASSWORD)
    assert again == loaded
    people = sum(loaded[k] for k in ("admins", "DA leads", "newcomers", "buddies", "ambassadors"))
    assert len(session.exec(select(User)).all()) == people
    assert loaded["families running"] + loaded["families ended"] > 200


def test_demo_refuses_a_database_with_real_accounts(app, session, factory):
    factory.newcomer(email="real.person@nhs.net")
    with app.app_context(), pytest.raises(ServiceError, match="1 real accounts"):
        demo.load(session=session, seed=7, password=PASSWORD)


@pytest.mark.parametrize("args", [["demo"], ["demo", "--if-empty"]])
def test_demo_refuses_to_run_in_production(make_app, settings, db_backend, args):
    """Demo accounts share a published password: none may exist where real people sign in."""
    from sqlmodel import Session

    from tests.test_app import PRODUCTION

    # Production runs on PostgreSQL only; on a SQLite run the database is one nobody
    # listens for, and the command must refuse before it reaches it.
    url = (settings["BUDDY_DATABASE_URL"] if db_backend == "postgresql"
           else "postgresql+psycopg://buddy@127.0.0.1:1/buddy")
    app = make_app(**{**PRODUCTION, "BUDDY_DATABASE_URL": url})
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    assert "buddy demo does not run in production" in result.output
    assert "admin@example.org" not in result.output
    if db_backend == "postgresql":
        with Session(app.extensions["buddy.engine"]) as session:
            assert session.exec(select(User)).all() == []


def test_demo_load_itself_refuses_production(app, session):
    """The service refuses too, whoever calls it."""
    app.config["BUDDY_ENV"] = "production"
    with app.app_context(), pytest.raises(ServiceError, match="does not run in production"):
        demo.load(session=session, seed=7, password=PASSWORD)
    assert session.exec(select(User)).all() == []


# Today's default (the next intake is February, the running one August) and a July (the next
# intake is August, the running one February): the demo makes sense whatever today is.
DAYS = ["2026-12-04T09:00:00+00:00", "2027-07-01T09:00:00+01:00"]


@pytest.mark.parametrize("now", DAYS)
def test_demo_is_a_programme_in_its_second_year(app, session, now):
    """Per region: an ended intake, a running one, the next signing up, alumni buddies, stage
    moves done, confirmed and unconfirmed volunteers; per-intake figures; then buddy daily at
    the same moment has nothing to do, and a match run for the next intake makes families."""
    from buddy.services import daily, indicators

    app.config["BUDDY_NOW"] = now
    with app.app_context():
        demo.load(session=session, seed=7, password=PASSWORD)
        today = clock.today()
        people = session.exec(select(Person)).all()
        families = session.exec(select(Family)).all()
        shapes = {}
        for region in reference.regions():
            shapes[region] = check_region(session, region, today, people, families)
        check_stage_moves(session, people, today)
        answers = Counter(a.answer for a in session.exec(select(FamilyAnswer)))
        assert answers["finish"] > answers["carry_on"] > 0

        # The national time series: the three intakes have newcomers; two were matched.
        nxt, last, before = shapes["london"]
        series = indicators.series(session, list(reference.regions()), today,
                                   [before, last, nxt])
        assert all(series[i]["signed_up"] >= 5 for i in (before, last, nxt))
        assert all(series[i]["matched"] >= 5 for i in (before, last))
        # About 90% of a year's starters begin in August.
        sizes = Counter(p.intake for p in people if p.role == "newcomer")
        assert all(sizes[i] > 5 * sizes[j] for i in (before, last, nxt) if i.endswith("-08")
                   for j in (before, last, nxt) if j.endswith("-02"))

        statuses = Counter((f.intake, f.status) for f in session.exec(select(Family)))
        done, failed = daily.run(session, now=clock.now())
        assert (done, failed) == ({}, [])
        assert Counter((f.intake, f.status) for f in session.exec(select(Family))) == statuses
        assert session.exec(select(Message).where(Message.status == "pending")).all() == []

        check_match(session, "north-east", nxt)
    # Outside the block: requests in one app context would share its signed-in user.
    check_dashboard(app, (before, last, nxt))


def check_dashboard(app, shown):
    """London's lead reads non-zero figures for each intake; so does the admin's series."""
    import re

    client = app.test_client()
    login(client, "lead.london@example.org", PASSWORD)
    for intake in shown:
        page = client.get(f"/lead/?intake={intake}").get_data(as_text=True)
        figures = dict(re.findall(r'<td class="nhsuk-table__cell">([^<]+)</td><td class="nhsuk-'
                                  r'table__cell nhsuk-table__cell--numeric">(\d+)</td>', page))
        assert int(figures["Signed up"]) > 0, intake
        if intake != shown[-1]:
            assert int(figures["In a family"]) > 0, intake
    admin = app.test_client()
    login(admin, "admin@example.org", PASSWORD)
    page = admin.get(f"/admin/indicators?intake={shown[-1]}").get_data(as_text=True)
    assert all(intakes.label(i) in page for i in shown)


def check_region(session, region, today, people, families) -> tuple[str, str, str]:
    nxt = intakes.next_intake(today, region)
    last, before = intakes.previous(nxt, region, 2)
    mine = [f for f in families if f.region == region]
    ended = [f for f in mine if f.intake == before]
    assert ended and all(f.status == "ended" and f.ended_at and f.end_reason for f in ended)
    assert all(f.ended_at.date() <= today for f in ended)
    running = [f for f in mine if f.intake == last]
    assert running and all(f.status == "published" for f in running)
    assert {f.intake for f in mine} == {before, last}

    placed = set(session.exec(select(FamilyMember.person_id)).all())
    locals_ = [p for p in people if p.region == region]
    signing_up = [p for p in locals_ if p.role == "newcomer" and p.intake == nxt]
    assert len(signing_up) >= 5 and not placed & {p.id for p in signing_up}
    assert all(p.arrival_date >= intakes.start(nxt) for p in signing_up)

    alumni = [p for p in locals_ if p.role == "buddy" and p.intake]
    assert {p.status for p in alumni} == {"active", "pending"}
    assert all(p.intake < before or p.intake == before for p in alumni)
    assert all(p.approved_region == region for p in alumni if p.status == "active")
    assert all(p.stage in ("ST2", "ST3", "qualified") for p in alumni)

    volunteers = [p for p in locals_ if p.role in ("buddy", "ambassador")
                  and p.status == "active"]
    answered = {c.person_id: c for c in session.exec(select(VolunteerConfirmation).where(
        VolunteerConfirmation.intake == nxt))}
    assert sum(c.available for c in answered.values()) >= 10
    assert any(p.id not in answered for p in volunteers)
    return nxt, last, before


def check_stage_moves(session, people, today):
    """Every move was made on its day, once, and leads to the stage the person has now."""
    from buddy.services import training_year

    moves: dict[int, list[StageMove]] = {}
    for move in session.exec(select(StageMove).order_by(StageMove.due_on)):
        moves.setdefault(move.person_id, []).append(move)
    assert moves
    for p in people:
        rows = moves.get(p.id, [])
        assert [m.due_on for m in rows] == training_year.schedule(p, today)
        for before, after in zip(rows, rows[1:], strict=False):
            assert before.to_stage == after.from_stage
        if rows:
            assert rows[-1].to_stage == p.stage
        first = training_year.first_move(p) if p.role == "newcomer" else None
        if first and first <= today and p.arrival_date <= first:
            assert p.stage != "ST1"  # last year's ST1 newcomers are ST2 now


def check_match(session, region, intake):
    """A run for the next intake holds only its newcomers and puts them in families."""
    from buddy.services import cohorts, runs

    lead = session.exec(select(User).where(User.email == f"lead.{region}@example.org")).one()
    run = runs.start_run(session, lead=lead, region=region, time_limit_s=5)
    run = runs.execute_run(session, run.id)
    assert run.status == "draft" and run.intake == intake
    locked = {m for entry in run.cohort["locked"] for m in entry["members"]}
    fresh = [p["id"] for p in run.cohort["people"]
             if p["role"] == "newcomer" and p["id"] not in locked]
    assert fresh
    assert {session.get(Person, cohorts.person_id(k)).intake for k in fresh} == {intake}
    new_families = [f for f in run.result["families"] if set(f["newcomers"]) & set(fresh)]
    assert new_families
