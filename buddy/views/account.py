"""A member's own account: profile, status, consent, password, data export, deletion."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user

from buddy import clock, reference
from buddy import surveys as survey_config
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import (
    ActionForm,
    ChangeEmailForm,
    ChangePasswordForm,
    ConfirmPasswordForm,
    PhoneCodeForm,
    ProfileForm,
    apply_errors,
)
from buddy.messaging import tokens
from buddy.services import (
    ServiceError,
    accounts,
    email_change,
    my_data,
    people,
    phone_verification,
    surveys,
)
from buddy.views.auth import password_changed

bp = Blueprint("account", __name__)


@bp.get("/")
@role_required("member")
def index():
    session = get_session()
    person = people.person_of(session, current_user.row)
    return render_template("account/index.html", person=person, form=ActionForm(),
                           reference=reference,
                           # Each with a fresh signed link: it opens that survey only.
                           waiting=[(r, surveys.fresh_token(r))
                                    for r in surveys.waiting_for(session, person=person)],
                           survey_titles={k: s.title for k, s in survey_config.surveys().items()})


@bp.route("/edit", methods=["GET", "POST"])
@role_required("member")
def edit():
    session = get_session()
    person = people.person_of(session, current_user.row)
    form = ProfileForm(role=person.role)
    if form.validate_on_submit():
        try:
            people.update_profile(session=session, person=person, data=form.to_data(),
                                  leave_family=request.form.get("leave_family") == "yes")
        except people.MoveLeavesFamily as move:
            # Ask first; nothing is saved until they say yes (the answers ride along hidden).
            session.rollback()
            return render_template(
                "account/move_region.html", person=person, family=move.family,
                to_region=people.region_name(move.to_region),
                from_region=people.region_name(move.family.region),
                answers=[(k, v) for k, v in request.form.items(multi=True)
                         if k not in ("csrf_token", "leave_family")])
        except ServiceError as exc:
            session.rollback()
            apply_errors(form, exc.errors)
        else:
            flash("Your details have been saved", "success")
            return redirect(url_for("account.index"))
    elif request.method == "GET":
        form.load(person)
    return render_template("account/edit.html", form=form, role=person.role)


@bp.route("/phone", methods=["GET", "POST"])
@role_required("member")
def phone():
    """Type back the code texted to the member's number."""
    session = get_session()
    person = people.person_of(session, current_user.row)
    form = PhoneCodeForm()
    if form.validate_on_submit():
        try:
            phone_verification.verify_code(session=session, person=person,
                                           code=form.code.data or "")
        except ServiceError as exc:
            apply_errors(form, exc.errors)
        else:
            flash("Your mobile number is confirmed", "success")
            return redirect(url_for("account.index"))
    return render_template("account/phone.html", person=person, form=form,
                           state=phone_verification.status(session=session, person=person))


@bp.post("/phone/code")
@role_required("member")
def send_code():
    session = get_session()
    person = people.person_of(session, current_user.row)
    try:
        phone_verification.send_code(session=session, person=person)
    except ServiceError as exc:
        flash(exc.errors[""], "error")
    else:
        flash("We have sent you a new code", "success")
    return redirect(url_for("account.phone"))


@bp.post("/status")
@role_required("member")
def status():
    session = get_session()
    person = people.person_of(session, current_user.row)
    action = request.form.get("action", "")
    try:
        people.change_status(session=session, person=person, action=action)
    except ServiceError as exc:
        flash(exc.errors[""], "error")
    else:
        flash({
            "pause": "You are paused: we will not match you or send you reminders",
            "resume": "Welcome back: you are active again",
            "withdraw": "You have left the scheme. You can rejoin at any time",
            "rejoin": "You have rejoined the scheme",
        }[action], "success")
    return redirect(url_for("account.index"))


@bp.post("/consent/withdraw")
@role_required("member")
def withdraw_consent():
    session = get_session()
    person = people.person_of(session, current_user.row)
    accounts.withdraw_sensitive_consent(session=session, person=person)
    flash("We have deleted your country, languages, gender and support needs", "success")
    return redirect(url_for("account.index"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(session=get_session(), user=current_user.row,
                                     current=form.current_password.data, new=form.password.data)
        except ServiceError as exc:
            apply_errors(form, exc.errors)
        else:
            return password_changed()
    return render_template("account/password.html", form=form)


@bp.route("/email", methods=["GET", "POST"])
@role_required("member")
def email():
    """Ask to change the account's email address; a link to the new one confirms it."""
    form = ChangeEmailForm()
    if form.validate_on_submit():
        old = current_user.email
        try:
            new = email_change.request_change(session=get_session(), user=current_user.row,
                                              new_email=form.email.data,
                                              password=form.current_password.data)
        except ServiceError as exc:
            apply_errors(form, exc.errors)
        else:
            # The same words whether or not the address has an account (no probing).
            flash(f"We have sent a link to {new}. Open it within {email_change.LINK_HOURS} "
                  f"hours to start using that address. Until then we keep using {old}",
                  "success")
            return redirect(url_for("account.index"))
    return render_template("account/email.html", form=form)


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    """The link sent to a new address: a button (mail scanners open links) makes the change."""
    try:
        payload = email_change.pending_change(session=get_session(), token=token)
        form = ActionForm()
        if form.validate_on_submit():
            user = email_change.confirm_change(session=get_session(), token=token)
            return render_template("account/email_changed.html", email=user.email)
    except tokens.BadLink as exc:
        return render_template("messages/link_invalid.html", reason=str(exc)), 400
    except ServiceError as exc:
        return render_template("messages/link_invalid.html", reason=exc.errors[""]), 400
    return render_template("account/email_confirm.html", email=payload["new"], form=form)


@bp.get("/data")
@login_required
def data():
    """Everything we hold about the member, in words; `?download=1` saves it as a file."""
    session = get_session()
    page = render_template("account/data.html",
                           sections=my_data.readable(session=session, user=current_user.row),
                           key=my_data.key(session=session, user=current_user.row),
                           made=clock.now())
    headers = {"Cache-Control": "no-store"}
    if request.args.get("download"):
        headers["Content-Disposition"] = 'attachment; filename="my-buddy-data.html"'
    return Response(page, mimetype="text/html", headers=headers)


@bp.get("/export")
@login_required
def export():
    body = accounts.export_data(session=get_session(), user=current_user.row)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": 'attachment; filename="my-buddy-data.json"',
        "Cache-Control": "no-store",
    })


@bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete():
    form = ConfirmPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.delete_account(session=get_session(), user=current_user.row,
                                    password=form.password.data)
        except ServiceError as exc:
            apply_errors(form, exc.errors)
        else:
            logout_user()
            return render_template("account/deleted.html")
    return render_template("account/delete.html", form=form)
