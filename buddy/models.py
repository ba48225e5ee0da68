"""Database tables (SQLModel). One Person per member, one User per login.

Messaging tables live in buddy/messaging/models.py; both modules register on SQLModel.metadata.

Base classes hold the fields people may see or edit; table classes add keys, hashes and
bookkeeping, so that password hashes never reach a template through an input/output model.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from buddy import clock
from buddy.dbtypes import UTCDateTime
from buddy.statuses import FamilyStatus, InvitationStatus, PairStatus, PersonStatus, RunStatus


def utcnow() -> datetime:
    """Now, from the app's one clock (BUDDY_NOW in development and test)."""
    return clock.now()


def _utc_column(nullable: bool = False, **kw) -> sa.Column:
    return sa.Column(UTCDateTime(), nullable=nullable, **kw)


class User(SQLModel, table=True):
    """A login: a member (with a Person), a DA lead (with a region) or an admin."""

    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    # Stored trimmed and lower-cased so that " A@NHS.uk" and "a@nhs.uk" are one account.
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True, "nullable": False})
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, index=True)  # member | lead | admin | former_lead
    full_name: str = Field(max_length=120)
    region: str | None = Field(default=None, max_length=40, index=True)  # leads only
    # Bumped on password change or sign-out everywhere: older sessions stop working.
    session_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    last_login_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class PersonBase(SQLModel):
    """Profile fields a member gives at sign-up and may edit."""

    full_name: str = Field(max_length=120)
    role: str = Field(max_length=16, index=True)  # newcomer | buddy | ambassador
    phone: str | None = Field(default=None, max_length=20)  # E.164
    phone_country: str | None = Field(default=None, max_length=2)
    channel: str = Field(default="email", max_length=10)  # sms | whatsapp | email
    timezone: str = Field(default="Europe/London", max_length=64)
    region: str = Field(max_length=40, index=True)
    scheme: str | None = Field(default=None, max_length=60)
    stage: str = Field(max_length=10)  # ST1 | ST2 | ST3 | qualified
    arrival_date: date | None = None
    # Newcomers: the intake of their arrival date (buddy/intakes.py), kept with it.
    intake: str | None = Field(default=None, max_length=7, index=True)
    wants_ambassador: bool = False
    interests: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    # What members of the person's family may see to reach them (off unless ticked).
    share_email: bool = False
    share_phone: bool = False
    # Volunteers only.
    setting: str | None = Field(default=None, max_length=10)  # primary | secondary
    capacity: int | None = None
    can_anchor: bool = False
    # Indexed: an imported trainee list is checked against it (services/trainee_lists.py).
    gmc_number: str | None = Field(default=None, max_length=7, index=True)
    # Sensitive: stored only while sensitive_consent_at is set (UK GDPR art. 9).
    country: str | None = Field(default=None, max_length=2)
    languages: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    gender: str | None = Field(default=None, max_length=20)
    same_gender_anchor: bool = False
    support_needs: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )


class Person(PersonBase, table=True):
    """A member of the scheme: newcomer, buddy or ambassador."""

    __tablename__ = "people"
    __table_args__ = (
        # A number has at most one verified owner: replies from it are believed for them only.
        sa.Index("uq_people_verified_phone", "phone", unique=True,
                 sqlite_where=sa.text("phone_verified_at IS NOT NULL"),
                 postgresql_where=sa.text("phone_verified_at IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True, nullable=False
        )
    )
    status: str = Field(default=PersonStatus.ACTIVE, max_length=12, index=True)
    contact_consent_at: datetime = Field(sa_column=_utc_column())
    sensitive_consent_at: datetime | None = Field(
        default=None, sa_column=_utc_column(nullable=True)
    )
    decided_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    # Volunteers: the region whose DA lead approved them. Approval holds only while it
    # equals `region`: a volunteer who moves waits for the new region's lead.
    approved_region: str | None = Field(default=None, max_length=40)
    # Set when the person corrects their own stage: that training year's move leaves it alone.
    stage_corrected_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Set when the retention job removed the person's name, contact details and free text.
    anonymised_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    # Messaging: our own opt-out (STOP or Twilio error 21610; START clears it) and the
    # moment the email address was confirmed by its signed link.
    sms_opted_out: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    email_confirmed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Set when the person typed back the code we sent to `phone`; cleared when the number
    # changes. Buddy texts, and believes replies from, verified numbers only.
    phone_verified_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class LoginThrottle(SQLModel, table=True):
    """Failed logins per email address, in the database so every worker sees them."""

    __tablename__ = "login_throttle"

    email: str = Field(primary_key=True, max_length=254)
    failures: int = 0
    window_start: datetime = Field(sa_column=_utc_column())
    locked_until: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class QualitySnapshot(SQLModel, table=True):
    """The dashboard's match quality by group for one region, shared by every worker.

    Working it out reads the whole region (150-300 ms); kept here, each region costs that
    once per refresh for all gunicorn workers and hosts, not once per worker.
    """

    __tablename__ = "quality_snapshots"

    region: str = Field(primary_key=True, max_length=40)
    version: str = Field(max_length=100)  # the published families it was worked out from
    computed_at: datetime = Field(sa_column=_utc_column())
    value: dict | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))


