"""Invitations: the people on a region's trainee list, invited to join before they arrive.

The rules (README.md, "Trainee lists and invitations"):
- A lead imports a list (services/trainee_lists.py reads it); every good row not already in
  Buddy becomes one invitation, all in one transaction or none.
- Each invitation queues one email with a signed link (`/invited/<token>`) to a sign-up
  already filled in with what the list gave. A phone number on the list is nobody's
  confirmed number, so the text sent to it carries no link and nothing about the person but a
  first name; it asks them to look in their email (README, "Messaging"). Never WhatsApp:
  WhatsApp lets a business start a conversation only with someone who agreed to it.
- At most two reminders (config/programme.toml [invitations] reminder_days). "No, thank you"
  on the link's page, or STOP from the number, ends them (declined). An email refused for
  good marks the invitation bounced.
- Until the person signs up and gives consent, Buddy holds only the invitation. When their
  start date (or intake) has come it expires; `keep_weeks_after_start` weeks after the intake
  starts, every invitation that did not end in a sign-up is deleted with its messages.
"""

from __future__ import annotations

import secrets
import tomllib
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app
from sqlmodel import Session, select

from buddy import clock, intakes, reference
from buddy.links import public_url
from buddy.messaging import cadence, outbox, tokens
from buddy.messaging.models import Message
from buddy.models import Invitation, Person, TraineeUpload, User, utcnow
from buddy.services import ServiceError, audit, trainee_lists, uploads
from buddy.settings import CONFIG_DIR, enabled_channels
from buddy.statuses import UNANSWERED_INVITATION_STATUSES, InvitationStatus, MessageStatus

KIND, REMINDER_KIND = "invitation", "invitation_reminder"
KINDS = (KIND, REMINDER_KIND)
# An upload not confirmed within a day is deleted (it holds a whole list of names).
UPLOAD_HOURS = 24
UK_ZONE = "Europe/London"


@cache
def _config() -> dict:
    with open(CONFIG_DIR / "programme.toml", "rb") as fh:
        return tomllib.load(fh)["invitations"]


def reminder_days() -> tuple[int, ...]:
    """Days after the invitation on which reminders go (two at most)."""
    return tuple(int(d) for d in _config()["reminder_days"])[:2]


def keep_weeks() -> int:
    """Weeks after an intake starts that its unanswered invitations are kept."""
    return int(_config()["keep_weeks_after_start"])


def link_days() -> int:
    """Days an invitation link works after it was sent."""
    return tokens.INVITATION_DAYS


# --- Uploads (kept between the preview and the lead's confirm) -------------------------------

def upload(session: Session, *, lead: User, region: str, role: str, filename: str,
           data: bytes) -> TraineeUpload:
    """Read a list and keep it for its preview; commits.

    :raises trainee_lists.BadFile: when the file cannot be read at all (nothing is kept).
    """
    if role not in trainee_lists.ROLES.values():
        raise ServiceError({"role": "Choose who the list is: new trainees or volunteers"})
    trainee_lists.read(data, region=region, role=role)  # refuses an unreadable file now
    text, _encoding = trainee_lists.decode(data)
    return uploads.keep(session, TraineeUpload, lead=lead, region=region,
                        filename=filename or "trainee list", text=text, role=role)


def upload_for(session: Session, *, lead: User, upload_id: str) -> TraineeUpload:
    """The upload `upload_id` of this lead (the admin may open any).

    :raises NotFound: for another lead's upload, a used one, or one that never was.
    """
    return uploads.kept_for(session, TraineeUpload, lead=lead, upload_id=upload_id)


def preview(session: Session, *, kept: TraineeUpload) -> trainee_lists.Preview:
    """What importing `kept` would do now."""
    parsed = trainee_lists.read(kept.content.encode("utf-8"), region=kept.region, role=kept.role)
    return trainee_lists.check(session, parsed=parsed, region=kept.region)


def confirm(session: Session, *, lead: User, upload_id: str) -> list[int]:
    """Import the upload the lead previewed and invite its people; commits, all or nothing.

    Rows with problems are left out (the preview named them); the list is checked again
    against the database, so anyone who joined or was invited since the preview is skipped.

    :raises NotFound: see upload_for.
    :raises ServiceError: when another import invited some of them at the same moment.
    """
    kept = upload_for(session, lead=lead, upload_id=upload_id)
    checked = preview(session, kept=kept)
    return uploads.use(session, kept, lambda: import_rows(
        session, trainees=checked.to_invite, region=kept.region, role=kept.role, actor=lead,
        source="page", skipped=len(checked.skipped), bad=len(checked.parsed.bad_rows)),
        conflict="Some people on this list were invited by another import just now, so "
                 "nobody was imported. Check the preview again and confirm.")


# --- Importing --------------------------------------------------------------------------------

