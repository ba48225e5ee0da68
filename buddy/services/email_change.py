"""A member changes their email address: the new one is confirmed before it is used.

The request (signed in, with the password) emails a signed link to the new address and a
notice to the old one. Opening the link makes the change. The link is bound to the address
it replaces, so it works once, and not at all once the address has changed another way.
An address that already has an account gets the same answer on the page and no email, so
nobody learns from Buddy whether an address is in use.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from sqlmodel import Session, select

from buddy import passwords
from buddy.links import public_url
from buddy.messaging import cadence, outbox, tokens
from buddy.messaging.models import Message
from buddy.models import Person, User, utcnow
from buddy.services import ServiceError, audit
from buddy.services.accounts import EMAILS_PER_HOUR, _email_taken, _may_email, normalise_email
from buddy.statuses import MessageStatus

LINK_HOURS = 24  # tokens.EMAIL_CHANGE lives one day
USED = ("This link has already been used, or your email address has changed since we sent "
        "it. Sign in and ask for a new link on your account page")


def _text(name: str, user: User, values: dict) -> tuple[str, str]:
    # Written like every other message, so it greets the same way.
    return cadence.compose(name, person=user, channel="email", values=values)


def _help_link() -> str:
    # The help and contact page where the app has one; the account page otherwise.
    endpoint = next((e for e in ("main.help_page", "main.help")
                     if e in current_app.view_functions), "account.index")
    return public_url(endpoint)


def request_change(*, session: Session, user: User, new_email: str | None,
                   password: str | None) -> str:
    """Email a confirmation link to `new_email` and a notice to the current address;
    the new address, normalised. Commits.

    The answer is the same whether or not the new address already has an account.
    :raises ServiceError: on "email" and "current_password", collected together; on the
        form when more than EMAILS_PER_HOUR requests came in the last hour.
    """
    errors: dict[str, str] = {}
    new = ""
    try:
        new = normalise_email(new_email)
    except ServiceError as exc:
        errors["email"] = exc.errors["email"].replace("Enter your email address",
                                                      "Enter your new email address")
    else:
        if new == user.email:
            errors["email"] = "This is already your email address. Enter a different one"
    if not password:
        errors["current_password"] = "Enter your password"
    elif not passwords.verify_password(user.password_hash, password)[0]:
        errors["current_password"] = "Your password is not right"
    if errors:
        raise ServiceError(errors)
    # Locking the row (PostgreSQL) makes two requests at once count one after the other.
    user = session.exec(select(User).where(User.id == user.id).with_for_update()).one()
    if not _may_email(session, user, kind="email_change_notice"):
        raise ServiceError(f"You have asked to change your email address {EMAILS_PER_HOUR} "
                           "times in the last hour. Please wait an hour and try again")
    now = utcnow()
    if not _email_taken(session, new):
        token = tokens.sign(tokens.EMAIL_CHANGE, {"u": user.id, "old": user.email, "new": new})
        title, body = _text("email_change_link", user, {
            "hours": LINK_HOURS,
            "link": public_url("account.confirm_email_change", token=token)})
        outbox.enqueue(session, user=user, channel="email", kind="email_change_link",
                       subject=f"email_change_link:{secrets.token_hex(8)}", to_address=new,
                       title=title, body=body, expires_at=now + timedelta(hours=LINK_HOURS))
    title, body = _text("email_change_notice", user, {
        "password_link": public_url("auth.forgot_password"),
        "help": _help_link()})
    outbox.enqueue(session, user=user, channel="email", kind="email_change_notice",
                   subject=f"email_change_notice:{secrets.token_hex(8)}",
                   to_address=user.email, title=title, body=body)
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    audit.record(session, actor=user, action="email_change_requested",
                 region=person.region if person else user.region,
                 person_id=person.id if person else None)
    session.commit()
    return new


def pending_change(*, session: Session, token: str) -> dict:
    """The payload of a change link that can still be used (no write).

    :raises tokens.BadLink: tampered, expired, used, or the address changed since.
    """
    payload = tokens.verify(tokens.EMAIL_CHANGE, token)
    if not all(isinstance(payload.get(k), t) for k, t in (("u", int), ("old", str),
                                                           ("new", str))):
        raise tokens.BadLink("This link is not valid")
    if session.exec(select(User.email).where(User.id == payload["u"])).first() \
            != payload["old"]:
        raise tokens.BadLink(USED)
    return payload


def confirm_change(*, session: Session, token: str) -> User:
    """Make the link's new address the account's. Commits.

    :raises tokens.BadLink: tampered, expired, used, or the address changed since.
    :raises ServiceError: the new address has had an account made with it since.
    """
    payload = pending_change(session=session, token=token)
    user = session.exec(select(User).where(User.id == payload["u"]).with_for_update()).first()
    if user is None or user.email != payload["old"]:
        raise tokens.BadLink(USED)
    old, new = user.email, payload["new"]
    taken = ServiceError("An account with this email address already exists. Sign in and "
                         "choose a different address on your account page")
    if _email_taken(session, new):
        raise taken
    user.email = new
    session.add(user)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        # Another account took the address between the check and this write.
        session.rollback()
        raise taken from None
    now = utcnow()
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    if person is not None:
        # Opening a link sent to the address shows it is theirs.
        person.email_confirmed_at = now
        person.updated_at = now
        session.add(person)
    # Emails waiting to go follow the address, except the notice meant for the old one;
    # links that confirm an address (the old one, or another change) no longer work.
    waiting = (Message.user_id == user.id, Message.channel == "email",
               Message.status == MessageStatus.PENDING)
    session.execute(sa.update(Message).where(
        *waiting, Message.kind.in_(("email_confirm", "email_change_link"))).values(
        status=MessageStatus.CANCELLED, updated_at=now, last_error="The email address changed"))
    session.execute(sa.update(Message).where(
        *waiting, Message.to_address == old, Message.kind != "email_change_notice").values(
        to_address=new, next_attempt_at=None, updated_at=now))
    audit.record(session, actor=user, action="email_changed",
                 region=person.region if person else user.region,
                 person_id=person.id if person else None)
    session.commit()
    return user
