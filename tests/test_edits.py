"""A DA lead's edits of a draft (buddy/services/edits.py) on a small hand-made draft.

Every offer is checked against what the edit itself does, refusals are read as a lead reads
them, and each test ends with the optimiser's own rule check of what is stored.
"""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

import matching
from buddy.models import AuditEvent, AvoidPair, Family, FamilyMember, MatchRun, Person, User
from buddy.services import ServiceError, drafts, edits, retention, runs
from tests.test_runs import NOW, REGION, confirm_all

KW = {"region": REGION, "scheme": "wessex:poole"}
RULE_WORDS = re.compile(r"\brule \d|\b[nba]-\d+\b|capacity|avoid pair")


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW)


@pytest.fixture
def lead(factory) -> User:
    return factory.staff("lead", region=REGION, email="lead.wessex@example.org")


@pytest.fixture
def world(app, session, factory, lead) -> dict:
    return make_world(app, session, factory, lead)


def make_world(app, session, factory, lead) -> dict:
    """Three families, a newcomer without one and a free anchor:

    wessex-001: Ada (anchor, room for 3), Hana (hospital buddy), newcomers N1, N2
    wessex-002: Ben (anchor, room for 3), newcomers N3, N4
    wessex-003: Cal (anchor, room for 1), Ivy (buddy, room for 1), newcomer N5
    N6 without a family; Dee (can anchor, room for 2) in none.
    """
    p = {
        "Ada": factory.volunteer(capacity="3", full_name="Ada Anchor", **KW),
        "Ben": factory.volunteer(capacity="3", full_name="Ben Anchor", **KW),
        "Cal": factory.volunteer(capacity="1", full_name="Cal Anchor", **KW),
        "Dee": factory.volunteer(capacity="2", full_name="Dee Anchor", **KW),
        "Hana": factory.volunteer(capacity="3", stage="qualified", setting="secondary",
                                  can_anchor=None, full_name="Hana Hospital", **KW),
        "Ivy": factory.volunteer(capacity="1", stage="ST2", can_anchor=None,
                                 full_name="Ivy Buddy", **KW),
    }
    for i in range(1, 7):
        p[f"N{i}"] = factory.newcomer(full_name=f"Newcomer {i}", **KW)
    run = hand_made_draft(app, session, lead, [
        (p["Ada"], [p["Hana"]], [p["N1"], p["N2"]]),
        (p["Ben"], [], [p["N3"], p["N4"]]),
        (p["Cal"], [p["Ivy"]], [p["N5"]]),
    ])
    return {"run": run, "people": p, "lead": lead,
            "families": {f.code: f for f in session.exec(select(Family)).all()}}


def hand_made_draft(app, session, lead, families) -> MatchRun:
    """A draft run whose families are written by hand (the cohort is the real export)."""
    confirm_all(session)
    with app.app_context():
        run = runs.start_run(session, lead=lead, region=REGION, time_limit_s=5)
    run.status = "draft"
    run.result = {"version": 1, "kind": "families", "status": "feasible",
                  "settings": {"max_newcomers": 4, "max_extra_buddies": 2, "max_secondary": 1},
                  "families": [], "unmatched": []}
    session.add(run)
    for number, (anchor, buddies, newcomers) in enumerate(families, start=1):
        family = Family(code=f"{REGION}-{number:03d}", region=REGION, run_id=run.id,
                        intake=run.intake)
        session.add(family)
        session.flush()
        places = [(anchor, "anchor")] + [(b, "buddy") for b in buddies] + [
            (n, "newcomer") for n in newcomers]
        for person, place in places:
            session.add(FamilyMember(family_id=family.id, person_id=person.id, place=place,
                                     reasons=[]))
    session.commit()
    check_rules(session, run)
    return run


def check_rules(session, run: MatchRun) -> None:
    session.expire_all()
    run = session.get(MatchRun, run.id)
    result = drafts.current_result(session, run)
    assert matching.validate(matching.load_cohort(run.cohort), result) == []


def home(session, run, person) -> str | None:
    session.expire_all()
    return session.exec(select(Family.code).join(FamilyMember).where(
        Family.run_id == run.id, FamilyMember.person_id == person.id)).first()


def texts(session, action: str) -> list[str]:
    return [d["text"] for d in session.exec(
        select(AuditEvent.detail).where(AuditEvent.action == action)).all()]


