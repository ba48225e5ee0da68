"""The audit trail: who did what, when, and to whom."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, select

from buddy import reference, scoping
from buddy.models import AuditEvent, Person, User


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    region: str | None = None,
    person_id: int | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (no personal data in `detail`)."""
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        action=action,
        region=region,
        person_id=person_id,
        detail=detail or {},
    )
    session.add(event)
    return event


# What each kind of event means, in words. An event that carries its own "text" (the
# lead's edits, written when they happen) is shown with that text instead.
ACTIONS = {
    "run_started": "Started a match run",
    "run_published": "Published a match run: members can see their families",
    "run_discarded": "Threw a draft away",
    "run_member_moved": "Moved someone to another family of a draft",
    "run_member_removed": "Took someone out of a draft",
    "run_members_swapped": "Swapped two people between families of a draft",
    "run_members_separated": "Separated two people who were in one family of a draft",
    "run_family_started": "Started a new family in a draft",
    "run_family_locked": "Locked a family of a draft",
    "run_family_unlocked": "Unlocked a family of a draft",
    "avoid_pair_added": "Marked two people never together",
    "avoid_pair_removed": "Undid a never-together mark",
    "family_ended": "Ended a family",
    "family_extended": "Let a family carry on",
    "family_carries_on": "A family carries on",
    "family_left": "Left a family",
    "family_chat_added": "Added the family's group chat link",
    "family_chat_changed": "Changed the family's group chat link",
    "family_chat_removed": "Removed the family's group chat link",
    "flag_updated": "Updated a flag",
    "help_asked": "Asked for help",
    "reply_handled": "Handled a text from an unknown number",
    "volunteer_approved": "Approved a volunteer",
    "volunteer_declined": "Declined a volunteer",
    "availability_answered": "Said whether they can buddy for an intake",
    "availability_recorded": "Recorded whether a volunteer can buddy for an intake",
    "became_volunteer": "Became a volunteer",
    "signed_up_newcomer": "Signed up as a newcomer",
    "signed_up_buddy": "Signed up as a buddy",
    "signed_up_ambassador": "Signed up as an ambassador",
    "created_lead": "Created a DA lead account",
    "created_admin": "Created an admin account",
    "lead_region_changed": "Moved a DA lead to another region",
    "lead_removed": "Removed a DA lead",
    "member_pause": "Paused",
    "member_resume": "Came back from a pause",
    "member_withdraw": "Left Buddy",
    "member_rejoin": "Rejoined Buddy",
    "profile_updated": "Changed their details",
    "region_changed": "Moved to another region",
    "password_changed": "Changed their password",
    "email_change_requested": "Asked to change their email address",
    "email_changed": "Changed their email address",
    "email_confirmed": "Confirmed their email address",
    "phone_verified": "Confirmed their mobile number",
    "phone_verification_dropped": "Lost the confirmation of their mobile number",
    "texts_stopped": "Stopped text messages",
    "texts_started": "Started text messages again",
    "sensitive_consent_withdrawn": "Withdrew consent for sensitive answers",
    "account_deleted": "Deleted their account",
    "retention_anonymised": "Anonymised personal data past its retention time",
    "stages_moved": "Moved trainees up a stage for the new training year",
    "demo_loaded": "Loaded the demo data",
    "invitations_imported": "Imported a trainee list and invited the people on it",
    "invitation_declined": "Said no to an invitation to join (link or STOP)",
    "guide_saved": "Saved a new version of a welcome guide",
    "guide_restored": "Restored an earlier version of a welcome guide",
    "outcomes_uploaded": "Uploaded training outcomes (shown only as counts of 5 or more)",
    "analysts_file_downloaded": "Downloaded the analysts' file of an intake (no names)",
}
# Keys of `detail` that hold the ids of people (one id or a list of ids) and of staff.
PERSON_KEYS = ("people", "person_a", "person_b", "other_person", "replaced_owner",
               "verified_by_person")
USER_KEYS = ("user_id",)
FAMILY_KEYS = ("families", "family")
# In these events "from" and "to" are family codes; in region changes they are regions.
MOVES = ("run_member_moved", "run_member_removed")
REGION_MOVES = ("region_changed", "lead_region_changed")
# Events with no actor that Buddy did on its own; any other came from the person (a link,
# a reply or their account page).
BY_BUDDY = ("retention_anonymised", "stages_moved", "family_ended", "family_carries_on",
            "phone_verification_dropped", "demo_loaded", "run_started",
            # `buddy import-trainees` (an import on the lead's page has the lead as actor).
            "invitations_imported")


@dataclass
class Entry:
    """One line of the audit trail, in words."""

    at: datetime
    who: str
    what: str
    about: list[str] = field(default_factory=list)
    families: list[str] = field(default_factory=list)
    run_id: int | None = None


def _ids(detail: dict, keys: tuple[str, ...]) -> list[int]:
    out = []
    for name in keys:
        value = detail.get(name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int) and not isinstance(item, bool) and item not in out:
                out.append(item)
    return out


def trail(session: Session, *, lead: User, region: str, limit: int = 200) -> list[Entry]:
    """The region's audit events, newest first, each saying who acted, what they did and
    whom and which families it was about (people by their name now).

    :raises NotFound: for a region outside the lead's.
    """
    scoping.check_region(lead, region)
    events = session.exec(select(AuditEvent).where(AuditEvent.region == region)
                          .order_by(AuditEvent.id.desc()).limit(limit)).all()
    person_ids = {i for e in events for i in
                  ([e.person_id] if e.person_id else []) + _ids(e.detail, PERSON_KEYS)}
    user_ids = {i for e in events for i in
                ([e.actor_id] if e.actor_id else []) + _ids(e.detail, USER_KEYS)}
    people = dict(session.exec(select(Person.id, Person.full_name)
                               .where(Person.id.in_(sorted(person_ids) or [-1]))).all())
    users = dict(session.exec(select(User.id, User.full_name)
                              .where(User.id.in_(sorted(user_ids) or [-1]))).all())
    # A person deleted since is still counted, without a name.
    gone = "someone whose account has since been deleted"
    out = []
    for event in events:
        detail = event.detail or {}
        about = [people.get(i, gone) for i in dict.fromkeys(
            ([event.person_id] if event.person_id else []) + _ids(detail, PERSON_KEYS))]
        about += [users.get(i, gone) for i in _ids(detail, USER_KEYS)]
        keys = FAMILY_KEYS + (("from", "to") if event.action in MOVES else ())
        families = [v for name in keys for v in (
            detail.get(name) if isinstance(detail.get(name), list) else [detail.get(name)])
            if isinstance(v, str) and v]
        what = detail.get("text") or ACTIONS.get(event.action) or \
            event.action.replace("_", " ").capitalize()
        if event.action in REGION_MOVES:
            names = {slug: r.name for slug, r in reference.regions().items()}
            what += "".join(f" {word} {names.get(detail[k], detail[k])}" for k, word in
                            (("from", "from"), ("to", "to")) if detail.get(k))
        if event.actor_id:
            who = users.get(event.actor_id, gone)
        else:
            who = "Buddy, on its own" if event.action in BY_BUDDY else \
                "The person themself (account page, link or reply)"
        out.append(Entry(at=event.at, who=who, what=what, about=about,
                         families=list(dict.fromkeys(families)), run_id=detail.get("run_id")))
    return out
