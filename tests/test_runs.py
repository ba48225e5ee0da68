"""Match runs through the services: run, review, edit with rule checks, re-run, publish."""

from __future__ import annotations

import pytest
from sqlmodel import select

import matching
from buddy.models import (
    AuditEvent,
    AvoidPair,
    Family,
    FamilyMember,
    MatchRun,
    Person,
    User,
    VolunteerConfirmation,
)
from buddy.services import NotFound, ServiceError, cohorts, drafts, edits, publishing, review, runs
from buddy.services.cohorts import family_cohort, key

REGION = "wessex"
# The factory's newcomers arrive on 4 August 2027: on 1 July 2027 theirs is the next intake.
NOW = "2027-07-01T09:00:00+01:00"
INTAKE = "2027-08"


@pytest.fixture
def app(make_app):
    return make_app(BUDDY_NOW=NOW)


def confirm_all(session, intake: str = INTAKE) -> None:
    """Every approved buddy of the region confirms they can buddy for `intake`, as asked."""
    answered = set(session.exec(select(VolunteerConfirmation.person_id)
                                .where(VolunteerConfirmation.intake == intake)).all())
    for person in session.exec(select(Person).where(Person.role == "buddy")).all():
        if person.id not in answered:
            session.add(VolunteerConfirmation(person_id=person.id, intake=intake,
                                              available=True, channel="web"))
    session.commit()


@pytest.fixture
def lead(factory, session) -> User:
    return factory.staff("lead", region=REGION, email="lead.wessex@example.org")


@pytest.fixture
def region_people(factory) -> dict[str, list[Person]]:
    """A small Wessex: 3 anchors (room for 2 each), a hospital buddy, 6 newcomers."""
    anchors = [factory.volunteer(region=REGION, scheme="wessex:poole", capacity="2",
                                 full_name=f"Anchor {i}") for i in range(3)]
    hospital = [factory.volunteer(region=REGION, scheme="wessex:poole", stage="qualified",
                                  setting="secondary", can_anchor=None, capacity="2",
                                  full_name="Hospital Buddy")]
    newcomers = [factory.newcomer(region=REGION, scheme="wessex:poole",
                                  full_name=f"Newcomer {i}") for i in range(6)]
    return {"anchors": anchors, "hospital": hospital, "newcomers": newcomers}


def run_now(app, session, lead, **kw) -> MatchRun:
    confirm_all(session)
    with app.app_context():
        run = runs.start_run(session, lead=lead, region=REGION, time_limit_s=5, **kw)
        return runs.execute_run(session, run.id)


def check_rules(session, run: MatchRun) -> None:
    """Every test ends with the optimiser's own rule check of what is stored."""
    result = drafts.current_result(session, run)
    assert matching.validate(matching.load_cohort(run.cohort), result) == []


def family_of(session, run, person) -> Family | None:
    return session.exec(select(Family).join(FamilyMember).where(
        Family.run_id == run.id, FamilyMember.person_id == person.id)).first()


def test_run_makes_a_draft_that_places_everyone_it_can(app, session, lead, region_people):
    run = run_now(app, session, lead)
    assert run.status == "draft" and run.result["status"] in ("optimal", "feasible")
    families = drafts.draft_families(session, run)
    assert len(families) == 3
    placed = {p.id for _, members in families for m, p in members if m.place == "newcomer"}
    assert placed == {p.id for p in region_people["newcomers"]}
    for family, members in families:
        assert family.status == "draft" and not family.locked
        assert [m.place for m, _ in members].count("anchor") == 1
    summary = review.summary(session, run)
    assert summary["metrics"]["coverage"] == 1.0 and summary["unmatched"] == []
    newcomer_reasons = [m.reasons for _, members in families for m, _ in members
                        if m.place == "newcomer"]
    assert all(newcomer_reasons)
    assert "same scheme as" in cohorts.readable(newcomer_reasons[0][0], summary["people"]) or any(
        "same scheme as Anchor" in cohorts.readable(r, summary["people"])
        for reasons in newcomer_reasons for r in reasons)
    check_rules(session, run)


def test_unmatched_newcomers_get_a_reason_a_lead_can_act_on(app, session, lead, factory):
    factory.volunteer(region=REGION, scheme="wessex:poole", capacity="1", full_name="Only Anchor")
    factory.newcomer(region=REGION, scheme="wessex:poole", full_name="First")
    factory.newcomer(region=REGION, scheme="wessex:poole", full_name="Second")
    run = run_now(app, session, lead)
    summary = review.summary(session, run)
    assert len(summary["unmatched"]) == 1
    person, reason = summary["unmatched"][0]
    assert "no anchor with free capacity in Wessex" in reason
    assert summary["unmatched_hint"] == {"anchors_needed": 1}
    check_rules(session, run)


