"""Sign-up for newcomers and volunteers: NHS.UK question pages, saved as people go.

The first page asks for an email address and starts a draft (buddy/services/signup_drafts.py);
each page after it asks one thing and is checked by the sign-up's own rules
(SignupForm.problems); "check your answers" asks for a password and the agreement, and
creates the account through accounts.sign_up, the one place a member is made.
"""

from __future__ import annotations

import phonenumbers
from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask import session as flask_session
from flask_login import current_user, login_user
from werkzeug.datastructures import MultiDict

from buddy import phones, reference, timezones
from buddy.auth import LoginUser
from buddy.db import get_session
from buddy.forms import SignupForm, apply_errors
from buddy.messaging.texts import long_date
from buddy.models import SignupDraft, User
from buddy.services import ServiceError, accounts, signup_drafts
from buddy.services.profiles import STAGES
from buddy.views import home_for

bp = Blueprint("signup", __name__)
VOLUNTEER_ROLES = ("buddy", "ambassador")
# The raw token of this browser's draft (the hash is what the database keeps).
DRAFT_KEY = "signup_draft"
SENSITIVE_ANSWERS = {f for p in signup_drafts.PAGES if p.sensitive for f in p.fields}
TITLES = {"newcomer": "Join as a newcomer", "buddy": "Volunteer as a buddy",
          "ambassador": "Volunteer as an ambassador"}
# Each page's question, as its heading; the check page's short words for each answer.
QUESTIONS = {
    "email": ("What is your email address?", "Email address"),
    "name": ("What is your name?", "Name"),
    "contact": ("How should we contact you?", "How we contact you"),
    "mobile": ("What is your mobile number?", "Mobile number"),
    "time-zone": ("Which time zone do you live in now?", "Time zone"),
    "share": ("What may your buddy family see?", "Your family may see"),
    "region": ("Which region will you train or work in?", "Region"),
    "scheme": ("Which GP training scheme are you in?", "Training scheme"),
    "stage": ("What is your training stage?", "Training stage"),
    "arrival": ("When do you expect to arrive or start?", "Arrival or start date"),
    "ambassador": ("Would you like to talk to an ambassador?", "Talk to an ambassador"),
    "setting": ("Where do you work now?", "Where you work"),
    "capacity": ("How many newcomers could you support?", "Newcomers you could support"),
    "anchor": ("Would you lead a family?", "Lead a family"),
    "gmc": ("What is your GMC number?", "GMC number"),
    "interests": ("What are you interested in?", "Interests"),
    "optional": ("Optional questions to help us match you", "Optional questions"),
    "country": ("Where did you get your primary medical qualification?",
                "Country of qualification"),
    "languages": ("Which languages do you speak besides English?", "Languages"),
    "gender": ("What is your gender?", "Gender"),
    "support": ("What would you like help with?", "Help you would like"),
}


@bp.get("/")
def choose():
    return render_template("signup/choose.html")


def _draft() -> SignupDraft | None:
    """This browser's unfinished, unexpired draft, or None."""
    draft = signup_drafts.find(get_session(), token=flask_session.get(DRAFT_KEY))
    return draft if draft is not None and draft.completed_at is None else None


def _start_url(role: str) -> str:
    return url_for("signup.form", role=role) if role in VOLUNTEER_ROLES else url_for(
        "signup.form")


def _page_url(draft: SignupDraft, page: str | None, *, change: bool = False) -> str:
    if page is None:
        return url_for("signup.check")
    args = {"change": "1"} if change else {}
    if page == "email":
        return _start_url(draft.role) + ("?change=1" if change else "")
    return url_for("signup.question", page=page, **args)


def _form(draft: SignupDraft, posted: dict | None = None) -> SignupForm:
    """The sign-up form holding the draft's answers, with `posted` (one page) over them."""
    answers = {**draft.answers, **(posted or {})}
    if not answers.get("sensitive_consent"):
        # Without the agreement the optional answers are not kept (signup_drafts.answer).
        answers = {f: v for f, v in answers.items() if f not in SENSITIVE_ANSWERS}
    values = MultiDict()
    for field, value in answers.items():
        values.setlist(field, value if isinstance(value, list) else [value])
    return SignupForm(formdata=values, role=draft.role)


def _posted(page: signup_drafts.Page) -> dict:
    """The page's own fields as sent (others are not read): what the draft may keep."""
    values = {field: list(dict.fromkeys(request.form.getlist(field)))
              if field in signup_drafts.MANY else request.form.get(field, "")
              for field in page.fields}
    if values.get("timezone_confirmed", "") != values.get("timezone", ""):
        values["timezone_confirmed"] = ""  # a "yes" to another zone than the one chosen
    return values


