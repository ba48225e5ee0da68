"""Sign-up in question pages, saved as people go: a draft per sign-up, reached by its link.

The first page asks for an email address; Buddy emails the draft's link there, and the
person carries on at once in the same browser (the token in their session). Opening the link
on another device carries on at the first page not yet answered. A draft holds form values
only, never a password: the password is asked for on "check your answers", in the request
that creates the account (accounts.sign_up), so it is never stored or sent back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app
from sqlmodel import Session, select

from buddy.links import public_url
from buddy.messaging import cadence, outbox
from buddy.messaging.models import Message
from buddy.models import Person, SignupDraft, utcnow
from buddy.services import ServiceError, invitations
from buddy.services.accounts import EMAILS_PER_HOUR, normalise_email
from buddy.services.profiles import ROLES

# A draft lives this long after its last change; its link stops working then, and the daily
# step deletes it. A month covers someone who starts abroad and finishes after a visa or a
# move, without keeping an abandoned sign-up's answers long.
DRAFT_DAYS = 30
LINK_KIND = "signup_link"
VOLUNTEERS = ("buddy", "ambassador")


@dataclass(frozen=True)
class Page:
    """One question page: its name in the URL and the form fields it asks."""

    name: str
    fields: tuple[str, ...]
    roles: tuple[str, ...] = ROLES
    # Asked only after the person agreed to the optional questions (profiles.SENSITIVE_FIELDS).
    sensitive: bool = False


# In the order they are asked. Fields that belong together share a page (the day, month and
# year of a date; a mobile number and its country; a time zone and the question about it).
PAGES = (
    Page("email", ("email",)),
    Page("name", ("full_name",)),
    Page("contact", ("channel",)),
    Page("mobile", ("phone_country", "phone")),
    Page("time-zone", ("timezone", "timezone_confirmed")),
    Page("share", ("share_email", "share_phone")),
    Page("region", ("region",)),
    Page("scheme", ("scheme",)),
    Page("stage", ("stage",)),
    Page("arrival", ("arrival_day", "arrival_month", "arrival_year"), ("newcomer",)),
    Page("ambassador", ("wants_ambassador",), ("newcomer",)),
    Page("setting", ("setting",), VOLUNTEERS),
    Page("capacity", ("capacity",), VOLUNTEERS),
    Page("anchor", ("can_anchor",), ("buddy",)),
    Page("gmc", ("gmc_number",), VOLUNTEERS),
    Page("interests", ("interests",)),
    Page("optional", ("sensitive_consent",)),
    Page("country", ("country",), sensitive=True),
    Page("languages", ("languages", "other_languages"), sensitive=True),
    Page("gender", ("gender", "same_gender_anchor"), sensitive=True),
    Page("support", ("support_needs",), ("newcomer",), sensitive=True),
)
BY_NAME = {page.name: page for page in PAGES}
# Fields that take several values (checkbox groups).
MANY = ("interests", "languages", "support_needs")
# Where a service error's field is asked ("arrival_date" is the date's three boxes).
_PAGE_OF_FIELD = {field: page.name for page in PAGES for field in page.fields} | {
    "arrival_date": "arrival"}


def page_of(field: str) -> str | None:
    """The name of the page that asks `field` (None for the password and the agreement)."""
    return _PAGE_OF_FIELD.get(field)


def pages_for(*, role: str, answers: dict) -> list[Page]:
    """The pages `role` is asked, given the answers so far (the optional questions only
    after agreeing to them)."""
    consent = bool(answers.get("sensitive_consent"))
    return [p for p in PAGES if role in p.roles and (consent or not p.sensitive)]


def next_page(*, draft: SignupDraft, after: str | None = None) -> str | None:
    """Where to go next: the first page not answered, or when `after` is given, the page
    after it unless an earlier one still needs an answer; None when all are answered."""
    pages = [p.name for p in pages_for(role=draft.role, answers=draft.answers)]
    missing = next((p for p in pages if p not in draft.answered), None)
    if after is None or after not in pages:
        return missing
    following = pages[pages.index(after) + 1:]
    if missing is not None and missing not in following:
        return missing  # a change made an earlier answer wrong, or one is still to come
    return following[0] if following else missing


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invitation_token(invitation_id: int) -> str:
    # An invitation's draft has a token made from the invitation with the app's secret:
    # unguessable like a random one, and the same every time, so the invitation's own link
    # opened again (on another device too) carries on with the same answers.
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"signup-draft:invitation:{invitation_id}".encode(),
                    hashlib.sha256).hexdigest()


def continue_path(token: str) -> str:
    """The path that opens a draft in this browser and carries on where it stopped."""
    return f"/join/continue/{token}"


def find(session: Session, *, token: str | None) -> SignupDraft | None:
    """The unexpired draft (finished or not) of `token`, or None."""
    if not token or not isinstance(token, str) or len(token) > 100:
        return None
    draft = session.exec(select(SignupDraft).where(
        SignupDraft.token_hash == _hash(token))).first()
    if draft is None or draft.expires_at <= utcnow():
        return None
    return draft


def _prefilled(prefill: dict, role: str) -> dict:
    """Form values from an invitation's details, keyed as the question pages send them."""
    fields = {f for p in PAGES if role in p.roles for f in p.fields} - {"email"}
    values: dict = {}
    for key, value in (prefill or {}).items():
        if value in (None, "", []):
            continue
        if key == "arrival_date" and "arrival_day" in fields:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
            values.update(arrival_day=str(day.day), arrival_month=str(day.month),
                          arrival_year=str(day.year))
        elif key in MANY and key in fields:
            values[key] = [str(v) for v in value]
        elif key in fields:
            values[key] = str(value)
    scheme, region = values.get("scheme"), values.get("region")
    if scheme and ":" not in scheme:
        # A list gives the scheme alone: the page's choices are "region:scheme".
        values["scheme"] = f"{region}:{scheme}" if region else ""
    return {k: v for k, v in values.items() if v != ""}