def _intake(trainee: trainee_lists.Trainee, region: str, role: str, today: date) -> str:
    if role == "newcomer" and trainee.start_date is not None:
        return intakes.intake_of(trainee.start_date, region)
    return intakes.next_intake(today, region)


def import_rows(session: Session, *, trainees: list[trainee_lists.Trainee], region: str,
                role: str, actor: User | None, source: str, skipped: int = 0,
                bad: int = 0) -> list[int]:
    """Add an invitation and its messages for each trainee, in the caller's transaction;
    the new invitations' ids.

    Does not commit: the caller commits all or rolls all back (a unique address clash on the
    last row leaves no invitation and no message from the first).
    """
    today = clock.today()
    now = clock.now()
    batch = secrets.token_hex(8)
    first = reminder_days()[0] if reminder_days() else None
    rows = [
        dict(region=region, intake=_intake(t, region, role, today), role=role,
             full_name=t.full_name, email=t.email, phone=t.phone, gmc_number=t.gmc_number,
             scheme=t.scheme, start_date=t.start_date, status=InvitationStatus.INVITED,
             reminders_sent=0,
             next_reminder_on=today + timedelta(days=first) if first is not None else None,
             imported_by=actor.id if actor else None, batch_id=batch, created_at=now,
             updated_at=now)
        for t in trainees
    ]
    ids: list[int] = []
    if rows:
        # One INSERT for the whole list (thousands of rows), then the ids by the batch: an
        # ORM object per row, or RETURNING over many rows, cost more than the database did.
        session.execute(sa.insert(Invitation), rows)
        by_email = dict(session.exec(select(Invitation.email, Invitation.id)
                                     .where(Invitation.batch_id == batch)).all())
        ids = [by_email[row["email"]] for row in rows]
    outbox.enqueue_invitations(session, [
        m for invitation_id, row in zip(ids, rows, strict=True)
        for m in _messages(SimpleNamespace(id=invitation_id, **row), KIND,
                           f"invitation:{invitation_id}", now, actor)
    ])
    how = " with buddy import-trainees" if source == "cli" else ""
    audit.record(session, actor=actor, action="invitations_imported", region=region,
                 detail={"invited": len(ids), "skipped": skipped, "bad_rows": bad,
                         "role": role, "batch": batch, "source": source,
                         "text": f"Imported a trainee list{how} and invited "
                                 f"{len(ids)} {role}s ({skipped} skipped, {bad} rows "
                                 "with problems left out)"})
    return ids


def _contact(actor: User | None, region: str) -> str:
    if actor is not None and actor.role == "lead":
        return f"{actor.full_name}, the DA lead, at {actor.email}"
    name = reference.regions()[region].name
    return f"the DA lead for {name} (reply to this email)"


def guide_url(region: str) -> str:
    """The region's public welcome guide (services/guides.py), or Buddy's help page."""
    try:
        from buddy.services import guides
    except ImportError:  # a deployment without welcome guides
        return public_url("main.help_page")
    return guides.public_url(region)


def link(invitation: Invitation) -> str:
    """The invitation's signed link, signed now: a link's life starts when it is sent."""
    token = tokens.sign(tokens.INVITATION, {"i": invitation.id, "e": invitation.email})
    return public_url("invitations.landing", token=token)


def _messages(invitation: Invitation | SimpleNamespace, kind: str, subject: str, now: datetime,
              actor: User | None) -> list[dict]:
    """The outbox rows of one invitation or reminder: an email, and a text when a number
    was given and this deployment sends texts."""
    template = f"{KIND}_{invitation.role}" if kind == KIND else REMINDER_KIND
    values = {"region": reference.regions()[invitation.region].name,
              "intake": intakes.label(invitation.intake), "link": link(invitation),
              "guide": guide_url(invitation.region), "days": link_days(),
              "contact": _contact(actor, invitation.region)}
    channels = ["email"]
    if invitation.phone and "sms" in enabled_channels(current_app.config):
        channels.append("sms")
    out = []
    for channel in channels:
        title, body = cadence.compose(template, person=invitation, channel=channel,
                                      values=values)
        out.append(dict(
            invitation_id=invitation.id, region=invitation.region, channel=channel,
            kind=kind, subject=subject,
            to_address=invitation.email if channel == "email" else invitation.phone,
            title=title, body=body, due_at=now,
            # Texts wait for daytime in the UK (where they will train; we do not know where
            # they are now); an email may arrive at any hour.
            timezone=UK_ZONE if channel != "email" else None))
    return out


# --- The person's answers ---------------------------------------------------------------------

