"""Messaging pages and Twilio webhooks.

Twilio webhooks are the only views exempt from CSRF; they check Twilio's signature instead
(403 and nothing written when it fails).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    render_template,
    request,
)
from flask_login import current_user
from twilio.request_validator import RequestValidator

from buddy import clock, reference, scoping
from buddy.auth import role_required
from buddy.db import get_session
from buddy.extensions import csrf
from buddy.forms import ActionForm
from buddy.messaging import replies, tokens
from buddy.services import ServiceError, endings
from buddy.services.members import members_of

bp = Blueprint("messaging", __name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _signed_by_twilio() -> bool:
    """True when X-Twilio-Signature matches, for the URL as seen here or as published.

    Behind a TLS proxy the URL seen here is right only with ProxyFix (BUDDY_PROXY_HOPS);
    the published BUDDY_PUBLIC_URL form is checked too.
    """
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    validator = RequestValidator(token)
    base = urlsplit(current_app.config["BUDDY_PUBLIC_URL"])
    published = f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{request.full_path}"
    candidates = {request.url, published.rstrip("?")}
    return any(validator.validate(url, request.form, signature) for url in candidates)


@bp.post("/twilio/inbound")
def twilio_inbound():
    if not _signed_by_twilio():
        abort(403)
    sid = request.form.get("MessageSid") or request.form.get("SmsSid")
    if not sid:
        abort(400)
    replies.receive_text(get_session(), sid=sid, from_=request.form.get("From", ""),
                         body=request.form.get("Body", ""))
    return Response(EMPTY_TWIML, mimetype="text/xml")


@bp.post("/twilio/status/<int:message_id>")
def twilio_status(message_id: int):
    if not _signed_by_twilio():
        abort(403)
    replies.status_callback(
        get_session(), message_id=message_id,
        sid=request.form.get("MessageSid") or request.form.get("SmsSid") or "",
        status=request.form.get("MessageStatus") or request.form.get("SmsStatus") or "",
        error_code=request.form.get("ErrorCode") or None,
    )
    return Response(status=204)


csrf.exempt(twilio_inbound)
csrf.exempt(twilio_status)


# --- Links in emails (no login: the signed token is the key) ---------------------------------

@bp.route("/check-in/<token>", methods=["GET", "POST"])
def checkin_answer(token: str):
    """GET shows the answer with one button; POST records it.

    Mail scanners open every link in an email: recording on GET would answer both "all
    good" and "I'd like a call" for people who never clicked.
    """
    session = get_session()
    try:
        check_in, person, answer = replies.answer_by_link(session, token)
    except tokens.BadLink as exc:
        return render_template("messages/link_invalid.html", reason=str(exc)), 400
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        replies.answer_check_in(session, check_in, person, answer, "email")
        session.commit()
        return render_template("messages/checkin_done.html", answer=answer)
    return render_template("messages/checkin_answer.html", answer=answer, form=form,
                           already=check_in.answer)


@bp.route("/family-answer/<token>", methods=["GET", "POST"])
def family_answer(token: str):
    """The six-month question by email: GET shows the answer with one button; POST records it.

    As with check-ins, a mail scanner's GET must not answer for the member.
    """
    session = get_session()
    try:
        family, person, answer = endings.by_link(session, token)
    except tokens.BadLink as exc:
        return render_template("messages/link_invalid.html", reason=str(exc)), 400
    form = ActionForm()
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            endings.record_answer(session, family, person, answer, "email")
        except ServiceError as exc:
            error = str(exc)
        else:
            session.commit()
            return render_template("messages/family_answer_done.html", answer=answer)
    already = endings.answers_of(session, family.id).get(person.id)
    members = members_of(session, family.id)
    open_now = endings.is_open(family, endings.question_of(family, members),
                               endings.england_day(clock.now()))
    return render_template("messages/family_answer.html", answer=answer, form=form,
                           already=already, open_now=open_now, error=error,
                           family=family), 409 if error else 200


@bp.get("/confirm-email/<token>")
def confirm_email(token: str):
    try:
        replies.confirm_email(get_session(), token)
    except tokens.BadLink as exc:
        return render_template("messages/link_invalid.html", reason=str(exc)), 400
    return render_template("messages/email_confirmed.html")


# --- Pages for DA leads ---------------------------------------------------------------------

@bp.get("/problems")
@role_required("lead", "admin")
def problems():
    """Failed and uncertain messages of the lead's region, with the reason."""
    rows = replies.problems(get_session(), scoping.regions_of(current_user.row))
    return render_template("messages/problems.html", rows=rows, reference=reference)


@bp.get("/log")
@role_required("lead", "admin")
def outbox_log():
    """Development: what was sent, or would have been, through every channel."""
    if current_app.config["BUDDY_ENV"] == "production":
        abort(404)
    rows = replies.outbox_log(get_session(), scoping.regions_of(current_user.row))
    return render_template("messages/log.html", rows=rows)
