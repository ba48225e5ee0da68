"""A person's status as a state machine: one table says which change is allowed, and by whom.

Every change of `Person.status` goes through `apply`; code that asks whether a volunteer is
approved asks `approved` (a row) or `matchable` (a query). A volunteer is approved only
while `approved_region == region`: the lead who said yes said it for their own region.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa

from buddy.models import Person, User, utcnow
from buddy.services import ServiceError
from buddy.statuses import PersonStatus


class Actor(StrEnum):
    MEMBER = "member"  # the person themself, from their account page
    LEAD = "lead"  # the DA lead of the person's region
    ADMIN = "admin"
    SYSTEM = "system"  # a consequence of another change, e.g. a new region


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    WITHDRAW = "withdraw"
    REJOIN = "rejoin"
    APPROVE = "approve"
    DECLINE = "decline"
    MOVE_REGION = "move_region"
    BECOME_VOLUNTEER = "become_volunteer"


VOLUNTEER_ROLES = frozenset({"buddy", "ambassador"})
ALL_ROLES = frozenset({"newcomer"}) | VOLUNTEER_ROLES
# The target of a return (resume, rejoin): active for newcomers and approved volunteers,
# pending for a volunteer the region's lead has not approved.
BACK = "active if approved, else pending"
# The target of a region change: the same status, except that an active volunteer waits.
SAME = "the same, an active volunteer waits"


@dataclass(frozen=True)
class Transition:
    target: PersonStatus | str  # a status, BACK or SAME
    actors: frozenset[Actor]
    roles: frozenset[str] = ALL_ROLES
    approval: str = "keep"  # keep | grant | clear


P, A, D, Z, W = (PersonStatus.PENDING, PersonStatus.ACTIVE, PersonStatus.DECLINED,
                 PersonStatus.PAUSED, PersonStatus.WITHDRAWN)
MEMBER, STAFF, SYSTEM = (frozenset({Actor.MEMBER}), frozenset({Actor.LEAD, Actor.ADMIN}),
                         frozenset({Actor.SYSTEM}))

# The only changes of status there are. A pair not listed is refused for everyone.
TRANSITIONS: dict[tuple[PersonStatus, Action], Transition] = {
    # Pausing keeps a volunteer's approval: they come back to the same region's families.
    (A, Action.PAUSE): Transition(Z, MEMBER),
    (P, Action.PAUSE): Transition(Z, MEMBER),
    (Z, Action.RESUME): Transition(BACK, MEMBER),
    # Leaving drops approval: a volunteer who rejoins is seen by the lead again.
    (A, Action.WITHDRAW): Transition(W, MEMBER, approval="clear"),
    (P, Action.WITHDRAW): Transition(W, MEMBER, approval="clear"),
    (Z, Action.WITHDRAW): Transition(W, MEMBER, approval="clear"),
    (D, Action.WITHDRAW): Transition(W, MEMBER, approval="clear"),
    (W, Action.REJOIN): Transition(BACK, MEMBER),
    (P, Action.APPROVE): Transition(A, STAFF, VOLUNTEER_ROLES, approval="grant"),
    (P, Action.DECLINE): Transition(D, STAFF, VOLUNTEER_ROLES, approval="clear"),
    # A new region: approval was the old region's lead's, so it goes, and an active
    # volunteer waits for the new lead (a paused one waits when they resume).
    **{(s, Action.MOVE_REGION): Transition(SAME, SYSTEM, approval="clear") for s in PersonStatus},
    # A newcomer of an earlier intake who volunteers waits for the region's lead like any
    # new volunteer (buddy/services/training_year.py changes the role after this check).
    (A, Action.BECOME_VOLUNTEER): Transition(P, MEMBER, frozenset({"newcomer"}),
                                             approval="clear"),
}

LABELS = {Action.PAUSE: "pause", Action.RESUME: "resume", Action.WITHDRAW: "leave",
          Action.REJOIN: "rejoin", Action.APPROVE: "approve", Action.DECLINE: "decline",
          Action.MOVE_REGION: "change region", Action.BECOME_VOLUNTEER: "become a volunteer"}


class TransitionRefused(ServiceError):
    """A status change the table does not allow, or not for this actor."""


def actor_of(user: User | None) -> Actor:
    """The actor a signed-in user acts as: staff by their role, anyone else as the member."""
    if user is not None and user.role == "admin":
        return Actor.ADMIN
    if user is not None and user.role == "lead":
        return Actor.LEAD
    return Actor.MEMBER


def approved(person: Person) -> bool:
    """Newcomers need no approval; a volunteer is approved for the region they are in only."""
    return person.role == "newcomer" or (
        person.approved_region is not None and person.approved_region == person.region)


def is_matchable(person: Person) -> bool:
    """Active, approved where approval is needed, not anonymised: the optimiser may place them."""
    return (person.status == PersonStatus.ACTIVE and approved(person)
            and person.anonymised_at is None)


def matchable():
    """SQL condition: `is_matchable` in a query."""
    # An anonymised newcomer keeps "active" for the figures but is never placed again.
    return sa.and_(Person.status == PersonStatus.ACTIVE, Person.anonymised_at.is_(None),
                   sa.or_(Person.role == "newcomer", Person.approved_region == Person.region))


# A status as people read it in a refusal ("You cannot pause while you have left Buddy").
STATUS_WORDS = {
    PersonStatus.PENDING: "waiting for approval",
    PersonStatus.ACTIVE: "taking part",
    PersonStatus.DECLINED: "declined",
    PersonStatus.PAUSED: "paused",
    PersonStatus.WITHDRAWN: "no longer taking part",
}


def _decided(person: Person, action: Action, status: PersonStatus) -> str:
    """Why an approval or decline is refused, in words ("Priya Raman is already approved")."""
    if status == PersonStatus.ACTIVE:
        return f"{person.full_name} is already approved"
    if status == PersonStatus.DECLINED:
        return f"{person.full_name} is already declined"
    return (f"{person.full_name} cannot be {'approved' if action == Action.APPROVE else 'declined'}"
            f" now: they are {STATUS_WORDS[status]}")


def check(person: Person, action: Action | str, actor: Actor) -> Transition:
    """The table's row for this change.

    :raises TransitionRefused: with what the actor may do instead, when it is not allowed.
    """
    try:
        action = Action(action)
    except ValueError:
        raise TransitionRefused(
            f"Choose one of: {', '.join(a.value for a in Action)}") from None
    status = PersonStatus(person.status)
    rule = TRANSITIONS.get((status, action))
    label = LABELS[action]
    if rule is None or person.role not in rule.roles:
        if actor == Actor.MEMBER:
            raise TransitionRefused(f"You cannot {label} while you are {STATUS_WORDS[status]}")
        if action in (Action.APPROVE, Action.DECLINE) and person.role not in VOLUNTEER_ROLES:
            raise TransitionRefused("Only volunteers need approval")
        if action in (Action.APPROVE, Action.DECLINE):
            raise TransitionRefused(_decided(person, action, status))
        raise TransitionRefused(
            f"Cannot {label} {person.full_name} while they are {STATUS_WORDS[status]}")
    if actor not in rule.actors:
        who = " or ".join(sorted(a.value for a in rule.actors))
        raise TransitionRefused(f"Only the {who} may {label} here")
    return rule


def target(person: Person, rule: Transition) -> PersonStatus:
    """The status a permitted change leads to, for this person as they are now."""
    if rule.target == BACK:
        return PersonStatus.ACTIVE if approved(person) else PersonStatus.PENDING
    if rule.target == SAME:
        status = PersonStatus(person.status)
        if status == PersonStatus.ACTIVE and person.role in VOLUNTEER_ROLES:
            return PersonStatus.PENDING
        return status
    return PersonStatus(rule.target)


def apply(person: Person, action: Action | str, actor: Actor, *,
          by: User | None = None) -> PersonStatus:
    """Make the change on `person` (the caller adds, audits and commits); the new status.

    For MOVE_REGION call it after `person.region` holds the new region.
    :raises TransitionRefused: when the table does not allow it; `person` is unchanged then.
    """
    rule = check(person, action, actor)
    # The table names the kind of actor; these name the one person of that kind.
    if actor == Actor.LEAD and (by is None or by.role != "lead" or by.region != person.region):
        raise TransitionRefused(f"Only the DA lead of {person.full_name}'s region may "
                                f"{LABELS[Action(action)]} here")
    if actor == Actor.MEMBER and by is not None and by.id != person.user_id:
        raise TransitionRefused("Only the member themself may do that")
    if rule.approval == "clear":
        person.approved_region = None
    new = target(person, rule)
    if rule.approval == "grant":
        person.approved_region = person.region
        person.decided_by = by.id if by is not None else None
    elif Action(action) == Action.DECLINE:
        person.decided_by = by.id if by is not None else None
    person.status = new
    person.updated_at = utcnow()
    return new


def initial(role: str) -> PersonStatus:
    """A new member's status: newcomers start active, volunteers wait for the region's lead."""
    return PersonStatus.ACTIVE if role == "newcomer" else PersonStatus.PENDING