def _progress(draft: SignupDraft, page: str) -> tuple[int, int, str]:
    """(this page's number, how many pages, the URL of the one before it)."""
    names = [p.name for p in signup_drafts.pages_for(role=draft.role, answers=draft.answers)]
    at = names.index(page)
    return at + 1, len(names), _page_url(draft, names[at - 1]) if at else url_for(
        "signup.choose")


@bp.route("/newcomer", methods=["GET", "POST"], defaults={"role": "newcomer"})
@bp.route("/volunteer/<role>", methods=["GET", "POST"])
def form(role: str):
    """The first question: the email address, which starts (or changes) the draft."""
    if role not in ("newcomer", *VOLUNTEER_ROLES):
        abort(404)
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    session = get_session()
    draft = _draft()
    if draft is not None and draft.role != role:
        draft = None  # another kind of sign-up: this one starts afresh
    changing = draft is not None and request.args.get("change") == "1"
    # This page's one field (and the CSRF token): nothing else sent with it is read.
    form = SignupForm(formdata=MultiDict({
        name: request.form.get(name, "") for name in ("email", "csrf_token")})
        if request.method == "POST" else None, role=role)
    if request.method == "GET" and draft is not None:
        form.email.data = draft.email
    if form.validate_on_submit():
        try:
            if draft is None:
                return redirect(signup_drafts.start(session, role=role, email=form.email.data,
                                                    prefill={}))
            signup_drafts.answer(session, draft=draft, page="email",
                                 values={"email": form.email.data}, wrong=set(),
                                 token=flask_session[DRAFT_KEY])
        except ServiceError as exc:
            apply_errors(form, exc.errors)
        else:
            nxt = signup_drafts.next_page(draft=draft, after=None if changing else "email")
            return redirect(_page_url(draft, nxt, change=changing))
    total = len(signup_drafts.pages_for(role=role, answers=draft.answers if draft else {}))
    return render_template("signup/email.html", form=form, role=role, total=total,
                           back=url_for("signup.check") if changing else url_for(
                               "signup.choose"), changing=changing)


@bp.get("/continue/<token>")
def resume(token: str):
    """The emailed link: this browser carries on with the draft where it stopped."""
    draft = signup_drafts.find(get_session(), token=token)
    if draft is None or draft.completed_at is not None:
        return render_template("signup/link_problem.html", finished=draft is not None,
                               days=signup_drafts.DRAFT_DAYS), 404
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    flask_session[DRAFT_KEY] = token
    return redirect(_page_url(draft, signup_drafts.next_page(draft=draft)))