def test_every_offer_agrees_with_the_move_itself(app, session, lead, world):
    """For each person, each family offered as able to take them takes them, and each one
    refused refuses the move with the same words; the draft walks on through the moves."""
    run = world["run"]
    checked = moved = 0
    with app.app_context():
        for name in ("N1", "N6", "Dee", "Ivy", "N3", "Hana", "N2", "N5"):
            person = world["people"][name]
            targets = edits.move_targets(session, lead=lead, run_id=run.id,
                                         person_id_=person.id)
            assert {t.family.code for t in targets} == set(world["families"]) - {
                home(session, run, person)}
            for target in [t for t in targets if not t.ok]:
                with pytest.raises(ServiceError) as refused:
                    edits.move_member(session, lead=lead, run_id=run.id, person_id_=person.id,
                                      family_id=target.family.id)
                for reason in target.reasons[:3]:
                    assert reason in str(refused.value)
                assert not RULE_WORDS.search(str(refused.value)), str(refused.value)
                checked += 1
            fitting = [t for t in targets if t.ok]
            if fitting:
                edits.move_member(session, lead=lead, run_id=run.id, person_id_=person.id,
                                  family_id=fitting[0].family.id)
                assert home(session, run, person) == fitting[0].family.code
                moved += 1
            check_rules(session, run)
    assert checked >= 8 and moved >= 3


def test_free_places_are_shown_in_words(app, session, world):
    rooms = edits.family_rooms(session, world["run"])
    by_code = {code: rooms[f.id] for code, f in world["families"].items()}
    assert by_code == {
        "wessex-001": "room for 1 more newcomer and 1 more buddy (not from hospital)",
        "wessex-002": "room for 1 more newcomer and 2 more buddies",
        "wessex-003": "room for 1 more buddy",
    }
    # A newcomer who asked for nothing special fits exactly where a newcomer place is free.
    targets = edits.move_targets(session, lead=world["lead"], run_id=world["run"].id,
                                 person_id_=world["people"]["N6"].id)
    assert {t.family.code: t.ok for t in targets} == {
        t.family.code: t.room.newcomers > 0 for t in targets}


def test_refusals_say_what_is_wrong_in_plain_words(app, session, lead, world):
    run, p, fam = world["run"], world["people"], world["families"]
    with app.app_context():
        targets = {t.family.code: t for t in edits.move_targets(
            session, lead=lead, run_id=run.id, person_id_=p["N6"].id)}
        assert targets["wessex-001"].ok and targets["wessex-002"].ok
        assert targets["wessex-003"].reasons == [
            "Cal Anchor can support 1 newcomer, and wessex-003 would have 2",
            "Ivy Buddy can support 1 newcomer, and wessex-003 would have 2"]
        # The last newcomer of a family cannot leave it: every target says so first.
        leaving = edits.move_targets(session, lead=lead, run_id=run.id, person_id_=p["N5"].id)
        assert all(t.reasons[0].startswith("wessex-003 would be left with no newcomer")
                   for t in leaving)
        with pytest.raises(ServiceError) as refused:
            edits.move_member(session, lead=lead, run_id=run.id, person_id_=p["Ivy"].id,
                              family_id=fam["wessex-001"].id)
        assert str(refused.value) == ("Ivy Buddy cannot move to wessex-001: Ivy Buddy can "
                                      "support 1 newcomer, and wessex-001 would have 2")
        with pytest.raises(ServiceError) as unchosen:
            edits.move_member(session, lead=lead, run_id=run.id, person_id_=p["N6"].id,
                              family_id=None)
        assert unchosen.value.errors == {"family_id": "Choose a family to move Newcomer 6 to"}
        with pytest.raises(ServiceError, match="Ada Anchor anchors wessex-001 .* stays"):
            edits.move_member(session, lead=lead, run_id=run.id, person_id_=p["Ada"].id,
                              family_id=fam["wessex-002"].id)
    check_rules(session, run)


