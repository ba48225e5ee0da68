"""A DA lead's edits of a draft run: move, swap, remove, lock, separate, never together.

Every edit is checked with the optimiser's own solver-free rules (matching.validate) before
it is committed, and refused in words a lead can act on. What a person may be moved to is
worked out with the same rule functions, so the offer and the check never disagree.
Edited families are locked: re-optimising keeps them. Published members stay where they are;
people removed stay out when the draft is re-optimised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlmodel import Session, select

import matching
from buddy import reference, scoping
from buddy.models import AvoidPair, Family, FamilyMember, MatchRun, Person, User
from buddy.services import NotFound, ServiceError, audit
from buddy.services.cohorts import key, locked_entry, published_families
from buddy.services.drafts import current_result, names_by_key
from buddy.services.runs import draft_run, get_run
from buddy.statuses import RESULT_RUN_STATUSES, RunStatus
from matching.validate import Problem, Room, family_problems, family_room, locked_problems

SETTING_WORDS = {"primary": "GP", "secondary": "hospital"}
NEW_FAMILY_REASON = "in a new family the DA lead made"
MOVED_REASON = "placed here by the DA lead"


@dataclass(frozen=True)
class Edit:
    """What an edit did, in words (shown to the lead and kept in the audit trail), and the
    page element where the lead should see it (a family card's id, or a section's)."""

    text: str
    at: str


@dataclass
class Target:
    """A family someone could be moved to: its free places, and why it cannot take them
    (empty when it can)."""

    family: Family
    room: Room
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons


@dataclass
class Choices:
    """Everything a lead can do with one person of a draft."""

    person: Person
    family: Family | None
    place: str | None
    stays: str | None  # why they cannot be moved at all (an anchor, a published member)
    leaving: list[str]  # why their family cannot lose them (it would break a rule)
    targets: list[Target]
    swaps: list[tuple[Person, Family]]
    anchors: list[Person]  # free buddies who could lead a new family for them
    no_new_family: str | None  # why no new family can be made for them
    together: list[Person]  # the others in their family (to keep apart from one)


@dataclass
class AvoidView:
    pair: AvoidPair
    first: Person
    second: Person
    added_by: str | None


# --- Words ---------------------------------------------------------------------------------

def label(person: Person, family_code: str | None = None) -> str:
    """A person told apart from others of the same name: role, stage, setting, scheme, family."""
    parts = [person.role, person.stage]
    if person.setting:
        parts.append(SETTING_WORDS.get(person.setting, person.setting))
    if person.scheme and person.region in reference.regions():
        parts.append(reference.scheme_name(person.region, person.scheme))
    if family_code:
        parts.append(family_code)
    return f"{person.full_name} ({', '.join(p for p in parts if p)})"


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def room_words(room: Room) -> str:
    """A family's free places in words: "room for 1 more newcomer and 2 more buddies"."""
    parts = []
    if room.newcomers:
        parts.append(f"{room.newcomers} more newcomer{'' if room.newcomers == 1 else 's'}")
    if room.buddies:
        buddies = f"{room.buddies} more budd{'y' if room.buddies == 1 else 'ies'}"
        if room.secondary == 0:
            buddies += " (not from hospital)"
        parts.append(buddies)
    return "room for " + " and ".join(parts) if parts else "full"


