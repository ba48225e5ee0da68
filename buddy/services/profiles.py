"""Validating and normalising profile fields, the same for sign-up, edits, CLI and demo data."""

from __future__ import annotations

import re
from datetime import date, timedelta

from buddy import clock, phones, reference, timezones
from buddy.services import ServiceError
from buddy.text import clean_name, parse_int

ROLES = ("newcomer", "buddy", "ambassador")
CHANNELS = {"sms": "Text message (SMS)", "whatsapp": "WhatsApp", "email": "Email"}
STAGES = {
    "newcomer": {"ST1": "ST1", "ST2": "ST2", "ST3": "ST3"},
    "buddy": {"ST2": "GP trainee, ST2", "ST3": "GP trainee, ST3", "qualified": "Qualified doctor"},
    "ambassador": {
        "ST2": "GP trainee, ST2",
        "ST3": "GP trainee, ST3",
        "qualified": "Qualified doctor",
    },
}
# A newcomer who stays one past ST3 is moved on to "qualified" by the training-year change
# (buddy/services/training_year.py): they keep that stage, though nobody signs up with it.
NEWCOMER_LATER_STAGES = {"qualified": "Qualified: finished GP training"}
SETTINGS = {"primary": "Primary care (general practice)", "secondary": "Secondary care (hospital)"}
GENDERS = {"female": "Female", "male": "Male", "other": "In another way"}
SUPPORT_NEEDS = {
    "housing": "Finding somewhere to live",
    "schools": "Schools and childcare",
    "visa": "Visa and immigration",
    "exams": "Exams (AKT and SCA)",
    "eportfolio": "The e-Portfolio and IT systems",
    "culture": "How the NHS and UK general practice work",
    "driving": "Transport and driving",
}
SENSITIVE_FIELDS = ("country", "languages", "gender", "same_gender_anchor", "support_needs")
MAX_INTERESTS = 3
MAX_CAPACITY = 4


def clean_profile(data: dict, *, role: str, today: date | None = None,
                  stage_now: str | None = None, timezone_now: str | None = None,
                  phone_now: str | None = None) -> dict:
    """Validate profile fields for `role`; return the values to store.

    `stage_now` is an edited person's stage: kept even where sign-up does not offer it.
    `timezone_now` and `phone_now` are their saved zone and number: a pair already saved is
    not questioned again.

    Collects every problem before raising, so that a form shows them all at once.
    :raises ServiceError: mapping each bad field to what to fix.
    """
    today = today or clock.today()
    errors: dict[str, str] = {}
    out: dict = {"role": role}

    try:
        out["full_name"] = clean_name(data.get("full_name"))
    except ServiceError as exc:
        errors.update(exc.errors)

    channel = data.get("channel") or ""
    if channel not in CHANNELS:
        errors["channel"] = "Choose how you would like us to contact you"
    out["channel"] = channel

    raw_phone = (data.get("phone") or "").strip()
    phone_country = (data.get("phone_country") or "").strip().upper() or None
    if phone_country and phone_country not in reference.countries():
        errors["phone_country"] = "Choose the country of your mobile number from the list"
    out["phone"], out["phone_country"] = None, phone_country
    if raw_phone or channel in ("sms", "whatsapp"):
        try:
            out["phone"] = phones.normalise_mobile(raw_phone, phone_country)
        except ValueError as exc:
            errors["phone"] = (
                "Enter a mobile number, or choose email as your way to be contacted"
                if not raw_phone
                else str(exc)
            )

    out["timezone"] = _clean_timezone(data, phone=out["phone"], errors=errors,
                                      saved=(timezone_now, phone_now))

    region = data.get("region") or ""
    if region not in reference.regions():
        errors["region"] = "Choose the region where you will train or work"
    out["region"] = region
    scheme = data.get("scheme") or None
    known_region = region in reference.regions()
    if scheme and known_region and scheme not in reference.regions()[region].schemes:
        errors["scheme"] = (
            f"That scheme is not in {reference.regions()[region].name}: choose one of its schemes"
            " or 'Not sure yet'"
        )
    out["scheme"] = scheme

    stage = data.get("stage") or ""
    if stage not in STAGES[role] and not (stage == stage_now and stage in NEWCOMER_LATER_STAGES):
        errors["stage"] = "Choose your training stage"
    out["stage"] = stage

    arrival = data.get("arrival_date")
    if role == "newcomer":
        if not isinstance(arrival, date):
            errors["arrival_date"] = "Enter the date you expect to arrive or start, like 6 8 2027"
        elif arrival < today - timedelta(days=365):
            errors["arrival_date"] = "Arrival date must be within the last year or in the future"
        elif arrival > today + timedelta(days=2 * 365):
            errors["arrival_date"] = "Arrival date must be within the next 2 years"
    out["arrival_date"] = arrival if role == "newcomer" and isinstance(arrival, date) else None
    out["wants_ambassador"] = bool(data.get("wants_ambassador")) and role == "newcomer"
    out["share_email"] = bool(data.get("share_email"))
    out["share_phone"] = bool(data.get("share_phone")) and bool(out["phone"])

    interests = list(dict.fromkeys(data.get("interests") or []))
    if any(i not in reference.interests() for i in interests):
        errors["interests"] = "Choose interests from the list"
    elif len(interests) > MAX_INTERESTS:
        errors["interests"] = f"Choose up to {MAX_INTERESTS} interests"
    out["interests"] = interests

    if role in ("buddy", "ambassador"):
        _clean_volunteer(data, role=role, out=out, errors=errors)
    else:
        out.update(setting=None, capacity=None, can_anchor=False, gmc_number=None)

    _clean_sensitive(data, out=out, errors=errors)
    if errors:
        raise ServiceError(errors)
    return out