def from_token(session: Session, token: str) -> Invitation:
    """The invitation a signed link is for.

    :raises tokens.BadLink: when the link is tampered with, expired, or its invitation is
        gone (deleted after its intake, or its address changed).
    """
    payload = tokens.verify(tokens.INVITATION, token)
    invitation_id = payload.get("i")
    invitation = (session.get(Invitation, invitation_id)
                  if isinstance(invitation_id, int) and not isinstance(invitation_id, bool)
                  else None)
    # The address binds the link to this invitation: SQLite may reuse a deleted row's id.
    if invitation is None or invitation.email != payload.get("e"):
        raise tokens.BadLink("This invitation is no longer open")
    return invitation


def _cancel_pending(session: Session, invitation: Invitation, reason: str) -> None:
    session.execute(
        sa.update(Message).where(Message.invitation_id == invitation.id,
                                 Message.status == MessageStatus.PENDING)
        .values(status=MessageStatus.CANCELLED, last_error=reason, updated_at=utcnow()))


def _answer(session: Session, invitation: Invitation, status: InvitationStatus,
            reason: str) -> None:
    invitation.status = status
    invitation.next_reminder_on = None
    invitation.answered_at = invitation.updated_at = clock.now()
    session.add(invitation)
    _cancel_pending(session, invitation, reason)


def decline(session: Session, *, invitation: Invitation) -> Invitation:
    """The person said "No, thank you": no more reminders; commits. Idempotent."""
    if invitation.status in UNANSWERED_INVITATION_STATUSES:
        _answer(session, invitation, InvitationStatus.DECLINED,
                "They said they are not interested")
        audit.record(session, actor=None, action="invitation_declined",
                     region=invitation.region)
        session.commit()
    return invitation


def start_signup(session: Session, *, invitation: Invitation) -> str:
    """Open (or continue) the sign-up filled in from the list; the path to go on at.

    :raises ServiceError: when the invitation has already led to a sign-up.
    """
    if invitation.status == InvitationStatus.JOINED:
        raise ServiceError("You have already joined Buddy. Sign in to see your details.")
    from buddy.services import signup_drafts

    prefill = {
        "full_name": invitation.full_name, "email": invitation.email,
        "region": invitation.region, "phone": invitation.phone,
        "gmc_number": invitation.gmc_number, "scheme": invitation.scheme,
        "arrival_date": invitation.start_date.isoformat() if invitation.start_date else None,
    }
    # A volunteer on a list signs up as a buddy (the sign-up's volunteer role).
    role = "newcomer" if invitation.role == "newcomer" else "buddy"
    path = signup_drafts.start(session, role=role, email=invitation.email,
                               prefill={k: v for k, v in prefill.items() if v is not None},
                               invitation_id=invitation.id)
    session.commit()
    return path


def joined(session: Session, *, invitation_id: int, person: Person) -> None:
    """The invited person finished signing up as `person`: called by the sign-up, in its
    transaction (does not commit). No more reminders; counted as joined."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or invitation.status == InvitationStatus.JOINED:
        return
    _answer(session, invitation, InvitationStatus.JOINED, "They joined Buddy")
    invitation.person_id = person.id
    if invitation.gmc_number and not person.gmc_number:
        person.gmc_number = invitation.gmc_number
        session.add(person)


def texts_stopped(session: Session, *, number: str) -> int:
    """STOP from `number` (replies.py): decline the open invitations texted to it. Does not
    commit. STOP is about the number, whoever sends it, as for members."""
    found = session.exec(select(Invitation).where(
        Invitation.phone == number, Invitation.status.in_(UNANSWERED_INVITATION_STATUSES))).all()
    for invitation in found:
        _answer(session, invitation, InvitationStatus.DECLINED, "Their number said STOP")
        audit.record(session, actor=None, action="invitation_declined",
                     region=invitation.region, detail={"by": "stop"})
    return len(found)


def bounced(session: Session, *, invitation_id: int) -> None:
    """The invitation's email was refused for good (dispatch.py): marked bounced, reminders
    stop (they would bounce too). Does not commit."""
    invitation = session.get(Invitation, invitation_id)
    if invitation is not None and invitation.status == InvitationStatus.INVITED:
        invitation.status = InvitationStatus.BOUNCED
        invitation.next_reminder_on = None
        invitation.updated_at = clock.now()
        session.add(invitation)
        _cancel_pending(session, invitation, "Their email address refused the invitation")


def still_wanted(session: Session, message: Message) -> str | None:
    """Why an invitation's message must not go now (dispatch.py re-checks), or None."""
    invitation = session.get(Invitation, message.invitation_id)
    if invitation is None:
        return "The invitation was deleted"
    if invitation.status != InvitationStatus.INVITED:
        return f"The invitation is {invitation.status}"
    return None


# --- The daily step ---------------------------------------------------------------------------

def _starts(invitation: Invitation) -> date:
    """When the person starts: their own date from the list, else their intake's first day."""
    return invitation.start_date or intakes.start(invitation.intake)