def plain(problem: Problem, people: dict[str, Person]) -> str:
    """A broken rule in words a DA lead can act on (never a rule number)."""
    def name(k: str) -> str:
        person = people.get(k)
        return person.full_name if person else "someone who has since left"

    code, fam, nums, who = problem.code, problem.family, problem.numbers, problem.people
    if code == "capacity":
        newcomers, capacity = nums
        return (f"{name(who[0])} can support {_count(capacity, 'newcomer')}, and {fam} "
                f"would have {newcomers}")
    if code == "newcomer_count":
        newcomers, most = nums
        if newcomers == 0:
            return (f"{fam} would be left with no newcomer, and a family needs at least one: "
                    "swap instead, or move another newcomer in first")
        return f"{fam} is full: a family has at most {_count(most, 'newcomer')}"
    if code == "extra_buddies":
        return f"{fam} already has {nums[1]} buddies besides the anchor, the most a family has"
    if code == "secondary":
        return (f"{fam} already has {_count(nums[0], 'buddy')} from hospital besides the "
                "anchor, the most a family has")
    if code == "avoid":
        return f"{name(who[0])} and {name(who[1])} are marked never together"
    if code == "same_gender":
        return f"{name(who[0])} asked for an anchor of the same gender, and {name(who[1])} is not"
    if code == "anchor":
        return f"{name(who[0])} cannot lead a family"
    if code == "regions":
        return f"{', '.join(map(name, who))} would be in a family of another region"
    if code in ("buddy_role", "newcomer_role"):
        return f"{name(who[0])} cannot take that place in a family"
    if code == "locked_lost":
        return f"{', '.join(map(name, who))} must stay in {fam}: that family is published"
    if code == "locked_anchor":
        return f"{fam} must keep {name(who[0])} as its anchor: that family is published"
    if code == "locked_missing":
        return f"{fam} is published and must stay"
    return f"{fam} would break a family rule"


# --- The draft in memory -------------------------------------------------------------------

@dataclass
class _Draft:
    run: MatchRun
    cohort: matching.Cohort
    result: dict
    families: dict[str, dict]  # code -> the family as the optimiser writes it
    rows: dict[str, Family]
    people: dict[str, Person]
    home: dict[str, str]  # person key -> family code
    published: set[int]  # ids of people in a published family: they stay

    def problems(self, changed: list[dict]) -> list[Problem]:
        """The rules that `changed` families (edited copies) break, locked families included."""
        out: list[Problem] = []
        for fam in changed:
            out += family_problems(self.cohort, self.result, fam)
        by_id = {**self.families, **{f["id"]: f for f in changed}}
        touched = {f["id"] for f in changed}
        out += [p for p in locked_problems(self.cohort, by_id) if p.family in touched]
        return out

    def words(self, problems: list[Problem]) -> list[str]:
        seen: list[str] = []
        for problem in problems:
            text = plain(problem, self.people)
            if text not in seen:
                seen.append(text)
        return seen

    def room(self, code: str) -> Room:
        return family_room(self.cohort, self.result, self.families[code])


def _cohort_data(session: Session, run: MatchRun) -> dict:
    """The run's cohort as an edit is checked against: today's published families locked
    (each member stays) and today's never-together pairs."""
    from buddy.services.cohorts import avoid_pairs as avoid_keys

    data = dict(run.cohort)
    keys = {p["id"] for p in data["people"]}
    # Published families must keep every member; families the lead locked in an earlier
    # draft (and what a locked draft added to a published family) are the lead's to change.
    data["locked"] = [
        entry for entry in (locked_entry(f, members)
                            for f, members in published_families(session, run.region))
        if set(entry["members"]) <= keys]
    data["avoid"] = [pair for pair in avoid_keys(session, run.region) if set(pair) <= keys]
    return data


def _draft(session: Session, run: MatchRun) -> _Draft:
    """The draft as the rules see it, read once for all the checks of one request."""
    data = _cohort_data(session, run)
    result = current_result(session, run)
    families = {f["id"]: f for f in result["families"]}
    home = {k: f["id"] for f in result["families"]
            for k in [f["anchor"], *f["buddies"], *f["newcomers"]] if k}
    rows = {f.code: f for f in session.exec(select(Family).where(Family.run_id == run.id)).all()}
    published = {m.person_id for _, members in published_families(session, run.region)
                 for m, _ in members}
    return _Draft(run=run, cohort=matching.load_cohort(data), result=result, families=families,
                  rows=rows, people=names_by_key(session, run), home=home, published=published)