def test_a_swap_is_all_or_nothing(app, session, lead, world):
    run, p, fam = world["run"], world["people"], world["families"]
    with app.app_context():
        choices = edits.choices(session, lead=lead, run_id=run.id, person_id_=p["N1"].id)
        assert {q.full_name for q, _ in choices.swaps} == {
            "Newcomer 3", "Newcomer 4", "Newcomer 5"}
        # Ivy (room for 1) cannot take Hana's place beside two newcomers: nothing changes.
        with pytest.raises(ServiceError) as refused:
            edits.swap_members(session, lead=lead, run_id=run.id, person_a=p["Ivy"].id,
                               person_b=p["Hana"].id)
        assert "Ivy Buddy can support 1 newcomer" in str(refused.value)
        assert home(session, run, p["Ivy"]) == "wessex-003"
        assert home(session, run, p["Hana"]) == "wessex-001"
        assert not any(session.get(Family, f.id).locked for f in fam.values())
        assert texts(session, "run_members_swapped") == []

        done = edits.swap_members(session, lead=lead, run_id=run.id, person_a=p["N1"].id,
                                  person_b=p["N5"].id)
    assert home(session, run, p["N1"]) == "wessex-003"
    assert home(session, run, p["N5"]) == "wessex-001"
    assert session.get(Family, fam["wessex-001"].id).locked
    assert session.get(Family, fam["wessex-003"].id).locked
    assert done.at == f"family-{fam['wessex-003'].id}"
    [text] = texts(session, "run_members_swapped")
    assert text == done.text
    assert "Newcomer 1 (newcomer, ST1" in text and "Newcomer 5 (newcomer, ST1" in text
    assert "wessex-001" in text and "wessex-003" in text
    check_rules(session, run)


def test_separate_two_people_into_a_family_with_room(app, session, lead, world):
    run, p, fam = world["run"], world["people"], world["families"]
    with app.app_context():
        with pytest.raises(ServiceError) as unchosen:
            edits.separate(session, lead=lead, run_id=run.id, person_id_=p["N2"].id,
                           other_id=p["N1"].id)
        assert "Choose a family for Newcomer 2" in str(unchosen.value)
        done = edits.separate(session, lead=lead, run_id=run.id, person_id_=p["N2"].id,
                              other_id=p["N1"].id, family_id=fam["wessex-002"].id)
    assert home(session, run, p["N2"]) == "wessex-002"
    assert home(session, run, p["N1"]) == "wessex-001"
    pair = session.exec(select(AvoidPair)).one()
    assert {pair.person_a, pair.person_b} == {p["N1"].id, p["N2"].id}
    assert pair.created_by == lead.id
    [text] = texts(session, "run_members_separated")
    assert text == done.text and "Newcomer 1" in text and "Newcomer 2" in text
    assert "from wessex-001 to wessex-002" in text
    check_rules(session, run)


def test_separate_into_a_new_family_led_by_a_free_anchor(app, session, lead, world):
    run, p = world["run"], world["people"]
    with app.app_context():
        options = edits.choices(session, lead=lead, run_id=run.id, person_id_=p["N4"].id)
        assert [a.full_name for a in options.anchors] == ["Dee Anchor"]
        assert {q.full_name for q in options.together} == {"Ben Anchor", "Newcomer 3"}
        done = edits.separate(session, lead=lead, run_id=run.id, person_id_=p["N4"].id,
                              other_id=p["N3"].id, anchor_id=p["Dee"].id)
        assert home(session, run, p["N4"]) == "wessex-004"
        new = session.exec(select(Family).where(Family.code == "wessex-004")).one()
        assert new.locked and new.run_id == run.id and new.status == "draft"
        assert done.at == f"family-{new.id}"
        # Dee leads it now: nobody else is free to lead one, and the page says so.
        options = edits.choices(session, lead=lead, run_id=run.id, person_id_=p["N6"].id)
        assert options.anchors == []
        assert options.no_new_family.startswith("No new family can be made: every buddy who "
                                                "can lead a family is already in one")
    assert session.exec(select(AvoidPair)).one()
    check_rules(session, run)


def test_a_new_family_for_a_newcomer_without_one(app, session, lead, world):
    run, p = world["run"], world["people"]
    with app.app_context():
        with pytest.raises(ServiceError) as unchosen:
            edits.new_family(session, lead=lead, run_id=run.id, person_id_=p["N6"].id,
                             anchor_id=None)
        assert unchosen.value.errors == {
            "anchor_id": "Choose a buddy to lead a new family for Newcomer 6"}
        with pytest.raises(ServiceError, match="A new family needs a newcomer"):
            edits.new_family(session, lead=lead, run_id=run.id, person_id_=p["Ivy"].id,
                             anchor_id=p["Dee"].id)
        done = edits.new_family(session, lead=lead, run_id=run.id, person_id_=p["N6"].id,
                                anchor_id=p["Dee"].id)
    assert home(session, run, p["N6"]) == home(session, run, p["Dee"]) == "wessex-004"
    assert done.text.startswith("Started wessex-004 for Newcomer 6 (newcomer, ST1")
    assert "led by Dee Anchor (buddy, ST3, GP, Poole)" in done.text
    assert texts(session, "run_family_started") == [done.text]
    check_rules(session, run)