def test_a_region_with_no_anchor_fails_with_the_reason(app, session, lead, factory):
    factory.newcomer(region=REGION, scheme="wessex:poole")
    run = run_now(app, session, lead)
    assert run.status in ("draft", "failed")
    if run.status == "draft":
        _, reason = review.summary(session, run)["unmatched"][0]
        assert "anchor" in reason
    else:
        assert "anchor" in run.error


def test_two_runs_for_one_region_at_once_are_refused(app, session, lead, region_people):
    with app.app_context():
        runs.start_run(session, lead=lead, region=REGION, time_limit_s=5)
        with pytest.raises(ServiceError, match="already running"):
            runs.start_run(session, lead=lead, region=REGION, time_limit_s=5)
        # Ambassadors are a separate kind: allowed beside a family run.
        runs.start_run(session, lead=lead, region=REGION, kind="ambassadors", time_limit_s=5)


def test_another_regions_lead_cannot_see_or_start_runs(app, session, lead, factory,
                                                         region_people):
    other = factory.staff("lead", region="london")
    run = run_now(app, session, lead)
    with app.app_context():
        with pytest.raises(NotFound):
            runs.get_run(session, other, run.id)
        with pytest.raises(NotFound):
            runs.start_run(session, lead=other, region=REGION)
        with pytest.raises(NotFound):
            edits.move_member(session, lead=other, run_id=run.id,
                             person_id_=region_people["newcomers"][0].id, family_id=1)


def test_a_move_that_breaks_capacity_is_refused_and_changes_nothing(app, session, lead,
                                                                    region_people):
    run = run_now(app, session, lead)
    newcomer = region_people["newcomers"][0]
    source = family_of(session, run, newcomer)
    # Every anchor has room for 2 and every family has 2 newcomers: no room anywhere.
    target = next(f for f, _ in drafts.draft_families(session, run) if f.id != source.id)
    with app.app_context(), pytest.raises(ServiceError, match="cannot move to .* can support"):
        edits.move_member(session, lead=lead, run_id=run.id, person_id_=newcomer.id,
                         family_id=target.id)
    session.expire_all()
    assert family_of(session, run, newcomer).id == source.id
    assert not session.get(Family, target.id).locked
    check_rules(session, run)


def test_moving_a_newcomer_locks_both_families(app, session, lead, region_people):
    run = run_now(app, session, lead)
    first, second = [f for f, _ in drafts.draft_families(session, run)][:2]
    leaving = next(p for m, p in drafts.draft_families(session, run)[0][1] if m.place == "newcomer")
    moving = next(p for m, p in drafts.draft_families(session, run)[1][1] if m.place == "newcomer")
    with app.app_context():
        edits.remove_member(session, lead=lead, run_id=run.id, person_id_=leaving.id)
        edits.move_member(session, lead=lead, run_id=run.id, person_id_=moving.id,
                         family_id=first.id)
    session.expire_all()
    assert family_of(session, run, moving).id == first.id
    assert session.get(Family, first.id).locked and session.get(Family, second.id).locked
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.actor_id == lead.id)).all()
    assert actions == ["run_started", "run_member_removed", "run_member_moved"]
    check_rules(session, session.get(MatchRun, run.id))


def test_remove_then_move_back_and_lock(app, session, lead, region_people):
    run = run_now(app, session, lead)
    newcomer = region_people["newcomers"][0]
    family = family_of(session, run, newcomer)
    with app.app_context():
        edits.remove_member(session, lead=lead, run_id=run.id, person_id_=newcomer.id)
    session.expire_all()
    assert family_of(session, run, newcomer) is None
    assert session.get(MatchRun, run.id).excluded == [newcomer.id]
    assert session.get(Family, family.id).locked
    reasons = dict((p.id, r) for p, r in review.summary(session, session.get(MatchRun, run.id))
                   ["unmatched"])
    assert reasons[newcomer.id] == "removed from the draft by the DA lead"
    check_rules(session, session.get(MatchRun, run.id))
    with app.app_context():
        edits.move_member(session, lead=lead, run_id=run.id, person_id_=newcomer.id,
                         family_id=family.id)
        edits.set_locked(session, lead=lead, run_id=run.id, family_id=family.id, locked=False)
    session.expire_all()
    assert family_of(session, run, newcomer).id == family.id
    assert session.get(MatchRun, run.id).excluded == []
    check_rules(session, session.get(MatchRun, run.id))