def _with(fam: dict, k: str, role: str) -> dict:
    slot = "newcomers" if role == "newcomer" else "buddies"
    return {**fam, slot: [*fam[slot], k]}


def _without(fam: dict, k: str) -> dict:
    return {**fam, "buddies": [b for b in fam["buddies"] if b != k],
            "newcomers": [n for n in fam["newcomers"] if n != k]}


# --- Reading: what a lead may do -----------------------------------------------------------

def family_rooms(session: Session, run: MatchRun) -> dict[int, str]:
    """Each family of a draft (by id) with its free places in words ("full" when none)."""
    if run.kind != "families" or run.status not in RESULT_RUN_STATUSES:
        return {}
    draft = _draft(session, run)
    return {row.id: room_words(draft.room(code)) for code, row in draft.rows.items()
            if code in draft.families}


def _targets(draft: _Draft, person: Person) -> tuple[list[str], list[Target]]:
    k = key(person)
    source = draft.families.get(draft.home.get(k, ""))
    leaving_fam = _without(source, k) if source else None
    leaving = draft.words(draft.problems([leaving_fam])) if leaving_fam else []
    targets = []
    for code, fam in sorted(draft.families.items()):
        if source is not None and code == source["id"]:
            continue
        problems = draft.problems([_with(fam, k, person.role)])
        targets.append(Target(family=draft.rows[code], room=draft.room(code),
                              reasons=draft.words(problems)))
    return leaving, targets


def move_targets(session: Session, *, lead: User, run_id: int, person_id_: int) -> list[Target]:
    """Every other family of the draft for one person: its free places, and the plain
    reasons it cannot take them (none when it can).

    :raises NotFound: outside the lead's region; ServiceError when the run is not a draft.
    """
    run = draft_run(session, lead, run_id)
    person = _person_in_run(session, lead, run, person_id_)
    draft = _draft(session, run)
    leaving, targets = _targets(draft, person)
    for target in targets:
        target.reasons = leaving + target.reasons
    return targets


def choices(session: Session, *, lead: User, run_id: int, person_id_: int) -> Choices:
    """What the lead can do with one person of the draft: move (targets with reasons), swap,
    start a new family, keep apart from someone in their family.

    :raises NotFound: outside the lead's region; ServiceError when not a draft or not in it.
    """
    run = draft_run(session, lead, run_id)
    person = _person_in_run(session, lead, run, person_id_)
    draft = _draft(session, run)
    k = key(person)
    code = draft.home.get(k)
    family = draft.rows.get(code) if code else None
    place = None
    if code:
        fam = draft.families[code]
        place = "anchor" if fam["anchor"] == k else (
            "buddy" if k in fam["buddies"] else "newcomer")
    stays = None
    if place == "anchor":
        stays = (f"{person.full_name} leads {code}, and an anchor stays with their family: "
                 "to change it, move, swap or remove its other members")
    elif person.id in draft.published:
        stays = f"{person.full_name} is in the published family {code} and stays there"
    leaving, targets = _targets(draft, person)
    swaps: list[tuple[Person, Family]] = []
    anchors: list[Person] = []
    no_new_family = None
    if stays is None:
        if code:
            swaps = _swaps(draft, person, place)
        anchors, no_new_family = _new_family_options(draft, person, leaving)
    together = []
    if code:
        fam = draft.families[code]
        together = [draft.people[m] for m in [fam["anchor"], *fam["buddies"], *fam["newcomers"]]
                    if m != k and m in draft.people]
    return Choices(person=person, family=family, place=place, stays=stays, leaving=leaving,
                   targets=targets, swaps=swaps, anchors=anchors, no_new_family=no_new_family,
                   together=together)