@bp.route("/step/<page>", methods=["GET", "POST"])
def question(page: str):
    """One question page of the draft's sign-up."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    draft = _draft()
    if draft is None:
        return redirect(url_for("signup.choose"))
    asked = signup_drafts.pages_for(role=draft.role, answers=draft.answers)
    this = next((p for p in asked if p.name == page and p.name != "email"), None)
    if this is None:
        abort(404)
    changing = request.args.get("change") == "1"
    session = get_session()
    if request.method == "POST":
        posted = _posted(this)
        form = _form(draft, posted)
        problems = form.problems()
        errors = {f: m for f, m in problems.items() if signup_drafts.page_of(f) == page}
        if not errors:
            wrong = {signup_drafts.page_of(f) for f in problems} - {None, page}
            signup_drafts.answer(session, draft=draft, page=page, values=posted, wrong=wrong,
                                 token=flask_session[DRAFT_KEY])
            nxt = signup_drafts.next_page(draft=draft, after=None if changing else page)
            return redirect(_page_url(draft, nxt, change=changing and nxt is not None))
        apply_errors(form, errors)
    else:
        form = _form(draft)
    proposed = form.offer_timezone() if page == "time-zone" else None
    number, total, back = _progress(draft, page)
    region = draft.answers.get("region")
    return render_template(
        "signup/question.html", form=form, role=draft.role, page=page,
        question=QUESTIONS[page][0], number=number, total=total,
        back=url_for("signup.check") if changing else back, proposed=proposed,
        region_name=reference.regions()[region].name if region in reference.regions() else "",
        scheme_groups=form.scheme_groups(region if region in reference.regions() else None),
        title=TITLES[draft.role])


def _mobile_words(raw: str | None, country: str | None) -> str:
    """The mobile as the person will be texted at, with the country the number belongs to
    (a "+91" number is India's whatever country was chosen beside it)."""
    if not raw:
        return ""
    try:
        number = phones.parse_mobile(raw, country)
    except ValueError:
        return raw
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # By the country code: the library files some UK mobiles (07911) under Guernsey.
    where = phonenumbers.region_code_for_country_code(number.country_code)
    return f"{phones.display(e164)} ({reference.countries().get(where, where)})" if where \
        else phones.display(e164)


def _words(form: SignupForm, draft: SignupDraft, page: str) -> str:
    """One answer as the check page shows it."""
    def chosen(field) -> str:
        labels = {str(c.value): c.label for c in field.choices or ()}
        if isinstance(field.data, list):
            return ", ".join(labels.get(v, v) for v in field.data)
        return labels.get(str(field.data or ""), "") if field.data else ""

    yes_no = {True: "Yes", False: "No"}
    f = form
    if page == "email":
        return draft.email
    if page == "mobile":
        return _mobile_words(f.phone.data, f.phone_country.data)
    if page == "time-zone":
        return timezones.label(f.timezone.data) if timezones.is_zone(f.timezone.data) else ""
    if page == "share":
        shared = [w for field, w in ((f.share_email, "your email address"),
                                     (f.share_phone, "your mobile number")) if field.data]
        return ("Your name, stage and where you work, and " + " and ".join(shared) if shared
                else "Only your name, stage and where you work")
    if page == "scheme":
        return chosen(f.scheme) or "Not sure yet"
    if page == "stage":
        return STAGES[draft.role].get(f.stage.data or "", f.stage.data or "")
    if page == "arrival":
        data, _unread = f.read()
        return long_date(data["arrival_date"]) if data["arrival_date"] else ""
    if page == "languages":
        return ", ".join(w for w in (chosen(f.languages), f.other_languages.data or "") if w)
    if page == "gender":
        gender = chosen(f.gender) or "Prefer not to say"
        return gender + ("; a lead buddy of my gender, if possible"
                         if f.same_gender_anchor.data else "")
    field = {"name": f.full_name, "contact": f.channel, "region": f.region,
             "ambassador": f.wants_ambassador, "setting": f.setting, "capacity": f.capacity,
             "anchor": f.can_anchor, "gmc": f.gmc_number, "interests": f.interests,
             "optional": f.sensitive_consent, "country": f.country,
             "support": f.support_needs}[page]
    if field.type == "BooleanField":
        return yes_no[bool(field.data)]
    return chosen(field) if getattr(field, "choices", None) else (field.data or "")


@bp.route("/check", methods=["GET", "POST"])
def check():
    """Check your answers, then a password and the agreement: the account is made here."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    draft = _draft()
    if draft is None:
        return redirect(url_for("signup.choose"))
    missing = signup_drafts.next_page(draft=draft)
    if missing is not None:
        return redirect(_page_url(draft, missing))
    session = get_session()
    posted = ({"password": request.form.get("password", ""),
               "contact_consent": request.form.get("contact_consent", "")}
              if request.method == "POST" else None)
    form = _form(draft, posted)
    elsewhere: list[tuple[str, str]] = []  # (link to the page to change, message)
    if request.method == "POST":
        data, unread = form.read()
        try:
            if unread:
                raise ServiceError(unread)
            role = draft.role
            person = accounts.sign_up(
                session=session, data=data, role=role,
                then=lambda s, person: signup_drafts.finish(s, draft, person))
        except ServiceError as exc:
            here = {f: m for f, m in exc.errors.items() if signup_drafts.page_of(f) is None}
            there = {f: m for f, m in exc.errors.items() if f not in here}
            apply_errors(form, here)
            if there:
                # An answer that passed its page no longer does (a date now too far back).
                signup_drafts.reopen(session, draft=draft,
                                     pages={signup_drafts.page_of(f) for f in there})
                elsewhere = [(_page_url(draft, signup_drafts.page_of(f), change=True), m)
                             for f, m in there.items()]
        else:
            # A taken address gets the same redirect and the same page, without signing in:
            # the sign-up never says whether an address has an account.
            if person is not None:
                login_user(LoginUser(session.get(User, person.user_id)))
            flask_session.pop(DRAFT_KEY, None)
            flask_session["joined"] = {
                "role": role, "email": accounts.normalise_email(data["email"]),
                "wants_ambassador": bool(data.get("wants_ambassador")),
            }
            return redirect(url_for("signup.done"))
    rows = [(QUESTIONS[p.name][1], _words(form, draft, p.name), _page_url(
        draft, p.name, change=True)) for p in signup_drafts.pages_for(
        role=draft.role, answers=draft.answers)]
    return render_template("signup/check.html", form=form, role=draft.role, rows=rows,
                           elsewhere=elsewhere, title=TITLES[draft.role])


@bp.post("/time-zone")
def time_zone():
    """The zone a typed mobile number points to, for buddy/static/timezone.js ("change your
    details"). A POST: the number stays out of URLs and access logs."""
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
