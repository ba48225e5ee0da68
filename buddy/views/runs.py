"""Match runs for DA leads: start, watch, review, edit, re-optimise, publish, discard."""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from buddy import clock, intakes, jobs, reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.messaging import cadence
from buddy.services import (
    NotFound,
    ServiceError,
    audit,
    edits,
    publishing,
    review,
    runs,
    surveys,
)
from buddy.text import parse_int
from buddy.views import attempt, form_id, requested_region

bp = Blueprint("runs", __name__)


@bp.get("/")
@role_required("lead", "admin")
def index():
    session, region = get_session(), requested_region()
    return render_template("runs/index.html", region=region, reference=reference,
                           runs=runs.runs_for(session, current_user.row, region),
                           time_limits=runs.TIME_LIMITS, intakes=intakes,
                           choices=runs.intake_choices(session, region=region))


@bp.post("/")
@role_required("lead", "admin")
def start():
    region = requested_region()
    limit = request.form.get("time_limit", "30")
    run = attempt(lambda: runs.start_run(
        get_session(), lead=current_user.row, region=region,
        kind=request.form.get("kind", "families"),
        time_limit_s=parse_int(limit, max_digits=4) or 0,
        intake=request.form.get("intake") or None), back=url_for("runs.index", region=region))
    jobs.launch_match_run(run.id)
    return redirect(url_for("runs.show", run_id=run.id))


def _run_or_404(run_id: int):
    return attempt(lambda: runs.get_run(get_session(), current_user.row, run_id))


@bp.get("/<int:run_id>")
@role_required("lead", "admin")
def show(run_id: int):
    shown = attempt(lambda: review.page(get_session(), lead=current_user.row, run_id=run_id))
    return render_template("runs/show.html", **shown, reference=reference, intakes=intakes,
                           phase_words=review.phase_words, gap_words=review.gap_words,
                           label=edits.label)


def _optional_id(name: str) -> int | None:
    """A chooser's record id, or None when the lead left it on its placeholder."""
    return form_id(name) if request.form.get(name, "") != "" else None


def _edit(run_id: int, action, success: str | None = None):
    """Do one edit, then show its outcome where the lead acted: in the edited family's card
    (or the section they used), which the page scrolls to and focuses."""
    _run_or_404(run_id)  # another region's run is a 404 before anything else is read
    # The place goes into the Location header: only a plain "family-12" is kept.
    at = request.form.get("at", "")
    at = at if re.fullmatch(r"[a-z]+(-[a-z0-9]+){0,3}", at) and len(at) <= 64 else ""
    try:
        done = action()
    except NotFound:
        abort(404)
    except ServiceError as exc:
        for message in exc.errors.values():
            flash(message, "error")
        if request.form.get("from") == "person":
            # Refused on a person's page: back there, where the lead was.
            return redirect(url_for("runs.person", run_id=run_id,
                                    person_id=form_id("person_id")) + "#outcome")
    else:
        if isinstance(done, edits.Edit):
            flash(done.text, "success")
            at = done.at
        else:
            flash(success, "success")
    if not at:
        return redirect(url_for("runs.show", run_id=run_id))
    return redirect(url_for("runs.show", run_id=run_id, at=at) + "#outcome")


@bp.get("/<int:run_id>/people/<int:person_id>")
@role_required("lead", "admin")
def person(run_id: int, person_id: int):
    run = _run_or_404(run_id)
    try:
        options = edits.choices(get_session(), lead=current_user.row, run_id=run_id,
                                person_id_=person_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        return render_template("runs/person.html", run=run, options=None,
                               refusal=exc.errors[""], reference=reference)
    return render_template("runs/person.html", run=run, options=options, refusal=None,
                           reference=reference, label=edits.label, room_words=edits.room_words,
                           hello=surveys.hello_for(get_session(), viewer=current_user.row,
                                                   person=options.person))


def _where() -> dict[str, int | None]:
    """One chooser says where the person goes: "family-12" (a family with room) or
    "anchor-34" (a new family led by that buddy)."""
    where = re.fullmatch(r"(family|anchor)-([0-9]{1,10})", request.form.get("where", ""))
    chosen = {where[1]: int(where[2])} if where else {}
    return {"family_id": chosen.get("family"), "anchor_id": chosen.get("anchor")}


# The lead's edits of a draft: endpoint, path, service (buddy/services/edits.py) and the
# form fields it takes, read only once the run is found (another region's run is a 404 first).
EDITS = (
    ("move", "move", edits.move_member, lambda: {
        "person_id_": form_id("person_id"), "family_id": _optional_id("family_id")}),
    ("swap", "swap", edits.swap_members, lambda: {
        "person_a": form_id("person_id"), "person_b": _optional_id("other_id")}),
    ("new_family", "new-family", edits.new_family, lambda: {
        "person_id_": form_id("person_id"), "anchor_id": _optional_id("anchor_id")}),
    ("separate", "separate", edits.separate, lambda: {
        "person_id_": form_id("person_id"), "other_id": _optional_id("other_id"), **_where()}),
    ("remove", "remove", edits.remove_member, lambda: {"person_id_": form_id("person_id")}),
    ("lock", "lock", edits.set_locked, lambda: {
        "family_id": form_id("family_id"), "locked": request.form.get("locked") == "1"}),
    ("avoid", "avoid", edits.add_avoid, lambda: {
        "person_a": _optional_id("person_a"), "person_b": _optional_id("person_b")}),
    ("unavoid", "never-together/remove", edits.remove_avoid, lambda: {
        "pair_id": form_id("pair_id")}),
)


def _edit_view(service, fields):
    def view(run_id: int):
        return _edit(run_id, lambda: service(get_session(), lead=current_user.row,
                                             run_id=run_id, **fields()))
    return role_required("lead", "admin")(view)


for _endpoint, _path, _service, _fields in EDITS:
    bp.add_url_rule(f"/<int:run_id>/{_path}", _endpoint, _edit_view(_service, _fields),
                    methods=["POST"])


@bp.post("/<int:run_id>/reoptimise")
@role_required("lead", "admin")
def reoptimise(run_id: int):
    run = attempt(lambda: runs.reoptimise(get_session(), lead=current_user.row, run_id=run_id),
                  back=url_for("runs.show", run_id=run_id))
    jobs.launch_match_run(run.id)
    return redirect(url_for("runs.show", run_id=run.id))


@bp.post("/<int:run_id>/publish")
@role_required("lead", "admin")
def publish(run_id: int):
    session, run = get_session(), _run_or_404(run_id)
    # Worked out before publishing, while the draft still shows who is new to each family.
    when = cadence.introductions(session, run=run, today=clock.today()).words
    seen = ("members can see their families" if run.kind == "families"
            else "newcomers and ambassadors can see each other")
    return _edit(run_id, lambda: publishing.publish(session, lead=current_user.row,
                                                    run_id=run_id),
                 f"Published: {seen}. {when}")


@bp.post("/<int:run_id>/discard")
@role_required("lead", "admin")
def discard(run_id: int):
    run = attempt(lambda: publishing.discard(get_session(), lead=current_user.row,
                                             run_id=run_id),
                  back=url_for("runs.show", run_id=run_id))
    flash("Draft discarded", "success")
    return redirect(url_for("runs.index", region=run.region))


@bp.get("/audit")
@role_required("lead", "admin")
def audit_trail():
    region = requested_region()
    entries = audit.trail(get_session(), lead=current_user.row, region=region)
    return render_template("runs/audit.html", entries=entries, region=region,
                           reference=reference)