def _swaps(draft: _Draft, person: Person, place: str) -> list[tuple[Person, Family]]:
    """People in other families who could change places with `person` (same kind of place)."""
    k = key(person)
    source = draft.families[draft.home[k]]
    out = []
    slot = "newcomers" if place == "newcomer" else "buddies"
    for code, fam in sorted(draft.families.items()):
        if code == source["id"]:
            continue
        for other in fam[slot]:
            other_person = draft.people.get(other)
            if other_person is None or other_person.id in draft.published:
                continue
            changed = [_with(_without(source, k), other, other_person.role),
                       _with(_without(fam, other), k, person.role)]
            if not draft.problems(changed):
                out.append((other_person, draft.rows[code]))
    return out


def _spare_anchors(draft: _Draft) -> list[Person]:
    """Buddies of the run in no family who may lead one and have room for a newcomer (not
    those the lead removed from this draft: removing someone means "not in this match")."""
    out = []
    for p in draft.cohort.role("buddy"):
        if p.id not in draft.home and p.can_anchor and p.capacity > 0 and p.id in draft.people \
                and draft.people[p.id].id not in draft.run.excluded:
            out.append(draft.people[p.id])
    return sorted(out, key=lambda p: (p.full_name, p.id))


def _new_family_options(draft: _Draft, person: Person,
                        leaving: list[str]) -> tuple[list[Person], str | None]:
    if person.role != "newcomer":
        return [], (f"A new family needs a newcomer, and {person.full_name} is a buddy: "
                    "move them into a family with room instead")
    if leaving:
        return [], leaving[0]
    spare = _spare_anchors(draft)
    k = key(person)
    fine = [a for a in spare if not draft.problems([_new_entry(draft, key(a), k)])]
    if fine:
        return fine, None
    if not spare:
        return [], ("No new family can be made: every buddy who can lead a family is already "
                    "in one. Approve or ask a volunteer who can lead a family, then re-optimise")
    return [], ("No new family can be made: no free buddy who can lead a family can take "
                f"{person.full_name} (" + "; ".join(draft.words(draft.problems(
                    [_new_entry(draft, key(spare[0]), k)]))) + ")")


def _new_entry(draft: _Draft, anchor: str, newcomer: str) -> dict:
    return {"id": "a new family", "region": draft.run.region, "anchor": anchor, "buddies": [],
            "newcomers": [newcomer]}


def avoid_pairs(session: Session, *, lead: User, region: str) -> list[AvoidView]:
    """The region's never-together pairs, newest first, with who added them.

    :raises NotFound: outside the lead's region.
    """
    scoping.check_region(lead, region)
    pairs = session.exec(select(AvoidPair).where(AvoidPair.region == region)
                         .order_by(AvoidPair.id.desc())).all()
    ids = {p.person_a for p in pairs} | {p.person_b for p in pairs}
    people = {p.id: p for p in session.exec(select(Person).where(
        Person.id.in_(list(ids) or [-1]))).all()}
    users = {u.id: u.full_name for u in session.exec(select(User).where(
        User.id.in_([p.created_by for p in pairs if p.created_by] or [-1]))).all()}
    return [AvoidView(pair=p, first=people[p.person_a], second=people[p.person_b],
                      added_by=users.get(p.created_by))
            for p in pairs if p.person_a in people and p.person_b in people]


# --- Editing -------------------------------------------------------------------------------

def _check(session: Session, run: MatchRun, what: str) -> None:
    """Refuse the pending edit, in words, when the draft breaks a family rule (rolls back)."""
    session.flush()
    draft = _draft(session, run)
    problems = draft.problems(list(draft.families.values()))
    leftover = matching.validate(draft.cohort, draft.result)
    if problems or leftover:
        reasons = draft.words(problems) or ["it would break the family rules"]
        session.rollback()
        raise ServiceError(f"{what}: " + "; ".join(reasons[:3]))


def _member_in_run(session: Session, run: MatchRun, pid: int) -> FamilyMember | None:
    return session.exec(
        select(FamilyMember).join(Family, Family.id == FamilyMember.family_id)
        .where(Family.run_id == run.id, FamilyMember.person_id == pid)
    ).first()


