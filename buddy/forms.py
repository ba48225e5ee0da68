"""Forms: CSRF, rendering and type coercion. Rules live in the services (one place)."""

from __future__ import annotations

from datetime import date
from functools import cache

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import SUBMIT_METHODS
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from buddy import options, reference, timezones
from buddy.services import ServiceError, accounts
from buddy.services.profiles import (
    CHANNELS,
    GENDERS,
    MAX_CAPACITY,
    NEWCOMER_LATER_STAGES,
    SETTINGS,
    STAGES,
    SUPPORT_NEEDS,
    clean_profile,
    parse_language_names,
)
from buddy.text import parse_int


class Form(FlaskForm):
    """Every form of the app: HTML form fields only.

    Flask-WTF also feeds uploaded files and JSON bodies to the fields; no field here takes
    either, and a file or a JSON object where text is expected would reach `.strip()` and
    fail. A field sent that way is simply not given, and gets the usual "enter ..." message.
    """

    # Fields in the order the page shows them, where that differs from the order they are
    # declared in (a subclass's fields come last): the error summary follows it.
    page_order: tuple[str, ...] = ()
    # After an error every password typed is asked for again, with a word: passwords are
    # never written back into a page, and an empty box with no word looks like a fault.
    asks_password_again = True

    def __init__(self, *args, **kwargs):
        if not args and "formdata" not in kwargs:
            kwargs["formdata"] = request.form if request.method in SUBMIT_METHODS else None
        super().__init__(*args, **kwargs)
        if self.page_order:
            first = {name: self._fields[name] for name in self.page_order if name in self._fields}
            self._fields = {**first, **{n: f for n, f in self._fields.items() if n not in first}}

    def error_list(self) -> list[tuple[str | None, str]]:
        """(id of the control to link to, message) for the error summary, in page order."""
        items: list[tuple[str | None, str]] = [(None, message) for message in self.form_errors]
        for field in self:
            if field.type == "CSRFTokenField":
                continue
            many = field.type in ("RadioField", "MultiCheckboxField")
            items += [(f"{field.id}-0" if many else field.id, message)
                      for message in field.errors or ()]
        return items

    def ask_passwords_again(self) -> None:
        """Give each typed password that was not itself wrong a word: enter it again."""
        if not self.asks_password_again or not self.errors:
            return
        for field in self:
            if isinstance(field, PasswordField) and field.data and not field.errors:
                what = field.label.text.lower().removeprefix("create a ").removeprefix("your ")
                field.errors = [f"For your security, enter your {what} again"]


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _choices(mapping: dict[str, str] | list[tuple[str, str]]) -> list[SelectChoice]:
    items = mapping.items() if isinstance(mapping, dict) else mapping
    return [SelectChoice(value, label) for value, label in items]


@cache
def _reference_choices() -> dict[str, tuple[SelectChoice, ...]]:
    """The long lists of the profile form, built once per worker (they never change while the
    app runs; about 1,200 choices, which cost several ms a page to rebuild)."""
    countries, langs = reference.countries(), reference.languages()
    regions = reference.regions()
    return {name: tuple(_choices(items)) for name, items in {
        "phone_country": [("", "Choose a country"), *countries.items()],
        "country": [("", "Prefer not to say"), *countries.items()],
        "timezone": [("", "Choose your time zone")],
        "region": [("", "Choose a region")] + [(slug, r.name) for slug, r in regions.items()],
        "scheme": [("", "Not sure yet")] + [
            (f"{slug}:{s}", name) for slug, r in regions.items() for s, name in r.schemes.items()],
        "interests": list(reference.interests().items()),
        "languages": [(c, langs[c]) for c in reference.common_languages()],
    }.items()}


