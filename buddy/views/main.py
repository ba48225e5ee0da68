"""Start page, health check, and the pages every NHS service has: help, accessibility,
privacy."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user

from buddy import reference
from buddy.auth import role_required
from buddy.db import database_answers, get_session
from buddy.services import NotFound, ServiceError, flags, people
from buddy.services import leads as leads_service
from buddy.settings import ROOT, contact_email
from buddy.views import home_for

bp = Blueprint("main", __name__)
ASSETS = ROOT / "node_modules" / "nhsuk-frontend" / "dist" / "nhsuk"


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("main/index.html")


def _service() -> dict:
    """What every public information page names: the team's address and the controller."""
    return {"contact": contact_email(current_app.config),
            "controller": current_app.config["BUDDY_DATA_CONTROLLER"]}


def _help_page(*, text: str = "", error: str | None = None, status: int = 200):
    person = region = None
    leads: list = []
    if current_user.is_authenticated and current_user.role == "member":
        session = get_session()
        try:
            person = people.person_of(session, current_user.row)
        except NotFound:
            person = None
        if person is not None:
            region = reference.regions().get(person.region)
            leads = leads_service.leads_of(session, person.region)
    return render_template("main/help.html", person=person, region=region, leads=leads,
                           text=text, error=error, **_service()), status


@bp.get("/help")
def help_page():
    return _help_page()


@bp.post("/help/ask")
@role_required("member")
def ask_lead():
    """A member asks their region's DA lead to contact them (a flag in the lead's queue)."""
    text = request.form.get("text", "")
    try:
        _flag, new = flags.ask_lead(get_session(), user=current_user.row, text=text)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        get_session().rollback()
        return _help_page(text=text, error=next(iter(exc.errors.values())), status=400)
    flash("We have asked your DA lead to contact you" if new else
          "Your DA lead already has your request: we have added what you wrote to it",
          "success")
    return redirect(url_for("main.help_page"))


@bp.get("/accessibility")
def accessibility():
    return render_template("main/accessibility.html", **_service())


@bp.get("/privacy")
def privacy():
    from buddy import intakes

    default = intakes.programme().retention_months
    # Regions may keep data for a different time (config/programme.toml): each is named.
    others = {r.name: intakes.programme(slug).retention_months
              for slug, r in reference.regions().items()
              if intakes.programme(slug).retention_months != default}
    return render_template("main/privacy.html", retention_months=default,
                           regional_retention=others, **_service())


@bp.get("/healthz")
def healthz():
    """200 while the database answers; 503 otherwise, so a load balancer stops routing here."""
    if database_answers():
        return jsonify(status="ok", database=True), 200
    return jsonify(status="degraded", database=False,
                   message="The database is not answering"), 503


@bp.get("/assets/<path:filename>")
def assets(filename: str):
    """NHS.UK frontend files, installed by npm into node_modules (never committed)."""
    return send_from_directory(ASSETS, filename, max_age=3600)
