"""Accounts: sign-up, login with a database lockout, password reset, export and deletion."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlmodel import Session, select

from buddy import intakes, passwords, states
from buddy.links import public_url
from buddy.messaging import cadence, outbox
from buddy.messaging.models import CheckIn, Flag, InboundMessage, Message
from buddy.messaging.texts import greeting_name
from buddy.models import (
    AuditEvent,
    LoginThrottle,
    Person,
    SurveyAnswer,
    SurveyRequest,
    User,
    utcnow,
)
from buddy.services import NotFound, ServiceError, audit, phone_verification, retention
from buddy.services.leads import FORMER as FORMER_LEAD
from buddy.services.profiles import SENSITIVE_FIELDS, clean_name, clean_profile
from buddy.settings import contact_email

RESET_SALT = "buddy.password-reset"
# Emails anyone can make us send to an address (reset links, "someone tried to sign up"):
# at most this many an hour each, counted on the outbox rows so every worker agrees.
EMAILS_PER_HOUR = 3


def normalise_email(raw: str | None) -> str:
    """Trimmed, lower-cased, syntactically valid email address.

    :raises ServiceError: on the "email" field.
    """
    value = (raw or "").strip().lower()
    if not value:
        raise ServiceError({"email": "Enter your email address"})
    try:
        # No DNS lookup: newcomers sign up from anywhere, and tests have no network.
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ServiceError(
            {"email": "Enter an email address in the correct format, like name@example.com"}
        ) from None


def _email_taken(session: Session, email: str) -> bool:
    return session.exec(select(User.id).where(User.email == email)).first() is not None


class AddressTaken(ServiceError):
    """Every field is right but the address already has an account."""

    def __init__(self, email: str):
        super().__init__({"email": "An account with this email address already exists"})
        self.email = email


def register_member(
    *, session: Session, data: dict, role: str, today: date | None = None,
    then: Callable[[Session, Person | None], None] | None = None,
) -> Person:
    """Create a User and a Person for a newcomer or volunteer; volunteers start pending.
    `then(session, person)` runs in the same transaction, before its commit.

    :raises ServiceError: for any bad field, collected together; AddressTaken, only when
        every field is right, for an address that has an account (see sign_up).
    """
    errors: dict[str, str] = {}
    email = None
    try:
        email = normalise_email(data.get("email"))
    except ServiceError as exc:
        errors.update(exc.errors)
    problem = passwords.password_problem(data.get("password") or "")
    if problem:
        errors["password"] = problem
    if not data.get("contact_consent"):
        errors["contact_consent"] = (
            "Tick the box to agree that we may contact you, or we cannot match you"
        )
    try:
        profile = clean_profile(data, role=role, today=today)
    except ServiceError as exc:
        errors.update(exc.errors)
        profile = {}
    if errors:
        raise ServiceError(errors)
    if _email_taken(session, email):
        raise AddressTaken(email)

    now = utcnow()
    sensitive = profile.pop("sensitive_consent")
    user = User(
        email=email,
        password_hash=passwords.hash_password(data["password"]),
        role="member",
        full_name=profile["full_name"],
    )
    session.add(user)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        # A double-clicked submit: the first request won the unique email.
        session.rollback()
        raise AddressTaken(email) from None
    person = Person(
        **profile,
        user_id=user.id,
        status=states.initial(role),
        contact_consent_at=now,
        sensitive_consent_at=now if sensitive else None,
    )
    intakes.assign(person)  # newcomers: the intake of their arrival date
    session.add(person)
    session.flush()
    audit.record(
        session, actor=user, action=f"signed_up_{role}", region=person.region, person_id=person.id
    )
    cadence.person_joined(session, person)  # email confirmation, "what to expect"
    phone_verification.phone_given(session, person)  # a code to confirm the number
    if then is not None:
        then(session, person)
    session.commit()
    return person


def sign_up(*, session: Session, data: dict, role: str, today: date | None = None,
            then: Callable[[Session, Person | None], None] | None = None) -> Person | None:
    """Register a member; for an address that has an account, email its owner instead.

    Returns the new Person, or None for a taken address: the caller answers both the same,
    so the sign-up never tells anyone whether an address has an account. `then(session,
    person or None)` runs in the same transaction either way (a sign-up draft ends there).
    :raises ServiceError: for any bad field, collected together (never for a taken address).
    """
    try:
        return register_member(session=session, data=data, role=role, today=today, then=then)
    except AddressTaken as taken:
        # The new account's hash is most of a sign-up's time: spend it here too, so the
        # answer for a taken address comes back no sooner.
        passwords.hash_password(data["password"])
        if then is not None:
            then(session, None)
        _warn_owner_of_taken_address(session, taken.email)
        return None


# A double-clicked sign-up meets the account its first click made: no warning for that.
JUST_CREATED = timedelta(minutes=10)


def _warn_owner_of_taken_address(session: Session, email: str) -> None:
    user = session.exec(select(User).where(User.email == email).with_for_update()).first()
    if (user is None or user.created_at > utcnow() - JUST_CREATED
            or not _may_email(session, user, kind="signup_attempt")):
        session.commit()
        return
    outbox.enqueue(
        session,
        user=user,
        channel="email",
        kind="signup_attempt",
        subject=f"signup_attempt:{secrets.token_hex(8)}",
        to_address=user.email,
        title="Someone tried to join Buddy with your email address",
        body=(
            f"Hello {greeting_name(user.full_name)},\n\n"
            "Someone tried to join Buddy with this email address, "
            "which already has an account.\n\nIf it was you, sign in here:\n"
            f"{public_url('auth.login')}\n\nForgotten your password? Set a new one here:\n"
            f"{public_url('auth.forgot_password')}\n\n"
            "If it was not you, you can ignore this email: nothing has changed."
        ),
    )
    session.commit()


def create_staff(
    *, session: Session, actor: User | None, email: str, full_name: str, role: str,
    region: str | None, password: str | None = None,
) -> User:
    """Create a DA lead (with a region) or an admin. Without a password, a reset link is sent.

    :raises ServiceError: for a bad or taken email, name or region.
    """
    from buddy import reference

    errors: dict[str, str] = {}
    try:
        email = normalise_email(email)
        if _email_taken(session, email):
            errors["email"] = "An account with this email address already exists"
    except ServiceError as exc:
        errors.update(exc.errors)
    try:
        full_name = clean_name(full_name, label="their full name")
    except ServiceError as exc:
        errors.update(exc.errors)
    if role == "lead" and region not in reference.regions():
        errors["region"] = "Choose the lead's region"
    if password is not None and (problem := passwords.password_problem(password)):
        errors["password"] = problem
    if errors:
        raise ServiceError(errors)
    user = User(
        email=email,
        full_name=full_name,
        role=role,
        region=region if role == "lead" else None,
        # An unusable hash until the person sets a password through the emailed link.
        password_hash=passwords.hash_password(password or secrets.token_urlsafe(32)),
    )
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action=f"created_{role}", region=user.region,
                 detail={"user_id": user.id})
    if password is None:
        _queue_reset_email(session, user, kind="account_created")
    session.commit()
    return user


# --- Login and lockout -----------------------------------------------------------------

def authenticate(*, session: Session, email: str, password: str) -> User:
    """Return the user for a correct email and password.

    The lockout lives in the database so that every worker counts the same failures.
    :raises ServiceError: one message for a wrong email or password (no account probing),
        another while the address is locked.
    """
    cfg = current_app.config
    wrong = ServiceError("Enter a correct email address and password")
    email = (email or "").strip().lower()
    now = utcnow()
    window = timedelta(minutes=cfg["BUDDY_LOGIN_WINDOW_MINUTES"])
    throttle = session.get(LoginThrottle, email[:254]) if email else None
    if throttle and throttle.locked_until and throttle.locked_until > now:
        minutes = max(1, int((throttle.locked_until - now).total_seconds() // 60) + 1)
        raise ServiceError(
            f"Too many attempts to sign in. Try again in {minutes} minutes, or reset your password"
        )
    user = session.exec(select(User).where(User.email == email)).first() if email else None
    # Without an account a stand-in hash is checked: the answer takes no less time.
    ok, new_hash = passwords.verify_password(user.password_hash if user else None,
                                             password or "")
    if not ok:
        if email:
            _count_failure(session, email[:254], now=now, window=window)
        raise wrong
    if user.role == FORMER_LEAD:
        # Only someone who knows the password learns that the account is closed.
        raise ServiceError("Your DA lead account has been closed by an admin. If you think "
                           f"this is wrong, email {contact_email(cfg)}")
    if throttle is not None:
        session.delete(throttle)
    if new_hash:
        user.password_hash = new_hash
    user.last_login_at = now
    session.add(user)
    session.commit()
    return user


def sign_out_everywhere(*, session: Session, user: User) -> None:
    """End every session and remember-me cookie of `user`, on every device.

    Both carry the user's session version (buddy/auth.py), so one bump ends them all,
    copies included, with no table of sessions to keep.
    """
    session.execute(
        sa.update(User).where(User.id == user.id)
        .values(session_version=User.session_version + 1)
    )
    session.commit()


def _count_failure(session: Session, email: str, *, now: datetime, window: timedelta) -> None:
    max_failures = current_app.config["BUDDY_LOGIN_MAX_FAILURES"]
    # An atomic UPDATE so that workers racing on the same address never lose a count.
    result = session.execute(
        sa.update(LoginThrottle)
        .where(LoginThrottle.email == email, LoginThrottle.window_start > now - window)
        .values(failures=LoginThrottle.failures + 1)
    )
    if result.rowcount == 0:
        throttle = session.get(LoginThrottle, email)
        if throttle is None:
            session.add(LoginThrottle(email=email, failures=1, window_start=now))
        else:
            throttle.failures, throttle.window_start, throttle.locked_until = 1, now, None
            session.add(throttle)
    try:
        session.flush()
    except sa.exc.IntegrityError:
        # Another worker inserted the first failure at the same moment: count on theirs.
        session.rollback()
        session.execute(
            sa.update(LoginThrottle).where(LoginThrottle.email == email)
            .values(failures=LoginThrottle.failures + 1)
        )
    session.execute(
        sa.update(LoginThrottle)
        .where(LoginThrottle.email == email, LoginThrottle.failures >= max_failures)
        .values(locked_until=now + window)
    )
    session.commit()


# --- Password reset ----------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=RESET_SALT)


def reset_token(user: User) -> str:
    # The hash's tail makes the token single-use: a new password invalidates it.
    return _serializer().dumps({"uid": user.id, "h": user.password_hash[-16:]})


def _queue_reset_email(session: Session, user: User, *, kind: str) -> None:
    minutes = current_app.config["BUDDY_RESET_MINUTES"]
    link = public_url("auth.reset_password", token=reset_token(user))
    intro = (
        "An account has been created for you on Buddy." if kind == "account_created"
        else "Someone asked to reset the password for your Buddy account."
    )
    outbox.enqueue(
        session,
        user=user,
        channel="email",
        kind=kind,
        subject=f"{kind}:{secrets.token_hex(8)}",
        to_address=user.email,
        title=(
            "Set your Buddy password" if kind == "account_created"
            else "Reset your Buddy password"
        ),
        body=(
            f"Hello {greeting_name(user.full_name)},\n\n{intro}\n"
            f"Set a password here within {minutes} minutes:\n"
            f"{link}\n\nIf you did not ask for this, you can ignore this email."
        ),
    )


def _may_email(session: Session, user: User, *, kind: str) -> bool:
    """Whether fewer than EMAILS_PER_HOUR emails of `kind` went to `user` in the last hour."""
    sent = session.exec(
        select(sa.func.count()).select_from(Message).where(
            Message.user_id == user.id, Message.kind == kind,
            Message.created_at > utcnow() - timedelta(hours=1))
    ).one()
    return sent < EMAILS_PER_HOUR


def request_password_reset(*, session: Session, email: str) -> None:
    """Queue a reset email if the address has an account and had fewer than
    EMAILS_PER_HOUR this hour; say nothing either way."""
    try:
        email = normalise_email(email)
    except ServiceError:
        return
    # Locking the row (PostgreSQL) makes two workers' requests for one address count in turn.
    user = session.exec(select(User).where(User.email == email).with_for_update()).first()
    if user is not None and user.role == FORMER_LEAD:
        user = None  # a closed account: a new password would open nothing
    if user is not None and _may_email(session, user, kind="password_reset"):
        _queue_reset_email(session, user, kind="password_reset")
    session.commit()


def user_for_reset_token(*, session: Session, token: str) -> User:
    """The user a valid, unexpired, unused reset token belongs to.

    :raises ServiceError: when the link is expired, used or tampered with.
    """
    max_age = current_app.config["BUDDY_RESET_MINUTES"] * 60
    try:
        payload = _serializer().loads(token, max_age=max_age)
    except SignatureExpired:
        raise ServiceError("This link has expired. Ask for a new one") from None
    except BadSignature:
        raise ServiceError("This link is not valid. Ask for a new one") from None
    user = session.get(User, payload.get("uid"))
    if user is not None and user.role == FORMER_LEAD:
        raise ServiceError("This link is not valid. Ask for a new one")
    if user is None or user.password_hash[-16:] != payload.get("h"):
        raise ServiceError("This link has already been used. Ask for a new one")
    return user


def set_password(*, session: Session, user: User, password: str, actor: User | None) -> None:
    """Set a new password and end every other session of this user.

    :raises ServiceError: on the "password" field.
    """
    problem = passwords.password_problem(password or "")
    if problem:
        raise ServiceError({"password": problem})
    user.password_hash = passwords.hash_password(password)
    user.session_version += 1
    session.add(user)
    throttle = session.get(LoginThrottle, user.email)
    if throttle is not None:
        session.delete(throttle)
    audit.record(session, actor=actor or user, action="password_changed", region=user.region)
    session.commit()


def change_password(*, session: Session, user: User, current: str, new: str) -> None:
    """Change a password after checking the current one.

    :raises ServiceError: on "current_password" or "password".
    """
    ok, _ = passwords.verify_password(user.password_hash, current or "")
    if not ok:
        raise ServiceError({"current_password": "Your current password is not right"})
    set_password(session=session, user=user, password=new, actor=user)


# --- Data export and deletion -------------------------------------------------------------

def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def export_data(*, session: Session, user: User) -> str:
    """Everything we hold about `user`, as a JSON document."""
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    messages = session.exec(
        select(Message).where(Message.user_id == user.id).order_by(Message.id)
    ).all()
    events = session.exec(
        select(AuditEvent)
        .where(sa.or_(AuditEvent.actor_id == user.id,
                      AuditEvent.person_id == (person.id if person else -1)))
        .order_by(AuditEvent.id)
    ).all()
    doc = {
        "exported_at": utcnow().isoformat(),
        "account": {k: _jsonable(v) for k, v in user.model_dump(
            exclude={"password_hash", "session_version"}).items()},
        "profile": {k: _jsonable(v) for k, v in person.model_dump().items()} if person else None,
        "messages": [
            {k: _jsonable(v) for k, v in m.model_dump(
                include={"channel", "kind", "title", "body", "due_at", "status", "created_at"}
            ).items()}
            for m in messages
        ],
        "activity": [
            {"at": e.at.isoformat(), "action": e.action, "detail": e.detail} for e in events
        ],
        "check_ins": _rows(session, CheckIn, person, ("day", "channel", "sent_at", "answer",
                                                      "answered_at", "answer_channel")),
        "texts_received": _rows(session, InboundMessage, person, ("channel", "body",
                                                                  "meaning", "received_at")),
        "flags": _rows(session, Flag, person, ("reason", "text", "status", "created_at",
                                               "handled_at", "note")),
        "surveys": _surveys(session, person),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def _surveys(session: Session, person: Person | None) -> list:
    """Each survey asked, with its answers and the questions' words as they were asked."""
    requests = _rows(session, SurveyRequest, person, (
        "id", "survey", "edition", "intake", "sent_at", "answered_at", "stopped_at"))
    answers: dict[int, list] = {}
    for answer in session.exec(select(SurveyAnswer).where(SurveyAnswer.request_id.in_(
            [r["id"] for r in requests])).order_by(SurveyAnswer.id)):
        answers.setdefault(answer.request_id, []).append({
            f: _jsonable(getattr(answer, f))
            for f in ("question", "wording", "answer", "answer_words", "answered_at")})
    return [{**{k: v for k, v in r.items() if k != "id"}, "answers": answers.get(r["id"], [])}
            for r in requests]


