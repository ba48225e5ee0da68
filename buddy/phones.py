"""Mobile numbers: one parser for every form, a valid mobile required, stored as E.164.

A number without + and without a chosen country is read as a UK number: most volunteers
type "07911 123456", and the sign-up hint shows that format. A number from abroad needs its
+country code or its country: an Indian number typed without +91 parses as an invalid UK
number (../shared/RELIABILITY.md, "Twilio").
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType

from buddy import reference

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
HOME_REGION = "GB"


def parse_mobile(raw: str | None, country: str | None) -> PhoneNumber:
    """`raw` as a valid mobile number; `country` (ISO 3166 code) reads a national number.

    :raises ValueError: with a message that says what to fix.
    """
    raw = (raw or "").strip()
    if not raw:
        raise ValueError("Enter a mobile number")
    country = (country or "").strip().upper() or None
    try:
        number = phonenumbers.parse(raw, country or HOME_REGION)
    except NumberParseException:
        raise ValueError(
            "Enter a mobile number using digits only, like 07911 123456 or +91 98765 43210"
        ) from None
    if number.extension:
        raise ValueError("Enter a mobile number without an extension")
    valid = phonenumbers.is_valid_number(number)
    read_as_uk = country is None and not raw.startswith(("+", "00"))
    if read_as_uk and not (valid and phonenumbers.number_type(number) in MOBILE_TYPES):
        # Most likely a number from abroad typed without its code: say how to give one.
        raise ValueError(
            "Enter a UK mobile number, like 07911 123456. For a number from another"
            " country, start it with + and the country code, like +63 917 123 4567,"
            " or choose its country"
        )
    if not valid:
        where = phonenumbers.region_code_for_country_code(number.country_code)
        raise ValueError(
            f"Enter a real mobile number for {reference.country_phrase(where)}: check the"
            " digits and the country"
            if where and where != "ZZ"
            else "Enter a real mobile number: check the digits and the country code"
        )
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise ValueError(
            "Enter a mobile number, not a landline: we send text and WhatsApp messages to it"
        )
    return number


def normalise_mobile(raw: str | None, country: str | None) -> str:
    """Return `raw` as an E.164 mobile number (parsed by parse_mobile).

    :raises ValueError: with a message that says what to fix.
    """
    return phonenumbers.format_number(parse_mobile(raw, country),
                                      phonenumbers.PhoneNumberFormat.E164)


def display(e164: str | None) -> str:
    """The number in international format for people to read."""
    if not e164:
        return ""
    return phonenumbers.format_number(
        phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