def _person_in_run(session: Session, lead: User, run: MatchRun, pid: int) -> Person:
    person = scoping.person_for(session, lead, pid)
    if f"{key(person)}" not in {p["id"] for p in run.cohort.get("people", [])}:
        raise ServiceError(f"{person.full_name} was not part of this run")
    return person


def _movable(session: Session, run: MatchRun, person: Person) -> FamilyMember | None:
    """The person's place in the draft, when they may leave it.

    :raises ServiceError: for an anchor or a member of a published family.
    """
    member = _member_in_run(session, run, person.id)
    if member is None:
        return None
    family = session.get(Family, member.family_id)
    if member.place == "anchor":
        raise ServiceError(f"{person.full_name} anchors {family.code} and cannot be moved "
                           "or removed: an anchor stays with their family")
    published = {m.person_id for _, ms in published_families(session, run.region)
                 for m, _ in ms}
    if person.id in published:
        raise ServiceError(f"{person.full_name} is in the published family {family.code} "
                           "and stays there")
    return member


def _record(session: Session, lead: User, run: MatchRun, action: str, text: str,
            people: list[Person], families: list[str]) -> None:
    # The text names the people (the audit page shows it); the ids let retention and
    # account deletion find and remove it with their other traces.
    audit.record(session, actor=lead, action=action, region=run.region,
                 person_id=people[0].id if people else None,
                 detail={"run_id": run.id, "people": [p.id for p in people],
                         "families": families, "text": text})


def _family_in_run(session: Session, run: MatchRun, family_id: int | None) -> Family:
    target = session.get(Family, family_id) if family_id is not None else None
    if target is None or target.run_id != run.id:
        raise NotFound()
    return target


def move_member(session: Session, *, lead: User, run_id: int, person_id_: int,
                family_id: int | None) -> Edit:
    """Put a newcomer or buddy into another family of the draft (locks both families).

    :raises NotFound: outside the lead's region; ServiceError, in words, when a rule would
        break or no family was chosen.
    """
    run = draft_run(session, lead, run_id)
    person = _person_in_run(session, lead, run, person_id_)
    if family_id is None:
        raise ServiceError({"family_id": f"Choose a family to move {person.full_name} to"})
    target = _family_in_run(session, run, family_id)
    member = _movable(session, run, person)
    if member is not None and member.family_id == target.id:
        raise ServiceError(f"{person.full_name} is already in {target.code}")
    source = session.get(Family, member.family_id) if member is not None else None
    if source is not None:
        source.locked = True
        session.add(source)
        session.delete(member)
        session.flush()
    _place(session, run, person, target, MOVED_REASON)
    _check(session, run, f"{person.full_name} cannot move to {target.code}")
    whence = f"from {source.code} " if source is not None else ""
    text = (f"Moved {label(person)} {whence}to {target.code}. "
            f"{'Both families are' if source is not None else 'That family is'} now locked")
    _record(session, lead, run, "run_member_moved", text, [person],
            [c for c in (source.code if source else None, target.code) if c])
    session.commit()
    return Edit(text=text, at=f"family-{target.id}")


def _place(session: Session, run: MatchRun, person: Person, target: Family, reason: str) -> None:
    place = "newcomer" if person.role == "newcomer" else "buddy"
    session.add(FamilyMember(family_id=target.id, person_id=person.id, place=place,
                             reasons=[reason]))
    target.locked = True
    session.add(target)
    if person.id in run.excluded:
        run.excluded = [i for i in run.excluded if i != person.id]
        session.add(run)


