"""A member's own buddy family and ambassador."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlmodel import select

from buddy import reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.models import Person, User
from buddy.services import people, runs
from buddy.services.cohorts import key

bp = Blueprint("family", __name__)


@bp.get("/")
@role_required("member")
def show():
    session = get_session()
    person = people.person_of(session, current_user.row)
    found = runs.family_of(session, person)
    members, reasons = [], []
    if found:
        family, rows = found
        by_key = {key(p): p for _, p in rows}
        members = rows
        mine = next((m for m, p in rows if p.id == person.id), None)
        reasons = runs.member_reasons(mine.reasons if mine else [], by_key)
    pairs = runs.ambassador_of(session, person)
    # Emails only of people who agreed to share theirs with their family.
    sharing = [p.user_id for _, p in members if p.share_email] + [
        p.user_id for _, p in pairs if p.share_email]
    emails = dict(session.exec(select(Person.id, User.email).join(User, User.id == Person.user_id)
                               .where(Person.user_id.in_(sharing or [-1]))).all())
    return render_template("family/show.html", person=person, found=found, members=members,
                           reasons=reasons, pairs=pairs, emails=emails, reference=reference)
