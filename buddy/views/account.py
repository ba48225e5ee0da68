"""A member's own account: profile, status, consent, password, data export, deletion."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user

from buddy import reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import (
    ActionForm,
    ChangePasswordForm,
    ConfirmPasswordForm,
    PhoneCodeForm,
    ProfileForm,
    apply_errors,
)
from buddy.services import ServiceError, accounts, people, phone_verification

bp = Blueprint("account", __name__)


@bp.get("/")
@role_required("member")
def index():
    person = people.person_of(get_session(), current_user.row)
    return render_template("account/index.html", person=person, form=ActionForm(),
                           reference=reference)


@bp.route("/edit", methods=["GET", "POST"])
@role_required("member")
def edit():
    session = get_session()
    person = people.person_of(session, current_user.row)
    form = ProfileForm(role=person.role)
    if form.validate_on_submit():
        try:
            people.update_profile(session=session, person=person, data=form.to_data())
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
            logout_user()
            flash("Your password has been changed. Sign in with your new password", "success")
            return redirect(url_for("auth.login"))
    return render_template("account/password.html", form=form)


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