def swap_members(session: Session, *, lead: User, run_id: int, person_a: int,
                 person_b: int | None) -> Edit:
    """Two people of two families of the draft change places, all or nothing (locks both).

    :raises NotFound: outside the lead's region; ServiceError, in words, when they cannot.
    """
    run = draft_run(session, lead, run_id)
    a = _person_in_run(session, lead, run, person_a)
    if person_b is None:
        raise ServiceError({"person_b": f"Choose someone to swap {a.full_name} with"})
    b = _person_in_run(session, lead, run, person_b)
    member_a, member_b = _movable(session, run, a), _movable(session, run, b)
    if member_a is None or member_b is None:
        raise ServiceError(f"{(b if member_a else a).full_name} is not in a family of this "
                           "draft: use Move instead")
    if member_a.family_id == member_b.family_id:
        raise ServiceError(f"{a.full_name} and {b.full_name} are already in the same family")
    if member_a.place != member_b.place:
        raise ServiceError("A newcomer can swap only with a newcomer, and a buddy with a buddy")
    family_a = session.get(Family, member_a.family_id)
    family_b = session.get(Family, member_b.family_id)
    member_a.family_id, member_b.family_id = family_b.id, family_a.id
    member_a.reasons = member_b.reasons = [MOVED_REASON]
    family_a.locked = family_b.locked = True
    session.add_all([member_a, member_b, family_a, family_b])
    _check(session, run, f"{a.full_name} and {b.full_name} cannot swap")
    text = (f"Swapped {label(a)} into {family_b.code} and {label(b)} into {family_a.code}. "
            "Both families are now locked")
    _record(session, lead, run, "run_members_swapped", text, [a, b],
            [family_a.code, family_b.code])
    session.commit()
    return Edit(text=text, at=f"family-{family_b.id}")


def remove_member(session: Session, *, lead: User, run_id: int, person_id_: int) -> Edit:
    """Take a newcomer or buddy out of the draft; re-optimising keeps them out.

    :raises ServiceError: for anchors, published members, or when the family would break a rule.
    """
    run = draft_run(session, lead, run_id)
    person = _person_in_run(session, lead, run, person_id_)
    member = _movable(session, run, person)
    if member is None:
        raise ServiceError(f"{person.full_name} is not in a family of this draft")
    family = session.get(Family, member.family_id)
    family.locked = True
    session.add(family)
    session.delete(member)
    run.excluded = sorted(set(run.excluded) | {person.id})
    session.add(run)
    _check(session, run, f"{person.full_name} cannot be removed from {family.code}")
    text = (f"Removed from the draft. Re-optimising will keep them out: {label(person)} "
            f"is no longer in {family.code}")
    _record(session, lead, run, "run_member_removed", text, [person], [family.code])
    session.commit()
    return Edit(text=text, at=f"family-{family.id}")


def set_locked(session: Session, *, lead: User, run_id: int, family_id: int,
               locked: bool) -> Edit:
    """Lock a draft family so that re-optimising keeps it as it is (or unlock it)."""
    run = draft_run(session, lead, run_id)
    family = _family_in_run(session, run, family_id)
    family.locked = locked
    session.add(family)
    text = (f"Family locked: re-optimising keeps {family.code} as it is" if locked else
            f"Family unlocked: re-optimising may change {family.code}")
    _record(session, lead, run, "run_family_locked" if locked else "run_family_unlocked",
            text, [], [family.code])
    session.commit()
    return Edit(text=text, at=f"family-{family.id}")


def new_family(session: Session, *, lead: User, run_id: int, person_id_: int,
               anchor_id: int | None) -> Edit:
    """Start a new family in the draft for a newcomer, led by a free buddy who can anchor.

    :raises ServiceError: in words, when no anchor was chosen or the family breaks a rule.
    """
    run = draft_run(session, lead, run_id)
    person = _person_in_run(session, lead, run, person_id_)
    family = _start_family(session, lead, run, person, anchor_id)
    text = (f"Started {family.code} for {label(person)}, led by "
            f"{label(_anchor_of(session, family))}. It is locked")
    _record(session, lead, run, "run_family_started", text,
            [person, _anchor_of(session, family)], [family.code])
    session.commit()
    return Edit(text=text, at=f"family-{family.id}")


