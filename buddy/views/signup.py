"""Sign-up for newcomers and volunteers."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user, login_user

from buddy import timezones
from buddy.auth import LoginUser
from buddy.db import get_session
from buddy.forms import SignupForm, apply_errors
from buddy.models import User
from buddy.services import ServiceError, accounts
from buddy.views import home_for

bp = Blueprint("signup", __name__)
VOLUNTEER_ROLES = ("buddy", "ambassador")


@bp.get("/")
def choose():
    return render_template("signup/choose.html")


@bp.route("/newcomer", methods=["GET", "POST"], defaults={"role": "newcomer"})
@bp.route("/volunteer/<role>", methods=["GET", "POST"])
def form(role: str):
    if role not in ("newcomer", *VOLUNTEER_ROLES):
        abort(404)
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = SignupForm(role=role)
    if form.validate_on_submit():
        session = get_session()
        try:
            data = form.to_data()
            person = accounts.sign_up(session=session, data=data, role=role)
        except ServiceError as exc:
            apply_errors(form, exc.errors)
        else:
            # A taken address gets the same redirect and the same page, without signing in:
            # the sign-up never says whether an address has an account.
            if person is not None:
                login_user(LoginUser(session.get(User, person.user_id)))
            flask_session["joined"] = {
                "role": role, "email": accounts.normalise_email(data["email"]),
                "wants_ambassador": bool(data.get("wants_ambassador")),
            }
            return redirect(url_for("signup.done"))
    return render_template("signup/form.html", form=form, role=role)


@bp.post("/time-zone")
def time_zone():
    """The zone a typed mobile number points to, for buddy/static/timezone.js (sign-up and
    "change your details"). A POST: the number stays out of URLs and access logs."""
    proposal, near = timezones.for_phone(request.form.get("phone"),
                                         request.form.get("phone_country"))
    response = jsonify(zone=proposal, label=timezones.label(proposal) if proposal else None,
                       suggested=[[zone, timezones.label(zone)] for zone in near])
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/done")
def done():
    joined = flask_session.get("joined")
    if joined is None:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        from buddy.services.people import person_of

        person = person_of(get_session(), current_user.row)
        joined = {"role": person.role, "email": current_user.email,
                  "wants_ambassador": person.wants_ambassador}
    return render_template("signup/done.html", **joined)
