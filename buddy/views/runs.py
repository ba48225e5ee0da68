"""Match runs for DA leads: start, watch, review, edit, re-optimise, publish, discard."""

from __future__ import annotations

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from buddy import clock, intakes, jobs, reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.messaging import cadence
from buddy.services import NotFound, ServiceError, audit, cohorts, edits, runs, surveys
from buddy.services.cohorts import published_families
from buddy.text import parse_int
from buddy.views import form_id, requested_region

bp = Blueprint("runs", __name__)


@bp.get("/")
@role_required("lead", "admin")
def index():
    session, region = get_session(), requested_region()
    following = intakes.next_intake(clock.today(), region)
    # The next intake (the default), then the two before it for late sign-ups and reruns.
    choices = [(intake, cohorts.intake_counts(session, region, intake))
               for intake in [following, *intakes.previous(following, region, 2)]]
    return render_template("runs/index.html", region=region, reference=reference,
                           runs=runs.runs_for(session, current_user.row, region),
                           time_limits=runs.TIME_LIMITS, choices=choices, intakes=intakes)


@bp.post("/")
@role_required("lead", "admin")
def start():
    region = requested_region()
    limit = request.form.get("time_limit", "30")
    try:
        run = runs.start_run(get_session(), lead=current_user.row, region=region,
                             kind=request.form.get("kind", "families"),
                             time_limit_s=parse_int(limit, max_digits=4) or 0,
                             intake=request.form.get("intake") or None)
    except ServiceError as exc:
        for message in exc.errors.values():
            flash(message, "error")
        return redirect(url_for("runs.index", region=region))
    jobs.launch_match_run(run.id)
    return redirect(url_for("runs.show", run_id=run.id))


def _run_or_404(run_id: int):
    try:
        return runs.get_run(get_session(), current_user.row, run_id)
    except NotFound:
        abort(404)


@bp.get("/<int:run_id>")
@role_required("lead", "admin")
def show(run_id: int):
    session = get_session()
    runs.fail_stale_runs(session)
    run = _run_or_404(run_id)
    context = {"run": run, "reference": reference, "review": runs.review(session, run),
               "intakes": intakes, "phase_words": runs.phase_words,
               "gap_words": runs.gap_words}
    if run.kind == "families":
        context["families"] = runs.draft_families(session, run)
        placed = {m.person_id for _, members in context["families"] for m, _ in members}
        published = published_families(session, run.region)
        context["published_codes"] = {f.code for f, _ in published}
        context["published_members"] = {m.person_id for _, ms in published for m, _ in ms}
        context["spare_buddies"] = [
            p for k, p in context["review"]["people"].items()
            if p.role == "buddy" and p.id not in placed]
    else:
        context["pairs"] = runs.draft_pairs(session, run)
    # The lead's edits (buddy/services/edits.py): free places, never-together pairs.
    context["rooms"] = edits.family_rooms(session, run)
    context["avoid_pairs"] = edits.avoid_pairs(session, lead=current_user.row, region=run.region)
    context["label"] = edits.label
    return render_template("runs/show.html", **context)


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


@bp.post("/<int:run_id>/move")
@role_required("lead", "admin")
def move(run_id: int):
    return _edit(run_id, lambda: edits.move_member(
        get_session(), lead=current_user.row, run_id=run_id, person_id_=form_id("person_id"),
        family_id=_optional_id("family_id")))


@bp.post("/<int:run_id>/swap")
@role_required("lead", "admin")
def swap(run_id: int):
    return _edit(run_id, lambda: edits.swap_members(
        get_session(), lead=current_user.row, run_id=run_id, person_a=form_id("person_id"),
        person_b=_optional_id("other_id")))


@bp.post("/<int:run_id>/new-family")
@role_required("lead", "admin")
def new_family(run_id: int):
    return _edit(run_id, lambda: edits.new_family(
        get_session(), lead=current_user.row, run_id=run_id, person_id_=form_id("person_id"),
        anchor_id=_optional_id("anchor_id")))


@bp.post("/<int:run_id>/separate")
@role_required("lead", "admin")
def separate(run_id: int):
    # One chooser says where the person goes: "family-12" (a family with room) or
    # "anchor-34" (a new family led by that buddy).
    where = re.fullmatch(r"(family|anchor)-([0-9]{1,10})", request.form.get("where", ""))
    chosen = {where[1]: int(where[2])} if where else {}
    return _edit(run_id, lambda: edits.separate(
        get_session(), lead=current_user.row, run_id=run_id, person_id_=form_id("person_id"),
        other_id=_optional_id("other_id"), family_id=chosen.get("family"),
        anchor_id=chosen.get("anchor")))


@bp.post("/<int:run_id>/remove")
@role_required("lead", "admin")
def remove(run_id: int):
    return _edit(run_id, lambda: edits.remove_member(
        get_session(), lead=current_user.row, run_id=run_id, person_id_=form_id("person_id")))


@bp.post("/<int:run_id>/lock")
@role_required("lead", "admin")
def lock(run_id: int):
    locked = request.form.get("locked") == "1"
    return _edit(run_id, lambda: edits.set_locked(
        get_session(), lead=current_user.row, run_id=run_id, family_id=form_id("family_id"),
        locked=locked))


@bp.post("/<int:run_id>/avoid")
@role_required("lead", "admin")
def avoid(run_id: int):
    return _edit(run_id, lambda: edits.add_avoid(
        get_session(), lead=current_user.row, run_id=run_id,
        person_a=_optional_id("person_a"), person_b=_optional_id("person_b")))


@bp.post("/<int:run_id>/never-together/remove")
@role_required("lead", "admin")
def unavoid(run_id: int):
    return _edit(run_id, lambda: edits.remove_avoid(
        get_session(), lead=current_user.row, run_id=run_id, pair_id=form_id("pair_id")))


@bp.post("/<int:run_id>/reoptimise")
@role_required("lead", "admin")
def reoptimise(run_id: int):
    try:
        run = runs.reoptimise(get_session(), lead=current_user.row, run_id=run_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        for message in exc.errors.values():
            flash(message, "error")
        return redirect(url_for("runs.show", run_id=run_id))
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
    return _edit(run_id, lambda: runs.publish(session, lead=current_user.row, run_id=run_id),
                 f"Published: {seen}. {when}")


@bp.post("/<int:run_id>/discard")
@role_required("lead", "admin")
def discard(run_id: int):
    try:
        run = runs.discard(get_session(), lead=current_user.row, run_id=run_id)
    except NotFound:
        abort(404)
    except ServiceError as exc:
        flash(exc.errors[""], "error")
        return redirect(url_for("runs.show", run_id=run_id))
    flash("Draft discarded", "success")
    return redirect(url_for("runs.index", region=run.region))


@bp.get("/audit")
@role_required("lead", "admin")
def audit_trail():
    region = requested_region()
    entries = audit.trail(get_session(), lead=current_user.row, region=region)
    return render_template("runs/audit.html", entries=entries, region=region,
                           reference=reference)
