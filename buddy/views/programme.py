"""The programme year for members: becoming a volunteer, and saying whether they can buddy.

The signed links in messages need no sign-in (the token is the key); GET only shows the form,
because mail scanners open every link. A signed-in member who is someone else is refused.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template, request
from flask_login import current_user
from wtforms import BooleanField, RadioField, StringField

from buddy import clock, intakes, states
from buddy.auth import role_required
from buddy.db import get_session
from buddy.forms import Form, _choices, apply_errors
from buddy.messaging import tokens
from buddy.models import Person, User
from buddy.services import ServiceError, confirmations, people, training_year
from buddy.services.profiles import MAX_CAPACITY, SETTINGS

bp = Blueprint("programme", __name__)
CAPACITIES = [(str(n), str(n)) for n in range(1, MAX_CAPACITY + 1)]


class VolunteerForm(Form):
    role = RadioField("How would you like to help?", choices=_choices([
        ("buddy", "As a buddy: join a buddy family and meet newcomers after they arrive"),
        ("ambassador", "As an ambassador: talk to one newcomer before they arrive")]),
        validate_choice=False)
    stage = RadioField("Your training stage now", choices=_choices(
        training_year.VOLUNTEER_STAGES), validate_choice=False)
    setting = RadioField("Where do you work now?", choices=_choices(SETTINGS),
                         validate_choice=False)
    capacity = RadioField("How many newcomers could you support at once?",
                          choices=_choices(CAPACITIES), validate_choice=False)
    can_anchor = BooleanField("I would lead a family (be its anchor)")
    gmc_number = StringField("GMC number")

    def to_data(self) -> dict:
        return {name: field.data for name, field in self._fields.items() if name != "csrf_token"}


class AvailabilityForm(Form):
    available = RadioField("Can you be a buddy for this intake?", choices=_choices([
        ("yes", "Yes"), ("no", "No, not this time")]), validate_choice=False)
    capacity = RadioField("If yes, how many newcomers could you support?",
                          choices=_choices(CAPACITIES), validate_choice=False)


def _someone_else(person: Person) -> bool:
    return current_user.is_authenticated and current_user.id != person.user_id


def _invalid(reason: str):
    return render_template("messages/link_invalid.html", reason=reason), 400


def _volunteer_page(person: Person, *, channel: str, user: User | None):
    """The form and its POST, for a link or the account page alike."""
    session = get_session()
    form = VolunteerForm()
    if person.role != "newcomer":
        return render_template("programme/volunteer_done.html", person=person)
    if request.method == "POST" and form.validate_on_submit():
        try:
            training_year.become_volunteer(session, person, form.to_data(), channel=channel,
                                           user=user)
        except ServiceError as exc:
            session.rollback()
            apply_errors(form, exc.errors)
        else:
            return render_template("programme/volunteer_done.html", person=person)
    elif request.method == "GET":
        form.stage.data = person.stage if person.stage in training_year.VOLUNTEER_STAGES else None
        form.setting.data = "primary"
    return render_template("programme/volunteer.html", form=form, person=person)


@bp.route("/volunteer/<token>", methods=["GET", "POST"])
def volunteer_by_link(token: str):
    """The invitation to volunteer, from the message sent a year after starting."""
    session = get_session()
    try:
        payload = tokens.verify(tokens.VOLUNTEER, token)
    except tokens.BadLink as exc:
        return _invalid(str(exc))
    person = session.get(Person, payload.get("p"))
    if person is None or person.anonymised_at is not None or _someone_else(person):
        return _invalid("This link is not valid")
    if person.role == "newcomer" and not training_year.may_volunteer(session, person,
                                                                      clock.today()):
        return render_template("programme/volunteer_later.html", person=person, when=None)
    return _volunteer_page(person, channel="link", user=None)


@bp.route("/account/volunteer", methods=["GET", "POST"])
@role_required("member")
def volunteer():
    """The same, from a signed-in member's account page."""
    session = get_session()
    person = people.person_of(session, current_user.row)
    if person.role == "newcomer" and not training_year.may_volunteer(session, person,
                                                                      clock.today()):
        first = training_year.first_move(person)
        when = first + timedelta(days=intakes.programme(person.region).invite_alumni_days_after) \
            if first else None
        return render_template("programme/volunteer_later.html", person=person, when=when)
    return _volunteer_page(person, channel="web", user=current_user.row)


@bp.route("/available/<token>", methods=["GET", "POST"])
def availability_by_link(token: str):
    """A volunteer says whether they can buddy for an intake, and for how many."""
    session = get_session()
    try:
        person, intake = confirmations.by_link(session, token)
    except tokens.BadLink as exc:
        return _invalid(str(exc))
    if _someone_else(person) or person.role not in states.VOLUNTEER_ROLES:
        return _invalid("This link is not valid")
    form = AvailabilityForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            row = confirmations.answer(session, person, intake, available=form.available.data,
                                       capacity=form.capacity.data, channel="email")
        except ServiceError as exc:
            session.rollback()
            apply_errors(form, exc.errors)
        else:
            return render_template("programme/available_done.html", row=row,
                                   label=intakes.label(intake))
    elif request.method == "GET":
        answer = confirmations.current_answer(session, person, intake)
        form.available.data = None if answer is None else ("yes" if answer.available else "no")
        form.capacity.data = str(answer.capacity if answer and answer.capacity
                                 else person.capacity or 1)
    return render_template("programme/available.html", form=form, person=person,
                           label=intakes.label(intake))