def _anchor_of(session: Session, family: Family) -> Person:
    return session.exec(select(Person).join(FamilyMember, FamilyMember.person_id == Person.id)
                        .where(FamilyMember.family_id == family.id,
                               FamilyMember.place == "anchor")).one()


def _start_family(session: Session, lead: User, run: MatchRun, person: Person,
                  anchor_id: int | None) -> Family:
    if anchor_id is None:
        raise ServiceError({"anchor_id": f"Choose a buddy to lead a new family for "
                                         f"{person.full_name}"})
    anchor = _person_in_run(session, lead, run, anchor_id)
    if _member_in_run(session, run, anchor.id) is not None:
        raise ServiceError(f"{anchor.full_name} is already in a family of this draft")
    if person.role != "newcomer":
        raise ServiceError(f"A new family needs a newcomer, and {person.full_name} is a buddy: "
                           "move them into a family with room instead")
    member = _movable(session, run, person)
    if member is not None:
        source = session.get(Family, member.family_id)
        source.locked = True
        session.add(source)
        session.delete(member)
        session.flush()
    family = Family(code=_next_code(session, run), region=run.region, run_id=run.id,
                    intake=run.intake, locked=True)
    session.add(family)
    session.flush()
    session.add(FamilyMember(family_id=family.id, person_id=anchor.id, place="anchor",
                             reasons=["chosen by the DA lead to lead a new family"]))
    _place(session, run, person, family, NEW_FAMILY_REASON)
    if anchor.id in run.excluded:
        run.excluded = [i for i in run.excluded if i != anchor.id]
    _check(session, run, f"{anchor.full_name} cannot lead a new family for {person.full_name}")
    return family


def _next_code(session: Session, run: MatchRun) -> str:
    """The next free family code of the region (codes stay unique across runs and years)."""
    pattern = re.compile(rf"^{re.escape(run.region)}-(\d+)$")
    codes = session.exec(select(Family.code).where(Family.region == run.region)).all()
    numbers = [int(m.group(1)) for c in codes if (m := pattern.match(c))]
    return f"{run.region}-{max(numbers, default=0) + 1:03d}"


def _avoid_pair(session: Session, run: MatchRun, lead: User, a: Person, b: Person) -> AvoidPair:
    if a.id == b.id:
        raise ServiceError("Choose two different people")
    low, high = sorted((a.id, b.id))
    if session.exec(select(AvoidPair).where(AvoidPair.person_a == low,
                                            AvoidPair.person_b == high)).first():
        raise ServiceError(f"{a.full_name} and {b.full_name} are already marked never together")
    pair = AvoidPair(region=run.region, person_a=low, person_b=high, created_by=lead.id)
    session.add(pair)
    return pair


def add_avoid(session: Session, *, lead: User, run_id: int, person_a: int | None,
              person_b: int | None) -> Edit:
    """Mark two people of the region "never together" (this region's future runs too).

    :raises ServiceError: for a missing or repeated choice, or when they share a family now
        (then the words say how to separate them).
    """
    run = get_run(session, lead, run_id)
    if person_a is None or person_b is None:
        raise ServiceError({"person_a" if person_a is None else "person_b":
                            "Choose two people to keep apart"})
    a = scoping.person_for(session, lead, person_a)
    b = scoping.person_for(session, lead, person_b)
    _avoid_pair(session, run, lead, a, b)
    for family, members in published_families(session, run.region):
        if {a.id, b.id} <= {m.person_id for m, _ in members}:
            session.rollback()
            raise ServiceError(
                f"{a.full_name} and {b.full_name} are both in the published family "
                f"{family.code}, which stays as it is while it runs: talk to them, or end "
                "the family under Running and ended families")
    shared = _shared_family(session, run, a, b) if run.status == RunStatus.DRAFT else None
    if shared is not None:
        session.rollback()
        raise ServiceError(
            f"{a.full_name} and {b.full_name} are both in {shared.code}. To keep them "
            "apart, choose \"Move, swap or keep apart\" beside one of them, then Keep "
            "apart: one moves to another family")
    codes = _codes_of(session, run, [a, b])
    text = f"Never together: {label(a, codes.get(a.id))} and {label(b, codes.get(b.id))}"
    _record(session, lead, run, "avoid_pair_added", text, [a, b], [c for c in codes.values()])
    session.commit()
    return Edit(text=text, at="never-together")