def _rows(session: Session, model, person: Person | None, fields: tuple[str, ...]) -> list:
    if person is None:
        return []
    rows = session.exec(select(model).where(model.person_id == person.id).order_by(model.id))
    return [{f: _jsonable(getattr(row, f)) for f in fields} for row in rows]


def delete_account(*, session: Session, user: User, password: str) -> None:
    """Delete the user, their profile and messages; keep an anonymous audit entry.

    :raises ServiceError: on "password" when it is wrong.
    """
    ok, _ = passwords.verify_password(user.password_hash, password or "")
    if not ok:
        raise ServiceError({"password": "Your password is not right"})
    person = session.exec(select(Person).where(Person.user_id == user.id)).first()
    detail = {"role": person.role if person else user.role}
    region = person.region if person else user.region
    # Their name, contact details and answers leave the rows that stay too (others'
    # messages, match runs, audit details): the same traces the retention job removes.
    retention.forget_traces(session, person=person, user=user)
    # Audit entries about this person stay (they record what leads did) but lose the link.
    if person is not None:
        session.execute(
            sa.update(AuditEvent).where(AuditEvent.person_id == person.id).values(person_id=None)
        )
        session.delete(person)
    session.execute(sa.update(AuditEvent).where(AuditEvent.actor_id == user.id)
                    .values(actor_id=None))
    session.delete(user)
    audit.record(session, actor=None, action="account_deleted", region=region, detail=detail)
    session.commit()


def withdraw_sensitive_consent(*, session: Session, person: Person) -> None:
    """Forget the sensitive fields and the consent to hold them."""
    for field in SENSITIVE_FIELDS:
        setattr(person, field, [] if field in ("languages", "support_needs") else
                (False if field == "same_gender_anchor" else None))
    person.sensitive_consent_at = None
    person.updated_at = utcnow()
    session.add(person)
    audit.record(session, actor=None, action="sensitive_consent_withdrawn",
                 region=person.region, person_id=person.id)
    session.commit()


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user
