"""A member's own profile: edit, arrival date, pause, resume, withdraw."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from buddy import intakes, reference, states
from buddy.links import public_url
from buddy.messaging import cadence, outbox
from buddy.models import Family, FamilyAnswer, FamilyMember, Person, User, utcnow
from buddy.services import NotFound, ServiceError, audit, endings, phone_verification
from buddy.services.members import members_of
from buddy.services.profiles import clean_profile
from buddy.states import Action, Actor
from buddy.statuses import FamilyStatus

# What a member may do from their account page; buddy/states.py says from which status.
MEMBER_ACTIONS = (Action.PAUSE, Action.RESUME, Action.WITHDRAW, Action.REJOIN)


def person_of(session: Session, user: User) -> Person:
    """The member's own Person.

    :raises NotFound: for staff accounts, which have no profile.
    """
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    if person is None:
        raise NotFound()
    return person


class MoveLeavesFamily(ServiceError):
    """A new region would take the member out of their running family: they must say yes."""

    def __init__(self, family: Family, to_region: str):
        super().__init__({"region": f"Moving to {region_name(to_region)} takes you out of "
                                    f"your buddy family in {region_name(family.region)}"})
        self.family, self.to_region = family, to_region


def region_name(slug: str) -> str:
    region = reference.regions().get(slug)
    return region.name if region else slug


def running_family(session: Session, person: Person) -> Family | None:
    """The published family the person is in now, if any."""
    return session.exec(
        select(Family).join(FamilyMember, FamilyMember.family_id == Family.id)
        .where(FamilyMember.person_id == person.id, Family.status == FamilyStatus.PUBLISHED)
        .order_by(Family.published_at.desc())).first()


def update_profile(
    *, session: Session, person: Person, data: dict, today: date | None = None,
    leave_family: bool = False,
) -> Person:
    """Validate and save profile edits (a changed arrival date included).

    A volunteer who changes region loses the old region's approval: active, they wait
    for the new region's lead (buddy/states.py). A member of a running family who changes
    region leaves it (`leave_family` says they agreed to), and both regions' leads are told.
    :raises MoveLeavesFamily: for such a move without `leave_family`; nothing is saved then.
    :raises ServiceError: for any bad field; nothing is saved then.
    """
    values = clean_profile(data, role=person.role, today=today, stage_now=person.stage,
                           timezone_now=person.timezone, phone_now=person.phone)
    family = (running_family(session, person)
              if values.get("region", person.region) != person.region else None)
    if family is not None and not leave_family:
        raise MoveLeavesFamily(family, values["region"])
    consent = values.pop("sensitive_consent")
    before = {"region": person.region, "arrival_date": person.arrival_date,
              "full_name": person.full_name, "stage": person.stage}
    phone_before = person.phone
    for key, value in values.items():
        setattr(person, key, value)
    if family is not None:
        # Out of the family first: a newcomer's intake is then worked out afresh for the
        # new region's runs, and the old region's figures no longer count them.
        left = leave(session=session, family=family, person=person,
                     reason=f"Moved to {region_name(person.region)}")
    # A new arrival date or region can move a newcomer to another intake (buddy/intakes.py).
    intakes.assign(person)
    # A new number is unverified (texts go by email) until its code comes back.
    phone_verification.phone_given(session, person, before=phone_before)
    now = utcnow()
    if person.stage != before["stage"]:
        # Set by hand (less than full time, an extension): the next move leaves it alone.
        person.stage_corrected_at = now
    if consent and person.sensitive_consent_at is None:
        person.sensitive_consent_at = now
    elif not consent:
        person.sensitive_consent_at = None
    if before["region"] != person.region:
        was = person.status
        states.apply(person, Action.MOVE_REGION, Actor.SYSTEM)
        # A draft of the old region's lead must not publish them back into that region.
        drafts = session.exec(select(FamilyMember).join(
            Family, Family.id == FamilyMember.family_id).where(
            FamilyMember.person_id == person.id, Family.status == FamilyStatus.DRAFT)).all()
        for row in drafts:
            session.delete(row)
        audit.record(session, actor=None, action="region_changed", region=person.region,
                     person_id=person.id, detail={"from": before["region"],
                                                  "status_before": was,
                                                  "status": person.status,
                                                  "left_drafts": len(drafts)})
    person.updated_at = now
    session.add(person)
    changed = [k for k, v in before.items() if getattr(person, k) != v]
    audit.record(session, actor=None, action="profile_updated", region=person.region,
                 person_id=person.id, detail={"changed": changed})
    # Pending messages move with the new details; other members' messages give only the
    # name and arrival date.
    cadence.person_changed(session, person,
                           others=bool({"full_name", "arrival_date"} & set(changed)))
    if family is not None:
        _tell_leads(session, person=person, family=family, from_region=before["region"],
                    ended=left)
        if left:
            # Commits the move with it, in one transaction; a family ended meanwhile by
            # someone else rolls the move back too, and the member is asked to try again.
            if not endings.end(session, family, left, now=utcnow()):
                raise ServiceError("Your buddy family changed while you were saving. "
                                   "Please try again")
            return person
    session.commit()
    return person


def leave(*, session: Session, family: Family, person: Person, reason: str) -> str | None:
    """Take `person` out of the running `family`; the caller commits.

    Their answer to the six-month question goes with them, and the members left behind
    have their pending messages re-planned (introductions name everyone). Returns the
    reason the family must end when it is left without a newcomer or without a volunteer
    (the caller ends it with endings.end), else None.
    """
    member = session.exec(select(FamilyMember).where(
        FamilyMember.family_id == family.id, FamilyMember.person_id == person.id)).one()
    place = member.place
    session.delete(member)
    for answer in session.exec(select(FamilyAnswer).where(
            FamilyAnswer.family_id == family.id, FamilyAnswer.person_id == person.id)):
        session.delete(answer)
    session.flush()
    rest = members_of(session, family.id)
    audit.record(session, actor=None, action="family_left", region=family.region,
                 person_id=person.id, detail={"family_id": family.id, "family": family.code,
                                              "place": place, "reason": reason})
    now = utcnow()
    for other, _place in rest:
        cadence.reconcile(session, other, now)
    if not any(p == "newcomer" for _, p in rest):
        return "No newcomer is left in it"
    if not any(p in ("anchor", "buddy") for _, p in rest):
        return "No buddy is left in it"
    return None


ROLE_WORDS = {"newcomer": "new to GP training", "buddy": "a volunteer buddy",
              "ambassador": "an ambassador"}


def _tell_leads(session: Session, *, person: Person, family: Family, from_region: str,
                ended: str | None) -> None:
    """Email the leads of the region left and of the region joined (outbox, caller commits)."""
    to_region = person.region
    rest = members_of(session, family.id)
    if ended:
        family_now = (f"The family ends now: {ended[0].lower()}{ended[1:]}. Its members see "
                      "this on their family page.")
    elif not any(place == "anchor" for _, place in rest):
        family_now = ("The family has no anchor now. Please find it a new one, or end the "
                      "family, from its page.")
    else:
        family_now = f"The family carries on with {len(rest)} members."
    if person.role == "newcomer":
        next_step = (f"They will be in your next match run for the {intakes.label(person.intake)}"
                     " intake." if person.intake else "They will be in your next match run.")
        their_page = public_url("dashboard.index")
    else:
        next_step = ("As a volunteer they need your approval before they are matched in "
                     f"{region_name(to_region)}: see Volunteers.")
        their_page = public_url("lead.volunteer", person_id=person.id)
    values = {"person": person.full_name, "role": ROLE_WORDS.get(person.role, person.role),
              "family": family.code, "from_region": region_name(from_region),
              "to_region": region_name(to_region), "family_now": family_now,
              "next_step": next_step}
    for region, kind, link in (
            (from_region, "region_move_lead_from",
             public_url("families.show", family_id=family.id)),
            (to_region, "region_move_lead_to", their_page)):
        leads = session.exec(select(User).where(User.role == "lead", User.region == region)
                             .order_by(User.id)).all()
        for lead in leads:
            title, body = cadence.compose(kind, person=lead, channel="email",
                                          values={**values, "link": link})
            outbox.enqueue(session, user=lead, channel="email", kind=kind,
                           subject=f"region_move:{person.id}:{family.id}", to_address=lead.email,
                           title=title, body=body)


def change_status(*, session: Session, person: Person, action: str,
                  user: User | None = None) -> Person:
    """Pause, resume, withdraw or rejoin, as the member (`user`, when given, must be them).

    Resuming or rejoining comes back active for newcomers and approved volunteers, pending
    for anyone else (buddy/states.py).
    :raises ServiceError: when the action does not apply to the current status.
    """
    if action not in MEMBER_ACTIONS:
        raise ServiceError("Choose pause, resume, withdraw or rejoin")
    was = person.status
    states.apply(person, action, Actor.MEMBER, by=user)
    session.add(person)
    audit.record(session, actor=None, action=f"member_{action}", region=person.region,
                 person_id=person.id, detail={"status_before": was, "status": person.status})
    cadence.person_changed(session, person)  # cancels or requeues pending messages
    session.commit()
    return person
