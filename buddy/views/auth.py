"""Sign in, sign out, forgotten password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user, login_user, logout_user

from buddy.auth import LoginUser
from buddy.db import get_session
from buddy.forms import EmailForm, LoginForm, NewPasswordForm, apply_errors
from buddy.services import ServiceError, accounts
from buddy.views import home_for, safe_next


def password_changed():
    """After a password reset or change: sign out and ask for the new password."""
    logout_user()
    flash("Your password has been changed. Sign in with your new password", "success")
    return redirect(url_for("auth.login"))


bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(
                session=get_session(), email=form.email.data, password=form.password.data
            )
        except ServiceError as exc:
            apply_errors(form, exc.errors)
        else:
            flask_session.pop("joined", None)  # another sign-up's page is not theirs
            login_user(LoginUser(user), remember=form.remember.data)
            return redirect(safe_next(request.args.get("next")) or home_for(user))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        # Server-side: a copied session or remember-me cookie must not outlive the sign-out.
        accounts.sign_out_everywhere(session=get_session(), user=current_user.row)
    # Nothing of this visit stays in the browser's cookie (say, the address just signed up).
    flask_session.clear()
    logout_user()
    flash("You have signed out on every device", "success")
    return redirect(url_for("auth.login"))


@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    form = EmailForm()
    if form.validate_on_submit() and not (form.email.data or "").strip():
        apply_errors(form, {"email": "Enter the email address you use for Buddy"})
    elif form.validate_on_submit():
        accounts.request_password_reset(session=get_session(), email=form.email.data)
        # The same answer whether or not the address has an account.
        return render_template("auth/reset_sent.html", email=form.email.data)
    return render_template("auth/forgot.html", form=form)


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    session = get_session()
    try:
        user = accounts.user_for_reset_token(session=session, token=token)
    except ServiceError as exc:
        return render_template("auth/reset_invalid.html", message=exc.errors[""]), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(session=session, user=user, password=form.password.data,
                                  actor=None)
        except ServiceError as exc:
            apply_errors(form, exc.errors)
        else:
            return password_changed()
    return render_template("auth/reset.html", form=form)