class AuditEvent(SQLModel, table=True):
    """Who did what, when. Kept when an account is deleted, without personal data."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=_utc_column(index=True))
    actor_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    region: str | None = Field(default=None, max_length=40, index=True)
    action: str = Field(max_length=40)
    person_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="SET NULL")),
    )
    detail: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class MatchRun(SQLModel, table=True):
    """One optimiser run for a region: its input, settings, progress and result.

    Stored whole so that any published match can be explained and reproduced later.
    """

    __tablename__ = "match_runs"
    __table_args__ = (
        # One run at a time per region and kind: a second is refused by the database too.
        sa.Index("uq_match_runs_active", "region", "kind", unique=True,
                 sqlite_where=sa.text("status IN ('queued', 'running')"),
                 postgresql_where=sa.text("status IN ('queued', 'running')")),
    )

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(max_length=40, index=True)
    kind: str = Field(max_length=12)  # families | ambassadors
    intake: str | None = Field(default=None, max_length=7)  # families: the intake matched
    status: str = Field(default=RunStatus.QUEUED, max_length=12, index=True)
    time_limit_s: float = 30.0
    seed: int = 0
    started_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    published_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    progress: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    cohort: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    result: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    # Person ids the lead removed from the draft: re-optimising keeps them out.
    excluded: list[int] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class Family(SQLModel, table=True):
    """A buddy family: draft while its run is reviewed, then published to its members."""

    __tablename__ = "families"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=60, index=True)  # e.g. "wessex-004", stable across runs
    region: str = Field(max_length=40, index=True)
    run_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("match_runs.id", ondelete="SET NULL"),
                            index=True),
    )
    status: str = Field(default=FamilyStatus.DRAFT, max_length=12, index=True)
    locked: bool = False
    # The intake whose newcomers the family was made for.
    intake: str | None = Field(default=None, max_length=7, index=True)
    # Set when its members chose to carry on after the six-month question: it ends then.
    carry_on_until: date | None = None
    ended_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    end_reason: str | None = Field(default=None, max_length=200)
    # The family's own group chat (WhatsApp, Signal or Teams), added by its anchor; only its
    # members see it.
    chat_link: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    published_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class FamilyMember(SQLModel, table=True):
    """A person's place in a family, with the reasons it was made."""

    __tablename__ = "family_members"
    __table_args__ = (sa.UniqueConstraint("family_id", "person_id", name="uq_family_member"),)

    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("families.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    )
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    )
    place: str = Field(max_length=10)  # anchor | buddy | newcomer
    reasons: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))


class AmbassadorPair(SQLModel, table=True):
    """An ambassador introduced to a newcomer before arrival."""

    __tablename__ = "ambassador_pairs"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "newcomer_id", name="uq_ambassador_pair_run_newcomer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("match_runs.id", ondelete="SET NULL"),
                            index=True),
    )
    ambassador_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    )
    newcomer_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    )
    region: str = Field(max_length=40, index=True)  # the newcomer's region
    status: str = Field(default=PairStatus.DRAFT, max_length=12)
    reasons: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))