def test_anchors_cannot_be_moved_or_removed(app, session, lead, region_people):
    run = run_now(app, session, lead)
    anchor = next(p for _, members in drafts.draft_families(session, run)
                  for m, p in members if m.place == "anchor")
    with app.app_context(), pytest.raises(ServiceError, match="anchor stays with their family"):
        edits.remove_member(session, lead=lead, run_id=run.id, person_id_=anchor.id)


def test_never_together_is_refused_while_they_share_a_family(app, session, lead,
                                                              region_people):
    run = run_now(app, session, lead)
    family, members = drafts.draft_families(session, run)[0]
    a, b = [p for _, p in members][:2]
    with app.app_context(), pytest.raises(ServiceError, match="are both in .* Keep apart"):
        edits.add_avoid(session, lead=lead, run_id=run.id, person_a=a.id, person_b=b.id)
    other = next(p for f, ms in drafts.draft_families(session, run) if f.id != family.id
                 for m, p in ms if m.place == "newcomer")
    with app.app_context():
        edits.add_avoid(session, lead=lead, run_id=run.id, person_a=a.id, person_b=other.id)
    stored = [sorted([p.person_a, p.person_b]) for p in session.exec(select(AvoidPair))]
    assert stored == [sorted([a.id, other.id])]
    # The next run sees the pair.
    avoid = [sorted(pair) for pair in family_cohort(session, REGION)["avoid"]]
    assert avoid == [sorted([key(a), key(other)])]


def test_reoptimise_keeps_locked_families_and_removals(app, session, lead, region_people):
    run = run_now(app, session, lead)
    family, members = drafts.draft_families(session, run)[0]
    kept = {p.id for _, p in members}
    removed = next(p for f, ms in drafts.draft_families(session, run) if f.id != family.id
                   for m, p in ms if m.place == "newcomer")
    with app.app_context():
        edits.set_locked(session, lead=lead, run_id=run.id, family_id=family.id, locked=True)
        edits.remove_member(session, lead=lead, run_id=run.id, person_id_=removed.id)
        second = runs.reoptimise(session, lead=lead, run_id=run.id)
        second = runs.execute_run(session, second.id)
    session.expire_all()
    assert session.get(MatchRun, run.id).status == "discarded"
    assert second.status == "draft"
    again = next(f for f, ms in drafts.draft_families(session, second)
                 if {p.id for _, p in ms} >= kept)
    assert again.code == family.code and again.locked
    assert family_of(session, second, removed) is None
    check_rules(session, second)


def test_publish_makes_families_visible_and_a_rerun_keeps_them(app, session, lead, factory,
                                                                 region_people):
    run = run_now(app, session, lead)
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=run.id)
    session.expire_all()
    published = session.exec(select(Family).where(Family.status == "published")).all()
    assert len(published) == 3 and all(f.published_at for f in published)
    before = {f.code: {m.person_id for m in session.exec(
        select(FamilyMember).where(FamilyMember.family_id == f.id))} for f in published}

    # Late sign-ups and a new anchor arrive; the next run locks what was published.
    late = [factory.newcomer(region=REGION, scheme="wessex:poole", full_name=f"Late {i}")
            for i in range(2)]
    factory.volunteer(region=REGION, scheme="wessex:poole", capacity="3", full_name="New Anchor")
    rerun = run_now(app, session, lead)
    assert {e["family"] for e in rerun.cohort["locked"]} == set(before)
    check_rules(session, rerun)
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=rerun.id)
    session.expire_all()
    after = {f.code: {m.person_id for m in session.exec(
        select(FamilyMember).where(FamilyMember.family_id == f.id))}
        for f in session.exec(select(Family).where(Family.status == "published"))}
    for code, members in before.items():
        assert members <= after[code]  # nobody left a published family
    placed = set().union(*after.values())
    assert {p.id for p in late} <= placed
    assert session.exec(select(Family).where(Family.status == "draft")).all() == []