def _clean_timezone(data: dict, *, phone: str | None, errors: dict,
                    saved: tuple[str | None, str | None]) -> str:
    """The chosen zone, always a valid IANA name; never a default nobody saw.

    A zone whose hours differ from the phone's country is asked about once: confirmed by
    `timezone_confirmed` carrying the same zone, or already saved with the same number.
    """
    tz = str(data.get("timezone") or "").strip()
    number = phones.parse_mobile(phone, None) if phone else None  # E.164, already checked
    if not tz:
        proposal = timezones.propose(number) if number else None
        errors["timezone"] = (
            f"Check your time zone: we chose {timezones.label(proposal)} from your mobile"
            " number. Choose another if you live somewhere else now"
            if proposal else "Choose the time zone where you live now")
        return tz
    if not timezones.is_zone(tz):
        errors["timezone"] = "Choose your time zone from the list"
        return tz
    tz = timezones.canonical(tz) or tz
    unchanged = (tz, phone) == ((timezones.canonical(saved[0] or "") or saved[0]), saved[1])
    if number is not None and not unchanged and data.get("timezone_confirmed") != tz:
        question = timezones.question(number, tz)
        if question:
            errors["timezone_confirmed"] = question
    return tz


def _clean_volunteer(data: dict, *, role: str, out: dict, errors: dict) -> None:
    setting = data.get("setting") or ""
    if setting not in SETTINGS:
        errors["setting"] = "Choose where you work now: primary or secondary care"
    out["setting"] = setting
    capacity = data.get("capacity")
    if isinstance(capacity, str):
        capacity = parse_int(capacity, max_digits=2)
    if not isinstance(capacity, int) or not 0 <= capacity <= MAX_CAPACITY:
        errors["capacity"] = f"Choose how many newcomers you can support, from 0 to {MAX_CAPACITY}"
    out["capacity"] = capacity
    out["can_anchor"] = bool(data.get("can_anchor")) and role == "buddy"
    gmc = re.sub(r"\s", "", str(data.get("gmc_number") or ""))
    # [0-9], not \d: \d also matches Arabic-Indic and fullwidth digits.
    if not re.fullmatch(r"[0-9]{7}", gmc):
        errors["gmc_number"] = "Enter your GMC number: 7 digits, like 7123456"
    out["gmc_number"] = gmc


def _clean_sensitive(data: dict, *, out: dict, errors: dict) -> None:
    consent = bool(data.get("sensitive_consent"))
    country = (data.get("country") or "").strip().upper() or None
    languages = list(dict.fromkeys(data.get("languages") or []))
    gender = data.get("gender") or None
    same_gender = bool(data.get("same_gender_anchor"))
    needs = list(dict.fromkeys(data.get("support_needs") or []))
    given = bool(country or languages or gender or same_gender or needs)
    if given and not consent:
        errors["sensitive_consent"] = (
            "Tick the box to let us use your country, languages, gender and support needs for"
            " matching, or leave those questions blank"
        )
    if country and country not in reference.countries():
        errors["country"] = "Choose the country where you qualified from the list"
    bad = [code for code in languages if code not in reference.languages()]
    if bad:
        errors["languages"] = f"We do not recognise the language code {bad[0]!r}"
    if gender and gender not in GENDERS:
        errors["gender"] = "Choose an option for gender, or leave it blank"
    if same_gender and gender not in ("female", "male"):
        errors["same_gender_anchor"] = (
            "To ask for a lead buddy of your gender, tell us your gender (female or male)"
        )
    if any(n not in SUPPORT_NEEDS for n in needs):
        errors["support_needs"] = "Choose support needs from the list"
    if consent:
        out.update(
            country=country,
            languages=languages,
            gender=gender,
            same_gender_anchor=same_gender,
            support_needs=needs,
        )
    else:
        out.update(country=None, languages=[], gender=None, same_gender_anchor=False,
                   support_needs=[])
    out["sensitive_consent"] = consent


def parse_language_names(text: str) -> tuple[list[str], list[str]]:
    """Split "Urdu, Pashto" into ISO 639-1 codes; return (codes, names not recognised)."""
    by_name = reference.language_codes_by_name()
    codes, unknown = [], []
    for part in re.split(r"[,;\n]", text or ""):
        name = part.strip()
        if not name:
            continue
        code = by_name.get(name.lower())
        if code is None:
            # "Farsi" and "Persian" both work: match a name that starts with what was typed.
            matches = [c for n, c in by_name.items() if n.startswith(name.lower())]
            code = matches[0] if len(matches) == 1 else None
        (codes if code else unknown).append(code or name)
    return codes, unknown