def _shared_family(session: Session, run: MatchRun, a: Person, b: Person) -> Family | None:
    ma, mb = _member_in_run(session, run, a.id), _member_in_run(session, run, b.id)
    if ma is not None and mb is not None and ma.family_id == mb.family_id:
        return session.get(Family, ma.family_id)
    return None


def _codes_of(session: Session, run: MatchRun, people: list[Person]) -> dict[int, str]:
    out = {}
    for p in people:
        member = _member_in_run(session, run, p.id)
        if member is not None:
            out[p.id] = session.get(Family, member.family_id).code
    return out


def remove_avoid(session: Session, *, lead: User, run_id: int, pair_id: int) -> Edit:
    """Undo a never-together mark of the lead's region.

    :raises NotFound: when the pair is missing or of another region.
    """
    run = get_run(session, lead, run_id)
    pair = session.get(AvoidPair, pair_id)
    if pair is None or pair.region != run.region:
        raise NotFound()
    scoping.check_region(lead, pair.region)
    a, b = session.get(Person, pair.person_a), session.get(Person, pair.person_b)
    codes = _codes_of(session, run, [a, b])
    session.delete(pair)
    text = (f"No longer never together: {label(a, codes.get(a.id))} and "
            f"{label(b, codes.get(b.id))}")
    _record(session, lead, run, "avoid_pair_removed", text, [a, b], list(codes.values()))
    session.commit()
    return Edit(text=text, at="never-together")


def separate(session: Session, *, lead: User, run_id: int, person_id_: int,
             other_id: int | None, family_id: int | None = None,
             anchor_id: int | None = None) -> Edit:
    """Keep two people of one family apart: mark them never together and move `person_id_`
    to another family of the draft (`family_id`) or to a new family led by `anchor_id`.

    All or nothing. :raises ServiceError: in words, when neither is chosen or a rule breaks.
    """
    run = draft_run(session, lead, run_id)
    person = _person_in_run(session, lead, run, person_id_)
    if other_id is None:
        raise ServiceError({"other_id": f"Choose who to keep {person.full_name} apart from"})
    other = _person_in_run(session, lead, run, other_id)
    shared = _shared_family(session, run, person, other)
    if shared is None:
        raise ServiceError(f"{person.full_name} and {other.full_name} are not in the same "
                           "family: mark them never together instead")
    if family_id is None and anchor_id is None:
        raise ServiceError({"family_id": f"Choose a family for {person.full_name}, or a buddy "
                                         "to lead a new family"})
    _movable(session, run, person)
    _avoid_pair(session, run, lead, person, other)
    if family_id is not None:
        target = _family_in_run(session, run, family_id)
        member = _member_in_run(session, run, person.id)
        session.delete(member)
        shared.locked = True
        session.add(shared)
        session.flush()
        _place(session, run, person, target, MOVED_REASON)
        _check(session, run, f"{person.full_name} cannot move to {target.code}")
    else:
        target = _start_family(session, lead, run, person, anchor_id)
    text = (f"Kept apart (never together): {label(other, shared.code)} and {label(person)}, "
            f"who moved from {shared.code} to {target.code}. Both families are now locked")
    _record(session, lead, run, "run_members_separated", text, [person, other],
            [shared.code, target.code])
    session.commit()
    return Edit(text=text, at=f"family-{target.id}")