def test_reoptimise_in_a_region_with_published_families(app, session, lead, factory,
                                                         region_people):
    """A later run's draft extends published families; re-optimising it must lock each
    family once, keep every published family whole and keep the lead's locks."""
    first = run_now(app, session, lead)
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=first.id)
    session.expire_all()
    published = {f.code: {m.person_id for m in session.exec(
        select(FamilyMember).where(FamilyMember.family_id == f.id))}
        for f in session.exec(select(Family).where(Family.status == "published"))}
    late = [factory.newcomer(region=REGION, scheme="wessex:poole", full_name=f"Late {i}")
            for i in range(3)]
    factory.volunteer(region=REGION, scheme="wessex:poole", capacity="3", full_name="New Anchor")
    second = run_now(app, session, lead)
    assert second.status == "draft"
    # The lead locks one family that extends a published one and one new family.
    families = drafts.draft_families(session, second)
    extending = [f for f, _ in families if f.code in published]
    new = [f for f, ms in families if f.code not in published and ms]
    assert extending and new
    with app.app_context():
        for family in (extending[0], new[0]):
            edits.set_locked(session, lead=lead, run_id=second.id, family_id=family.id,
                            locked=True)
        kept_new = {p.id for p, _ in members_of_family(session, new[0])}
        third = runs.reoptimise(session, lead=lead, run_id=second.id)
        third = runs.execute_run(session, third.id)
    assert third.status == "draft", third.error
    codes = [e["family"] for e in third.cohort["locked"]]
    assert len(codes) == len(set(codes))  # each family locked once
    owners = [m for e in third.cohort["locked"] for m in e["members"]]
    assert len(owners) == len(set(owners))  # each person in one locked family
    after = {f.code: {p.id for _, p in ms} for f, ms in drafts.draft_families(session, third)}
    for code, members in published.items():
        assert members <= after[code]  # published families stay whole
    assert kept_new <= after[new[0].code]
    assert {p.id for p in late} <= set().union(*after.values())
    check_rules(session, third)
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=third.id)
    session.expire_all()
    final = {f.code: {m.person_id for m in session.exec(
        select(FamilyMember).where(FamilyMember.family_id == f.id))}
        for f in session.exec(select(Family).where(Family.status == "published"))}
    for code, members in published.items():
        assert members <= final[code]


def test_what_a_locked_draft_added_to_a_published_family_stays_the_leads(app, session, lead,
                                                                         factory):
    """Re-optimised, a lead-locked extension of a published family is locked with it; the
    lead may still take out a newcomer it added, never one who was published."""
    for i in range(2):
        factory.volunteer(region=REGION, scheme="wessex:poole", capacity="3",
                          full_name=f"Anchor {i}")
    early = [factory.newcomer(region=REGION, scheme="wessex:poole", full_name=f"Early {i}")
             for i in range(2)]
    first = run_now(app, session, lead)
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=first.id)
    late = factory.newcomer(region=REGION, scheme="wessex:poole", full_name="Late")
    second = run_now(app, session, lead)  # only published anchors have room
    extended = family_of(session, second, late)
    with app.app_context():
        edits.set_locked(session, lead=lead, run_id=second.id, family_id=extended.id,
                        locked=True)
        third = runs.execute_run(session, runs.reoptimise(session, lead=lead,
                                                          run_id=second.id).id)
        assert third.status == "draft", third.error
        assert family_of(session, third, late).code == extended.code
        check_rules(session, third)
        edits.remove_member(session, lead=lead, run_id=third.id, person_id_=late.id)
        published_member = next(p for p in early if family_of(session, third, p))
        with pytest.raises(ServiceError, match="in the published family .* stays there"):
            edits.remove_member(session, lead=lead, run_id=third.id,
                               person_id_=published_member.id)
    assert family_of(session, third, late) is None


def members_of_family(session, family: Family) -> list:
    from buddy.services.members import members_of

    return members_of(session, family.id)


def test_discard_drops_the_draft_only(app, session, lead, region_people):
    run = run_now(app, session, lead)
    with app.app_context():
        publishing.discard(session, lead=lead, run_id=run.id)
        with pytest.raises(ServiceError, match="Only a draft"):
            publishing.publish(session, lead=lead, run_id=run.id)
    session.expire_all()
    assert session.get(MatchRun, run.id).status == "discarded"
    assert session.exec(select(Family)).all() == []


def test_ambassador_run_pairs_newcomers_who_asked(app, session, lead, factory):
    wanting = factory.newcomer(region=REGION, scheme="wessex:poole", wants_ambassador="y",
                               sensitive_consent="y", country="NG")
    factory.newcomer(region=REGION, scheme="wessex:poole")  # did not ask
    ambassador = factory.volunteer("ambassador", region="london", capacity="1",
                                   sensitive_consent="y", country="NG")
    with app.app_context():
        run = runs.start_run(session, lead=lead, region=REGION, kind="ambassadors",
                             time_limit_s=5)
        run = runs.execute_run(session, run.id)
    assert run.status == "draft"
    pairs = drafts.draft_pairs(session, run)
    assert [(a.id, n.id) for _, a, n in pairs] == [(ambassador.id, wanting.id)]
    assert review.summary(session, run)["metrics"]["coverage"] == 1.0
    check_rules(session, run)