class ProfileForm(Form):
    """The profile questions every member answers (sign-up and edit)."""

    class Meta:
        # Rules and messages come from the services; skip WTForms' own choice checks.
        pass

    # templates/signup/_profile_fields.html; a role's page shows some of them.
    page_order = (
        "full_name", "channel", "phone_country", "phone", "timezone", "timezone_confirmed",
        "share_email", "share_phone", "region", "scheme", "stage", "arrival_day",
        "arrival_month", "arrival_year", "wants_ambassador", "setting", "capacity",
        "can_anchor", "gmc_number", "interests", "sensitive_consent", "country", "languages",
        "other_languages", "gender", "same_gender_anchor", "support_needs")

    full_name = StringField("Full name")
    phone_country = SelectField("Country of your mobile number", validate_choice=False)
    phone = StringField("Mobile number")
    channel = RadioField("How should we contact you?", choices=_choices(CHANNELS),
                         validate_choice=False)
    timezone = SelectField("Your time zone now", validate_choice=False)
    # Shown only when asked: the zone's hours differ from the phone's country.
    timezone_confirmed = StringField("Yes, that is right")
    region = SelectField("Region", validate_choice=False)
    scheme = SelectField("Training scheme", validate_choice=False)
    stage = RadioField("Training stage", validate_choice=False)
    arrival_day = StringField("Day")
    arrival_month = StringField("Month")
    arrival_year = StringField("Year")
    wants_ambassador = BooleanField(
        "Yes, I would like to talk to a doctor further along in training before I arrive"
    )
    interests = MultiCheckboxField("Interests", validate_choice=False)
    share_email = BooleanField("My email address")
    share_phone = BooleanField("My mobile number (for calls, texts and WhatsApp)")
    sensitive_consent = BooleanField(
        "I agree that Buddy may store the answers below and use them only to match me"
    )
    country = SelectField("Country where you got your primary medical qualification",
                          validate_choice=False)
    languages = MultiCheckboxField("Languages you speak besides English", validate_choice=False)
    other_languages = StringField("Other languages")
    gender = RadioField("Gender (optional)", choices=_choices(GENDERS), validate_choice=False)
    same_gender_anchor = BooleanField("I would prefer a lead buddy of my gender")
    support_needs = MultiCheckboxField("What would you like help with?", choices=_choices(
        SUPPORT_NEEDS), validate_choice=False)

    # Volunteers only.
    setting = RadioField("Where do you work now?", choices=_choices(SETTINGS),
                         validate_choice=False)
    capacity = RadioField(
        "How many newcomers could you support at once?",
        choices=_choices([(str(n), str(n)) for n in range(1, MAX_CAPACITY + 1)]),
        validate_choice=False,
    )
    can_anchor = BooleanField("I would lead a family (be its anchor)")
    gmc_number = StringField("GMC number")

    def __init__(self, *args, role: str = "newcomer", **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role
        for name, choices in _reference_choices().items():
            getattr(self, name).choices = choices
        self._offer_stages()
        if self.role != "newcomer" and not self.is_submitted() and not self.timezone.data:
            self.timezone.data = timezones.UK  # volunteers work in England; shown, not hidden

    def _offer_stages(self) -> None:
        stages = STAGES["newcomer" if self.role == "newcomer" else "buddy"]
        if self.role == "newcomer" and self.stage.data in NEWCOMER_LATER_STAGES:
            stages = {**stages, **NEWCOMER_LATER_STAGES}  # theirs, though not offered at sign-up
        self.stage.choices = _choices(stages)

    def scheme_groups(self, region: str | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
        """Schemes grouped by region name, for an <optgroup> select; only `region`'s if given."""
        return [
            (r.name, [(f"{slug}:{s}", name) for s, name in r.schemes.items()])
            for slug, r in reference.regions().items() if region in (None, slug)
        ]

    def _typed_phone(self) -> tuple[str | None, list[str]]:
        return timezones.for_phone(self.phone.data, self.phone_country.data)

    def timezone_options(self):
        """The <option>s of the time zone: the zones this person is likely in, then all.

        A page sent back with no zone chosen shows the one the mobile number points to:
        the person sees it and sends it (the service never saves a zone nobody chose).
        """
        proposal, near = self._typed_phone()
        chosen = self.timezone.data or ""
        shown = chosen or (proposal if self.is_submitted() else "") or ""
        likely = [z for z in dict.fromkeys(
            [proposal, timezones.canonical(chosen) if chosen else None, *near,
             *timezones.zones_of_country(self.phone_country.data), timezones.UK]) if z]
        if chosen and timezones.is_zone(chosen) and not timezones.canonical(chosen):
            likely.insert(0, chosen)  # a zone saved before, valid though no longer offered
        return options.grouped_options(
            empty=self.timezone.choices[0], selected=shown, groups=[
                ("Suggested for you", [(z, timezones.label(z)) for z in likely]),
                ("All time zones, by country", timezones.offered())])

    def timezone_words(self, zone: str | None = None) -> str:
        """"UK time", for the question about a zone and a phone."""
        zone = zone or self.timezone.data
        return timezones.short_name(zone) if timezones.is_zone(zone) else ""

    def load(self, person) -> None:
        """Fill the fields from a saved Person (for editing)."""
        for name in ("full_name", "phone_country", "channel", "timezone", "region", "stage",
                     "wants_ambassador", "interests", "share_email", "share_phone", "country",
                     "gender", "same_gender_anchor", "support_needs", "setting", "can_anchor",
                     "gmc_number"):
            getattr(self, name).data = getattr(person, name)
        self._offer_stages()
        self.timezone.data = timezones.canonical(person.timezone or "") or person.timezone
        self.phone.data = person.phone
        self.scheme.data = f"{person.region}:{person.scheme}" if person.scheme else ""
        self.capacity.data = str(person.capacity) if person.capacity is not None else None
        if person.arrival_date:
            d = person.arrival_date
            self.arrival_day.data, self.arrival_month.data, self.arrival_year.data = (
                str(d.day), str(d.month), str(d.year))
        common = set(reference.common_languages())
        self.languages.data = [c for c in person.languages if c in common]
        self.other_languages.data = ", ".join(
            reference.languages()[c] for c in person.languages if c not in common)
        self.sensitive_consent.data = person.sensitive_consent_at is not None

    def to_data(self) -> dict:
        """The submitted values as the services expect them.

        :raises ServiceError: for values that cannot even be read (a date like 31 2 2027).
        """
        data, errors = self.read()
        if errors:
            raise ServiceError(errors)
        return data

    def read(self) -> tuple[dict, dict[str, str]]:
        """The values as the services expect them, and the values that cannot even be read
        (left out of the data), by field."""
        errors: dict[str, str] = {}
        data = {
            "full_name": self.full_name.data,
            "phone": self.phone.data,
            "phone_country": self.phone_country.data,
            "channel": self.channel.data,
            "timezone": self.timezone.data,
            "timezone_confirmed": self.timezone_confirmed.data,
            "region": self.region.data,
            "stage": self.stage.data,
            "wants_ambassador": self.wants_ambassador.data,
            "interests": self.interests.data or [],
            "share_email": self.share_email.data,
            "share_phone": self.share_phone.data,
            "sensitive_consent": self.sensitive_consent.data,
            "country": self.country.data,
            "gender": self.gender.data,
            "same_gender_anchor": self.same_gender_anchor.data,
            "support_needs": self.support_needs.data or [],
            "setting": self.setting.data,
            "can_anchor": self.can_anchor.data,
            "gmc_number": self.gmc_number.data,
        }
        if self.role != "newcomer":
            # Newcomers' questions, not on a volunteer's page: an answer cannot come from it.
            data.update(same_gender_anchor=False, support_needs=[])
        region_and_scheme = (self.scheme.data or "").split(":", 1)
        data["scheme"] = region_and_scheme[1] if len(region_and_scheme) == 2 else None
        if data["scheme"] and region_and_scheme[0] != data["region"]:
            errors["scheme"] = "That scheme is in another region: choose a scheme in your region"
        data["capacity"] = parse_int(self.capacity.data, max_digits=2)
        codes, unknown = parse_language_names(self.other_languages.data or "")
        data["languages"] = list(self.languages.data or []) + codes
        if unknown:
            errors["other_languages"] = (
                f"We do not recognise {unknown[0]!r} as a language: check the spelling, and"
                " separate languages with commas"
            )
        data["arrival_date"] = None
        parts = (self.arrival_day.data, self.arrival_month.data, self.arrival_year.data)
        if any((p or "").strip() for p in parts):
            # parse_int: ASCII digits of a date's size (a 5,000-digit year overflows date()).
            day, month, year = (parse_int(p, max_digits=n)
                                for p, n in zip(parts, (2, 2, 4), strict=True))
            try:
                data["arrival_date"] = date(year, month, day)
            except (TypeError, ValueError):
                errors["arrival_date"] = "Arrival date must be a real date, like 6 8 2027"
        return data, errors


class SignupForm(ProfileForm):
    page_order = ("full_name", "email", "password", *ProfileForm.page_order[1:],
                  "contact_consent")

    email = EmailField("Email address")
    password = PasswordField("Create a password")
    contact_consent = BooleanField(
        "I agree that Buddy may contact me about buddying by the way I chose above"
    )

    def read(self) -> tuple[dict, dict[str, str]]:
        data, errors = super().read()
        data.update(email=self.email.data, password=self.password.data,
                    contact_consent=self.contact_consent.data)
        return data, errors

    def problems(self) -> dict[str, str]:
        """What the sign-up's own rules (accounts.normalise_email, profiles.clean_profile)
        find wrong in the answers, by field, before any password or agreement is asked for.

        The question pages check their share of the answers with this: one set of rules.
        """
        data, errors = self.read()
        found: dict[str, str] = {}
        try:
            accounts.normalise_email(self.email.data)
        except ServiceError as exc:
            found.update(exc.errors)
        try:
            clean_profile(data, role=self.role)
        except ServiceError as exc:
            found.update(exc.errors)
        return {**found, **errors}  # what could not be read says best what to fix

    def offer_timezone(self) -> str | None:
        """Choose the zone the mobile number points to when none is chosen yet, to be seen
        and sent on a page of its own; return it (None when the number points nowhere)."""
        proposal, _near = self._typed_phone()
        if self.timezone.data or not proposal:
            return None
        self.timezone.data = proposal
        return proposal


class LoginForm(Form):
    asks_password_again = False  # its own error already says: a correct email and password

    email = EmailField("Email address")
    password = PasswordField("Password")
    remember = BooleanField("Keep me signed in on this device for 14 days")


class EmailForm(Form):
    email = EmailField("Email address")


class NewPasswordForm(Form):
    password = PasswordField("New password")


class ChangePasswordForm(Form):
    current_password = PasswordField("Current password")
    password = PasswordField("New password")


class ConfirmPasswordForm(Form):
    password = PasswordField("Your password")


class ActionForm(Form):
    """A button that posts (CSRF only)."""


class ChatLinkForm(Form):
    chat_link = StringField("Link to your family's group chat")


class ChangeEmailForm(Form):
    email = EmailField("New email address")
    current_password = PasswordField("Your password")


class PhoneCodeForm(Form):
    code = StringField("Code")


class StaffForm(Form):
    full_name = StringField("Full name")
    email = EmailField("Email address")
    region = SelectField("Region", validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.region.choices = _choices(
            [("", "Choose a region")] + [(slug, r.name) for slug, r in reference.regions().items()]
        )


class RegionForm(Form):
    region = SelectField("Region", validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.region.choices = _choices([(slug, r.name) for slug, r in reference.regions().items()])


def apply_errors(form: FlaskForm, errors: dict[str, str]) -> None:
    """Attach service errors to the form's fields, or to the form itself."""
    aliases = {"arrival_date": "arrival_day", "": None}
    for field, message in errors.items():
        name = aliases.get(field, field)
        target = getattr(form, name, None) if name else None
        if target is not None and hasattr(target, "errors"):
            target.errors = list(target.errors or []) + [message]
        else:
            form.form_errors.append(message)
    if isinstance(form, Form):
        form.ask_passwords_again()