class AvoidPair(SQLModel, table=True):
    """Two people a DA lead marked "never together" (stored with the lower id first)."""

    __tablename__ = "avoid_pairs"
    __table_args__ = (sa.UniqueConstraint("person_a", "person_b", name="uq_avoid_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(max_length=40, index=True)
    person_a: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False)
    )
    person_b: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False)
    )
    created_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL")),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class FamilyAnswer(SQLModel, table=True):
    """A member's answer to the six-month question: carry on or finish (the latest counts)."""

    __tablename__ = "family_answers"
    __table_args__ = (sa.UniqueConstraint("family_id", "person_id", name="uq_family_answer"),)

    id: int | None = Field(default=None, primary_key=True)
    family_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("families.id", ondelete="CASCADE"),
                            nullable=False)
    )
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False)
    )
    answer: str = Field(max_length=10)  # carry_on | finish
    channel: str = Field(max_length=10)  # email | sms | whatsapp | web
    answered_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class StageMove(SQLModel, table=True):
    """One stage move of one person, due on one day: unique, so it happens once."""

    __tablename__ = "stage_moves"
    __table_args__ = (sa.UniqueConstraint("person_id", "due_on", name="uq_stage_move"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False)
    )
    due_on: date
    from_stage: str = Field(max_length=10)
    to_stage: str = Field(max_length=10)
    moved_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class VolunteerConfirmation(SQLModel, table=True):
    """A volunteer's answer for one intake: can they buddy again, and for how many."""

    __tablename__ = "volunteer_confirmations"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "intake", name="uq_volunteer_confirmation"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                            nullable=False)
    )
    intake: str = Field(max_length=7)
    available: bool
    capacity: int | None = None
    channel: str = Field(max_length=10)  # email | sms | whatsapp | web
    answered_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Invitation(SQLModel, table=True):
    """One person on a region's trainee list, invited to join (buddy/services/invitations.py).

    Until they sign up and give consent themselves this is all Buddy holds about them; it is
    deleted some weeks after their intake starts if they never join.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        # One open invitation per address in a region: a list imported twice invites once.
        sa.Index("uq_invitations_open_email", "region", "email", unique=True,
                 sqlite_where=sa.text("status = 'invited'"),
                 postgresql_where=sa.text("status = 'invited'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(max_length=40, index=True)
    intake: str = Field(max_length=7, index=True)
    role: str = Field(max_length=12)  # newcomer | volunteer: what the sign-up offers
    full_name: str = Field(max_length=120)
    email: str = Field(max_length=254, index=True)
    phone: str | None = Field(default=None, max_length=20)  # E.164, not confirmed
    gmc_number: str | None = Field(default=None, max_length=7, index=True)
    scheme: str | None = Field(default=None, max_length=60)
    start_date: date | None = None
    status: str = Field(default=InvitationStatus.INVITED, max_length=12, index=True)
    reminders_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_reminder_on: date | None = Field(default=None, index=True)
    person_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "people.id", ondelete="SET NULL", name="fk_invitations_person_id_people")),
    )
    imported_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "users.id", ondelete="SET NULL", name="fk_invitations_imported_by_users")),
    )
    batch_id: str = Field(max_length=32, index=True)
    answered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class TraineeUpload(SQLModel, table=True):
    """A trainee list uploaded by a lead, kept between its preview and the lead's confirm.

    The file stays on the server under a random id bound to the lead and region, so the
    confirm step imports exactly what was previewed without trusting anything the browser
    sends back; the daily step deletes uploads left unconfirmed.
    """

    __tablename__ = "trainee_uploads"

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    )
    region: str = Field(max_length=40)
    role: str = Field(max_length=12)  # newcomer | volunteer
    filename: str = Field(max_length=200)
    content: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # the decoded text
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class SignupDraft(SQLModel, table=True):
    """A sign-up in progress (buddy/services/signup_drafts.py): the answers given so far.

    Found by the token of its emailed link, stored only as a SHA-256 hash: the link is the
    key to the answers. Never holds a password. Deleted once expired (daily step).
    """

    __tablename__ = "signup_drafts"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True, "nullable": False})
    role: str = Field(max_length=16)  # newcomer | buddy | ambassador
    email: str = Field(max_length=254)  # normalised, as accounts.normalise_email makes it
    # Form values as the question pages send them (strings and lists of strings).
    answers: dict = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    # The pages the person has sent without an error, by name: a resumed sign-up goes on at
    # the first page not in it.
    answered: list[str] = Field(default_factory=list,
                                sa_column=sa.Column(sa.JSON, nullable=False))
    # The invitation it was started from (buddy/services/invitations.py), told when it ends.
    invitation_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "invitations.id", ondelete="SET NULL", name="fk_signup_drafts_invitation_id"),
            index=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    completed_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    expires_at: datetime = Field(sa_column=_utc_column(index=True))


class GuideVersion(SQLModel, table=True):
    """One saved version of a welcome guide: a region's (its slug), or "national".

    Never changed once written: the guide is its latest version, and a rollback writes a new
    version that copies an old one, so the history keeps every text that was ever public.
    """

    __tablename__ = "guide_versions"
    # Two saves from the same version cannot both become the next one: the second is refused.
    __table_args__ = (sa.UniqueConstraint("region", "version", name="uq_guide_version"),)

    id: int | None = Field(default=None, primary_key=True)
    region: str = Field(max_length=40)  # a region's slug, or "national"
    version: int
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # Markdown
    written_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "users.id", ondelete="SET NULL", name="fk_guide_versions_written_by_users")),
    )
    written_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    # The version a rollback copied; None for a text written here.
    restored_from: int | None = None


class SurveyRequest(SQLModel, table=True):
    """One person asked one survey (config/surveys.toml) for one intake (services/surveys.py).

    Unique on person, survey and intake: nobody is asked the same survey twice. Answers are
    the person's own: never shown to the members of their family.
    """

    __tablename__ = "survey_requests"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "survey", "intake", name="uq_survey_request"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "people.id", ondelete="CASCADE", name="fk_survey_requests_person_id_people"),
            nullable=False, index=True)
    )
    survey: str = Field(max_length=30, index=True)  # a survey's key: hello | eight_weeks | ...
    edition: str = Field(max_length=10)  # the questions' edition asked, e.g. "2026-27"
    intake: str = Field(max_length=7, index=True)
    region: str = Field(max_length=40, index=True)  # the person's region when asked
    # The family the survey is about (eight weeks, six months); None for the hello survey.
    family_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "families.id", ondelete="SET NULL", name="fk_survey_requests_family_id_families"),
            index=True),
    )
    audience: str = Field(max_length=12)  # newcomer | volunteer: which questions apply
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
    # When the message asking it went out (the outbox's send), and the reminders after it.
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    reminders_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # The first answer saved, and the moment the last question was answered.
    started_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    answered_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    # Set when asking stopped without an answer: STOP, the person left, or the survey closed.
    stopped_at: datetime | None = Field(default=None, sa_column=_utc_column(nullable=True))
    stop_reason: str | None = Field(default=None, max_length=20)  # stop | left | closed


class SurveyAnswer(SQLModel, table=True):
    """One answer to one question of a survey request, with the wording it was given to."""

    __tablename__ = "survey_answers"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "question", name="uq_survey_answer"),
    )

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "survey_requests.id", ondelete="CASCADE",
            name="fk_survey_answers_request_id_survey_requests"),
            nullable=False, index=True)
    )
    question: str = Field(max_length=40)  # the question's key in config/surveys.toml
    kind: str = Field(max_length=10)  # choice | scale | text
    # The question as it was asked: a later edition may word it differently.
    wording: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # An option's key ("carry_on"), a scale point ("4") or the text typed.
    answer: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    # The answer's words as shown ("Carry on together", "4 - quite confident"); the text itself.
    answer_words: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    answered_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class Outcome(SQLModel, table=True):
    """One training outcome of a person (an ARCP outcome, an exam, an extension) from a lead's
    upload (buddy/services/outcomes.py). Shown only as counts of 5 or more; deleted with the
    person (cascade) and when retention anonymises them."""

    __tablename__ = "outcomes"
    # The same outcome on the same day is one row: a list uploaded twice adds nothing.
    __table_args__ = (sa.UniqueConstraint("person_id", "outcome", "on", name="uq_outcome"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "people.id", ondelete="CASCADE", name="fk_outcomes_person_id_people"),
            nullable=False, index=True)
    )
    region: str = Field(max_length=40, index=True)  # the region whose lead uploaded it
    outcome: str = Field(max_length=30)  # a key of config/outcomes.toml
    on: date
    uploaded_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "users.id", ondelete="SET NULL", name="fk_outcomes_uploaded_by_users")),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())


class OutcomeUpload(SQLModel, table=True):
    """An outcomes CSV kept between its preview and the lead's confirm (as TraineeUpload)."""

    __tablename__ = "outcome_uploads"

    id: str = Field(primary_key=True, max_length=32)
    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey(
            "users.id", ondelete="CASCADE", name="fk_outcome_uploads_user_id_users"),
            nullable=False, index=True)
    )
    region: str = Field(max_length=40)
    filename: str = Field(max_length=200)
    content: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # the decoded text
    created_at: datetime = Field(default_factory=utcnow, sa_column=_utc_column())