def test_after_publishing_earlier_intakes_families_are_running_not_removed(app, session, lead,
                                                                          factory):
    """A run for August 2027 in a region with a family running from February 2027: before
    and after publishing, its page counts "has a family" as the dashboard does, names the
    earlier family as running, and says only what the lead took out as removed."""
    from datetime import date

    from buddy.services import indicators

    kw = {"region": REGION, "scheme": "wessex:poole"}
    factory.volunteer(capacity="4", full_name="Anchor Feb", **kw)
    february = factory.newcomer(full_name="February One", arrival_day="3", arrival_month="2",
                                arrival_year="2027", **kw)
    confirm_all(session, "2027-02")
    earlier = run_now(app, session, lead, intake="2027-02")
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=earlier.id)
    code = session.exec(select(Family.code).where(Family.status == "published")).one()
    factory.volunteer(capacity="2", full_name="Anchor Aug", **kw)
    august = [factory.newcomer(full_name=f"August {i}", **kw) for i in range(3)]
    run = run_now(app, session, lead)
    assert run.intake == INTAKE and run.status == "draft"
    with app.app_context():
        edits.remove_member(session, lead=lead, run_id=run.id, person_id_=august[0].id)
    draft = review.summary(session, run)
    assert [(p.full_name, reason) for p, reason in draft["unmatched"]] == [
        ("August 0", "removed from the draft by the DA lead")]
    assert draft["coverage"] == {"signed_up": 3, "with_family": 2, "already": 0,
                                 "from_draft": 2, "waiting": 1, "away": 0}
    assert [p.full_name for p in draft["removed"]] == ["August 0"]
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=run.id)
    session.expire_all()
    run = session.get(MatchRun, run.id)
    after = review.summary(session, run)
    # February One stays in the running family: not unmatched, not "removed by the lead".
    assert [(p.full_name, reason) for p, reason in after["unmatched"]] == [
        ("August 0", "removed from the draft by the DA lead")]
    origins = after["origins"]
    assert code in origins["made"] + list(origins["joined"]) or origins["kept"] == 1
    assert february.full_name not in [p.full_name for ps in origins["joined"].values()
                                      for p, _place in ps]
    with app.app_context():
        summary = indicators.summary(session, REGION, date(2027, 7, 1), INTAKE)
    assert after["coverage"]["with_family"] == summary["matched"] == 2
    assert after["coverage"]["signed_up"] == summary["signed_up"] == 3
    check_rules(session, run)


def test_a_buddy_who_joins_a_running_family_is_named_before_and_after_publishing(
        app, session, lead, factory):
    kw = {"region": REGION, "scheme": "wessex:poole"}
    factory.volunteer(capacity="4", full_name="Anchor Feb", **kw)
    factory.newcomer(full_name="February One", arrival_day="3", arrival_month="2",
                     arrival_year="2027", **kw)
    confirm_all(session, "2027-02")
    earlier = run_now(app, session, lead, intake="2027-02")
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=earlier.id)
    running = session.exec(select(Family).where(Family.status == "published")).one()
    helper = factory.volunteer(capacity="1", full_name="Late Helper", can_anchor=None, **kw)
    factory.volunteer(capacity="2", full_name="Anchor Aug", **kw)
    factory.newcomer(full_name="August One", **kw)
    run = run_now(app, session, lead)
    copy = session.exec(select(Family).where(Family.run_id == run.id,
                                             Family.code == running.code)).one()
    if helper.id not in {m.person_id for m in session.exec(
            select(FamilyMember).where(FamilyMember.family_id == copy.id)).all()}:
        # What the optimiser may write: a buddy placed in a running family with room.
        for m in session.exec(select(FamilyMember).where(FamilyMember.person_id == helper.id,
                                                         FamilyMember.family_id.in_(select(
                                                             Family.id).where(
                                                             Family.run_id == run.id)))).all():
            session.delete(m)
        session.add(FamilyMember(family_id=copy.id, person_id=helper.id, place="buddy",
                                 reasons=[]))
        session.commit()
    draft = review.family_origins(session, run)
    assert [(p.full_name, place) for p, place in draft["joined"][running.code]] == [
        ("Late Helper", "buddy")]
    with app.app_context():
        publishing.publish(session, lead=lead, run_id=run.id)
    session.expire_all()
    after = review.family_origins(session, session.get(MatchRun, run.id))
    assert [(p.full_name, place) for p, place in after["joined"][running.code]] == [
        ("Late Helper", "buddy")]
    assert helper.id in {m.person_id for m in session.exec(
        select(FamilyMember).where(FamilyMember.family_id == running.id)).all()}