def test_never_together_added_listed_and_undone_with_names(app, session, lead, world, factory):
    run, p = world["run"], world["people"]
    with app.app_context():
        with pytest.raises(ServiceError) as sharing:
            edits.add_avoid(session, lead=lead, run_id=run.id, person_a=p["N1"].id,
                            person_b=p["N2"].id)
        assert "are both in wessex-001" in str(sharing.value)
        assert "Keep apart" in str(sharing.value)
        assert session.exec(select(AvoidPair)).all() == []
        with pytest.raises(ServiceError) as unchosen:
            edits.add_avoid(session, lead=lead, run_id=run.id, person_a=p["N1"].id,
                            person_b=None)
        assert unchosen.value.errors == {"person_b": "Choose two people to keep apart"}

        edits.add_avoid(session, lead=lead, run_id=run.id, person_a=p["N5"].id,
                        person_b=p["N1"].id)
        [view] = edits.avoid_pairs(session, lead=lead, region=REGION)
        assert {view.first.full_name, view.second.full_name} == {"Newcomer 1", "Newcomer 5"}
        assert view.added_by == lead.full_name
        [added] = texts(session, "avoid_pair_added")
        assert added.startswith("Never together: Newcomer 5 (newcomer, ST1")
        assert "wessex-001" in added and "Newcomer 5" in added and "wessex-003" in added
        # Another region's lead cannot see or undo it.
        other = factory.staff("lead", region="london")
        with pytest.raises(runs.NotFound):
            edits.avoid_pairs(session, lead=other, region=REGION)
        with pytest.raises(runs.NotFound):
            edits.remove_avoid(session, lead=other, run_id=run.id, pair_id=view.pair.id)
        edits.remove_avoid(session, lead=lead, run_id=run.id, pair_id=view.pair.id)
    assert edits.avoid_pairs(session, lead=lead, region=REGION) == []
    [undone] = texts(session, "avoid_pair_removed")
    assert undone.startswith("No longer never together: Newcomer 1") and "Newcomer 5" in undone


def test_people_of_one_name_are_told_apart(app, session, factory):
    lucys = [
        factory.newcomer(full_name="Lucy Smith", **KW),
        factory.volunteer(full_name="Lucy Smith", stage="ST2", can_anchor=None, **KW),
        factory.volunteer(full_name="Lucy Smith", stage="qualified", setting="secondary",
                          can_anchor=None, region=REGION, scheme="wessex:bournemouth"),
    ]
    labels = {edits.label(lucy) for lucy in lucys}
    assert len(labels) == 3
    assert "Lucy Smith (buddy, qualified, hospital, Bournemouth" in " ".join(labels)


def test_a_name_in_an_audit_text_goes_when_that_person_is_forgotten(app, session, lead, world):
    run, p = world["run"], world["people"]
    with app.app_context():
        edits.add_avoid(session, lead=lead, run_id=run.id, person_a=p["N1"].id,
                        person_b=p["N5"].id)
        # The second person named: retention and account deletion remove their traces.
        person = session.get(Person, p["N5"].id)
        retention.forget_traces(session, person=person, user=session.get(User, person.user_id))
        session.commit()
    [text] = texts(session, "avoid_pair_added")
    assert "Newcomer 5" not in text


def test_a_buddy_removed_from_the_draft_is_not_offered_to_lead_a_new_family(
        app, session, lead, world):
    run, p = world["run"], world["people"]
    with app.app_context():
        before = edits.choices(session, lead=lead, run_id=run.id, person_id_=p["N6"].id)
        assert [a.full_name for a in before.anchors] == ["Dee Anchor"]
        # What remove_member stores for a person the lead took out of this match.
        run.excluded = [p["Dee"].id]
        session.add(run)
        session.commit()
        after = edits.choices(session, lead=lead, run_id=run.id, person_id_=p["N6"].id)
        assert after.anchors == []
        assert after.no_new_family.startswith("No new family can be made")