def daily(session: Session, *, now: datetime) -> dict[str, int]:
    """Send due reminders, expire invitations whose start has come, delete old ones.

    Idempotent and catching up: a reminder's number is in its outbox key and the count is
    written in the same transaction, so a second run sends nothing; after days without a run
    one reminder goes, not two at once. Commits in short transactions.
    """
    today = now.astimezone(clock.ENGLAND).date()
    counts = {"invitations_reminded": 0, "invitations_expired": 0, "invitations_deleted": 0,
              "trainee_uploads_deleted": 0}
    days = reminder_days()
    due = session.exec(select(Invitation).where(
        Invitation.status == InvitationStatus.INVITED, Invitation.next_reminder_on.is_not(None),
        Invitation.next_reminder_on <= today).order_by(Invitation.id)).all()
    for invitation in due:
        if _starts(invitation) <= today:
            continue  # expired below
        n = invitation.reminders_sent + 1
        if n > len(days):
            invitation.next_reminder_on = None
        else:
            actor = session.get(User, invitation.imported_by) if invitation.imported_by else None
            outbox.enqueue_invitations(session, _messages(
                invitation, REMINDER_KIND, f"invitation:{invitation.id}:{n}",
                cadence.local_moment(today, cadence.cadence_for(invitation.region).send_time,
                                     UK_ZONE), actor))
            invitation.reminders_sent = n
            # The next one keeps its distance from this one, even after a catch-up.
            invitation.next_reminder_on = (today + timedelta(days=days[n] - days[n - 1])
                                           if n < len(days) else None)
            counts["invitations_reminded"] += 1
        invitation.updated_at = now
        session.add(invitation)
        session.commit()
    for invitation in session.exec(select(Invitation)
                                   .where(Invitation.status == InvitationStatus.INVITED)
                                   .order_by(Invitation.id)).all():
        if _starts(invitation) <= today:
            _answer(session, invitation, InvitationStatus.EXPIRED, "Their start date has come")
            invitation.answered_at = None  # nobody answered
            counts["invitations_expired"] += 1
    session.commit()
    counts["invitations_deleted"] = _delete_old(session, today)
    cutoff = now - timedelta(hours=UPLOAD_HOURS)
    counts["trainee_uploads_deleted"] = len(session.execute(
        sa.delete(TraineeUpload).where(TraineeUpload.created_at < cutoff)
        .returning(TraineeUpload.id)).all())
    session.commit()
    return counts


def _delete_old(session: Session, today: date) -> int:
    """Delete invitations `keep_weeks` after their intake started, unless they led to a
    member (whose own record is the one that counts; retention.py anonymises it later)."""
    keep = timedelta(weeks=keep_weeks())
    old = [i for i in session.exec(
        select(Invitation.id, Invitation.intake, Invitation.status, Invitation.person_id)
        .where(sa.or_(Invitation.status != InvitationStatus.JOINED,
                      Invitation.person_id.is_(None))))
        if intakes.start(i.intake) + keep <= today]
    ids = [i.id for i in old]
    anonymised = session.exec(select(Invitation.id).join(
        Person, Person.id == Invitation.person_id).where(Person.anonymised_at.is_not(None))).all()
    ids.extend(i for i in anonymised if i not in ids)
    for start in range(0, len(ids), 500):
        session.execute(sa.delete(Message).where(Message.invitation_id.in_(ids[start:start + 500])))
        session.execute(sa.delete(Invitation).where(Invitation.id.in_(ids[start:start + 500])))
    session.commit()
    return len(ids)


# --- What the lead sees -----------------------------------------------------------------------

@dataclass
class IntakeCounts:
    """One intake's invitations, by answer."""

    intake: str
    label: str
    invited: int
    joined: int
    not_yet: int
    declined: int
    bounced: int
    expired: int


def counts(session: Session, *, region: str) -> list[IntakeCounts]:
    """Per intake (newest first): invited in all, joined, not yet answered, declined, bounced,
    and expired (their start came without an answer)."""
    by: dict[str, Counter] = {}
    for intake, status, n in session.exec(
            select(Invitation.intake, Invitation.status, sa.func.count())
            .where(Invitation.region == region)
            .group_by(Invitation.intake, Invitation.status)):
        by.setdefault(intake, Counter())[status] += n
    return [IntakeCounts(intake=intake, label=intakes.label(intake), invited=sum(c.values()),
                         joined=c[InvitationStatus.JOINED], not_yet=c[InvitationStatus.INVITED],
                         declined=c[InvitationStatus.DECLINED],
                         bounced=c[InvitationStatus.BOUNCED],
                         expired=c[InvitationStatus.EXPIRED])
            for intake, c in sorted(by.items(), reverse=True)]
