"""Demo data: all 11 regions in realistic proportions, with working demo accounts."""

from __future__ import annotations

from collections import Counter

import phonenumbers
import pytest
from sqlmodel import select

from buddy import demo, reference
from buddy.models import Person, User
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
    assert loaded["families"] > 200  # an earlier intake, already in families


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
