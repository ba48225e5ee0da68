"""A member's own buddy family (and earlier ones) and ambassador."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from buddy import clock, reference
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import ActionForm, ChatLinkForm, apply_errors
from buddy.models import Family, FamilyMember, Person, User
from buddy.services import NotFound, ServiceError, chats, endings, people
from buddy.services.cohorts import key
from buddy.services.members import ambassador_of, family_of, member_reasons, members_of
from buddy.views import families as lead_families

bp = Blueprint("family", __name__)


@bp.app_template_filter("chat_app")
def chat_app(link: str | None) -> str:
    """"WhatsApp", "Signal" or "Microsoft Teams": the app a family's chat link opens."""
    return chats.app_name(link)


@bp.get("/")
@role_required("member")
def show(chat_form: ChatLinkForm | None = None):
    session = get_session()
    person = people.person_of(session, current_user.row)
    families = endings.families_of(session, person)
    found = family_of(session, person)
    running = found[0] if found else None
    members, reasons = [], []
    question = answer = None
    is_anchor = False
    if found:
        family, rows = found
        by_key = {key(p): p for _, p in rows}
        members = rows
        mine = next((m for m, p in rows if p.id == person.id), None)
        is_anchor = mine is not None and mine.place == "anchor"
        if chat_form is None and is_anchor:
            chat_form = ChatLinkForm(formdata=None, chat_link=family.chat_link)
        reasons = member_reasons(mine.reasons if mine else [], by_key)
        asked = endings.question_of(family, [(p, m.place) for m, p in rows])
        if endings.is_open(family, asked, clock.today()):
            question = asked
            answer = endings.answers_of(session, family.id).get(person.id)
    history = [(f, endings.period(f), members_of(session, f.id),
                endings.long_date(endings.england_day(f.ended_at)) if f.ended_at else "")
               for f in families if f is not running]
    pairs = ambassador_of(session, person)
    # Emails only of people who agreed to share theirs with their family.
    sharing = [p.user_id for _, p in members if p.share_email] + [
        p.user_id for _, p in pairs if p.share_email]
    emails = dict(session.exec(select(Person.id, User.email).join(User, User.id == Person.user_id)
                               .where(Person.user_id.in_(sharing or [-1]))).all())
    return render_template("family/show.html", person=person, found=found, members=members,
                           reasons=reasons, pairs=pairs, emails=emails, reference=reference,
                           question=question, answer=answer, history=history,
                           form=ActionForm(), long_date=endings.long_date,
                           is_anchor=is_anchor, chat_form=chat_form
                           ), 400 if chat_form is not None and chat_form.errors else 200


@bp.post("/<int:family_id>/answer")
@role_required("member")
def answer(family_id: int):
    """The six-month question answered on the family page (carry on or finish)."""
    session = get_session()
    person = people.person_of(session, current_user.row)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    family = session.exec(select(Family).join(
        FamilyMember, FamilyMember.family_id == Family.id).where(
        Family.id == family_id, FamilyMember.person_id == person.id)).first()
    if family is None:
        abort(404)  # not their family: as if it did not exist
    try:
        endings.record_answer(session, family, person, request.form.get("answer", ""), "web")
    except ServiceError as exc:
        flash(str(exc), "error")
    else:
        session.commit()
        flash("Thank you: we have your answer.", "success")
    return redirect(url_for("family.show"))


@bp.post("/<int:family_id>/chat")
@role_required("member", "lead", "admin")
def chat(family_id: int):
    """Add, change or remove the family's group chat link: its anchor, or its region's lead."""
    session = get_session()
    form = ChatLinkForm()
    if not form.validate_on_submit():
        abort(400)
    staff = current_user.role in ("lead", "admin")
    remove = request.form.get("action") == "remove"
    try:
        chats.set_link(session=session, user=current_user.row, family_id=family_id,
                       link=None if remove else (form.chat_link.data or ""))
    except NotFound:
        abort(404)  # not their family, or they do not lead it: as if it did not exist
    except ServiceError as exc:
        session.rollback()
        apply_errors(form, exc.errors)
        if staff:
            return lead_families.show(family_id, errors={"chat_link": exc.errors["chat_link"]},
                                      values={"chat_link": form.chat_link.data or ""})
        return show(chat_form=form)
    # The outcome shows in the chat box itself, where the page opens (#chat).
    done = "removed" if remove else "saved"
    if staff:
        return redirect(url_for("families.show", family_id=family_id, chat=done) + "#chat")
    return redirect(url_for("family.show", chat=done) + "#chat")