def start(session: Session, *, role: str, email: str, prefill: dict,
          invitation_id: int | None = None) -> str:
    """Start a sign-up (or, for an invitation, find the one it started); return the path
    to continue at (continue_path). Emails the link to `email` unless it is an invitation's,
    whose own link is the way back.

    `prefill` keys are the sign-up's field names (full_name, phone, phone_country, region,
    scheme as "region:code" or a code of `region`, arrival_date as a date or ISO string,
    stage, gmc_number...): shown filled in, each page still sent by the person.
    :raises ServiceError: on "email" for an address that cannot be an email address.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    email = normalise_email(email)
    now = utcnow()
    if invitation_id is not None:
        token = _invitation_token(invitation_id)
        draft = find(session, token=token)
        if draft is not None and draft.completed_at is None:
            return continue_path(token)
        # A finished one (it ended at an address that had an account), or an expired one
        # still waiting for the daily step: the invitation starts afresh on the same token.
        session.execute(sa.delete(SignupDraft).where(SignupDraft.token_hash == _hash(token)))
    else:
        token = secrets.token_urlsafe(32)
    draft = SignupDraft(token_hash=_hash(token), role=role, email=email,
                        answers={"email": email, **_prefilled(prefill, role)},
                        answered=["email"], invitation_id=invitation_id, created_at=now,
                        updated_at=now, expires_at=now + timedelta(days=DRAFT_DAYS))
    session.add(draft)
    session.flush()
    if invitation_id is None:
        _email_link(session, draft=draft, token=token)
    session.commit()
    return continue_path(token)


def _email_link(session: Session, *, draft: SignupDraft, token: str) -> None:
    """Queue "your sign-up link" to the draft's address, at most EMAILS_PER_HOUR an hour to
    one address (anyone can type any address on the first page)."""
    sent = session.exec(select(sa.func.count()).select_from(Message).where(
        Message.kind == LINK_KIND, Message.to_address == draft.email,
        Message.created_at > utcnow() - timedelta(hours=1))).one()
    if sent >= EMAILS_PER_HOUR:
        return
    link = public_url("signup.resume", token=token)
    # Greeted by the name given so far: often none yet ("Hello there,").
    greeted = SimpleNamespace(full_name=str(draft.answers.get("full_name") or ""))
    title, body = cadence.compose(LINK_KIND, person=greeted, channel="email",
                                  values={"link": link, "days": DRAFT_DAYS})
    outbox.enqueue(session, user=None, channel="email", kind=LINK_KIND,
                   subject=f"{LINK_KIND}:{draft.id}:{secrets.token_hex(6)}",
                   to_address=draft.email, title=title, body=body)


def answer(session: Session, *, draft: SignupDraft, page: str, values: dict,
           wrong: set[str], token: str) -> None:
    """Save one page's values (already checked by the sign-up's rules) and mark it answered;
    pages in `wrong` (answers a change made wrong, e.g. a scheme of the old region) are
    asked again. A new email address gets the draft's link.
    """
    if draft.completed_at is not None:
        raise ServiceError("You have already finished joining with this link: sign in")
    answers = {**draft.answers, **{f: values.get(f, [] if f in MANY else "")
                                   for f in BY_NAME[page].fields}}
    new_email = None
    if page == "email":
        answers["email"] = normalise_email(answers["email"])
        if answers["email"] != draft.email:
            new_email = draft.email = answers["email"]
    if page == "optional" and not answers.get("sensitive_consent"):
        # No agreement: the optional answers are not kept (profiles.SENSITIVE_FIELDS).
        for sensitive in (p for p in PAGES if p.sensitive):
            for field in sensitive.fields:
                answers.pop(field, None)
    draft.answers = answers
    draft.answered = [p for p in dict.fromkeys([*draft.answered, page]) if p not in wrong]
    draft.updated_at = utcnow()
    draft.expires_at = draft.updated_at + timedelta(days=DRAFT_DAYS)
    session.add(draft)
    if new_email:
        session.flush()
        _email_link(session, draft=draft, token=token)
    session.commit()


def reopen(session: Session, *, draft: SignupDraft, pages: set[str]) -> None:
    """Ask `pages` again (their answers no longer pass, e.g. an arrival date now too old)."""
    draft.answered = [p for p in draft.answered if p not in pages]
    session.add(draft)
    session.commit()


def finish(session: Session, draft: SignupDraft, person: Person | None) -> None:
    """End a draft inside the sign-up's own transaction (accounts.sign_up's `then`): its
    answers are the member's now, or go nowhere for a taken address. Tells the invitation."""
    draft.completed_at = utcnow()
    draft.answers, draft.answered = {}, []
    session.add(draft)
    if person is not None and draft.invitation_id is not None:
        invitations.joined(session, invitation_id=draft.invitation_id, person=person)


def daily(session: Session, *, now: datetime) -> dict[str, int]:
    """Delete every draft whose link has expired (DRAFT_DAYS after its last change).

    Idempotent; catches up on any days missed; one short transaction.
    """
    # RETURNING, not rowcount: psycopg 3 can report -1 (RELIABILITY.md, Outbox).
    deleted = session.execute(sa.delete(SignupDraft).where(SignupDraft.expires_at <= now)
                              .returning(SignupDraft.id)).all()
    session.commit()
    return {"signup_drafts_deleted": len(deleted)}
