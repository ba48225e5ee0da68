"""Test data made through the same services the pages use."""

from __future__ import annotations

import itertools
import re
from datetime import date

import phonenumbers
from phonenumbers import PhoneNumberType
from sqlmodel import select

from buddy.messaging.models import Message
from buddy.models import Person, User
from buddy.services import accounts, phone_verification
from buddy.statuses import MessageStatus, PersonStatus

PASSWORD = "a long test password"
_n = itertools.count(1)


def mobile(country: str = "GB", n: int | None = None) -> str:
    """A valid mobile number for `country` in national format (the drama range is invalid).

    With `n`, the example number's last four digits become `n`: a number of its own, as
    each person's number is one verified owner's (a number taken twice changes hands).
    """
    number = phonenumbers.example_number_for_type(country, PhoneNumberType.MOBILE)
    if n is not None:
        digits = str(number.national_number)
        number = phonenumbers.parse(f"+{number.country_code}{digits[:-4]}{n % 10_000:04d}")
        assert phonenumbers.is_valid_number(number), number
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def newcomer_form(**overrides) -> dict:
    """Form fields of a complete, valid newcomer sign-up."""
    n = next(_n)
    data = {
        "full_name": f"Newcomer {n}",
        "email": f"newcomer{n}@example.org",
        "password": PASSWORD,
        "channel": "sms",
        "phone_country": "IN",
        "phone": mobile("IN", n),
        "timezone": "Asia/Kolkata",
        "region": "london",
        "scheme": "london:barnet",
        "stage": "ST1",
        "arrival_day": "4",
        "arrival_month": "8",
        "arrival_year": "2027",
        "interests": ["paediatrics", "education"],
        "contact_consent": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def volunteer_form(**overrides) -> dict:
    n = next(_n)
    data = {
        "full_name": f"Volunteer {n}",
        "email": f"volunteer{n}@example.org",
        "password": PASSWORD,
        "channel": "email",
        "timezone": "Europe/London",
        "region": "london",
        "scheme": "london:barnet",
        "stage": "ST3",
        "setting": "primary",
        "capacity": "3",
        "can_anchor": "y",
        "gmc_number": "7123456",
        "interests": ["paediatrics"],
        "contact_consent": "y",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def join(client, url: str, form: dict):
    """Sign up through the question pages as a person would, from the first page at `url`
    (/join/newcomer or /join/volunteer/ROLE): each page is sent the fields of `form` it asks
    (newcomer_form() and volunteer_form() give them all), then "check your answers" its
    password and agreement. Returns the response of the first page that shows an error, or
    of the last page (a redirect to /join/done)."""
    response = client.post(url, data={"email": form.get("email", "")})
    for _ in range(40):
        if response.status_code != 302:
            return response
        location = response.headers["Location"]
        if location.startswith("/join/continue/"):
            response = client.get(location)
        elif location == "/join/check":
            return client.post(location, data={
                k: form[k] for k in ("password", "contact_consent") if k in form})
        elif location.startswith("/join/step/") or location.startswith("/join/newcomer") \
                or location.startswith("/join/volunteer/"):
            response = client.post(location, data=form)
        else:
            return response
    raise AssertionError("the sign-up pages went round in a circle")


class Factory:
    def __init__(self, app, session):
        self.app, self.session = app, session

    def _service_data(self, form: dict) -> dict:
        data = dict(form)
        # The zone is the one the person chose and confirmed, whatever their phone says.
        data.setdefault("timezone_confirmed", data.get("timezone"))
        scheme = data.pop("scheme", "")
        data["scheme"] = scheme.split(":", 1)[1] if scheme else None
        if "arrival_year" in data:
            data["arrival_date"] = date(int(data.pop("arrival_year")),
                                        int(data.pop("arrival_month")),
                                        int(data.pop("arrival_day")))
        if "capacity" in data:
            data["capacity"] = int(data["capacity"])
        return data

    def verify_phone(self, person: Person) -> Person:
        """Type back the code the sign-up texted, as the person would (when there is one)."""
        code = self.session.exec(
            select(Message).where(Message.person_id == person.id, Message.kind == "phone_code",
                                  Message.status == MessageStatus.PENDING)
            .order_by(Message.id.desc())
        ).first()
        if code is not None:
            with self.app.app_context():
                phone_verification.verify_code(session=self.session, person=person,
                                               code=re.search(r"\d{6}", code.body)[0])
        return person

    def newcomer(self, phone_verified: bool = True, **overrides) -> Person:
        """A newcomer; one with a phone has confirmed it unless `phone_verified` is False."""
        data = self._service_data(newcomer_form(**overrides))
        with self.app.app_context():
            person = accounts.register_member(session=self.session, data=data, role="newcomer")
        return self.verify_phone(person) if phone_verified else person

    def volunteer(self, role: str = "buddy", status: str = PersonStatus.ACTIVE,
                  phone_verified: bool = True, **overrides) -> Person:
        """A volunteer, approved (active) unless `status` says otherwise; phone as newcomer()."""
        data = self._service_data(volunteer_form(**overrides))
        with self.app.app_context():
            person = accounts.register_member(session=self.session, data=data, role=role)
        if phone_verified:
            self.verify_phone(person)
        person.status = status
        # Active or paused volunteers were approved by their region's lead (buddy/states.py).
        person.approved_region = person.region if status in (
            PersonStatus.ACTIVE, PersonStatus.PAUSED) else None
        self.session.add(person)
        self.session.commit()
        return person

    def staff(self, role: str = "lead", region: str | None = "london", **kw) -> User:
        n = next(_n)
        with self.app.app_context():
            return accounts.create_staff(
                session=self.session, actor=None,
                email=kw.get("email", f"{role}{n}@example.org"),
                full_name=kw.get("full_name", f"{role.title()} {n}"), role=role,
                region=region if role == "lead" else None, password=PASSWORD,
            )

    def user_of(self, person: Person) -> User:
        return self.session.get(User, person.user_id)


def login(client, email: str, password: str = PASSWORD, next_url: str | None = None):
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password})
