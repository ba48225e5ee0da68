"""Mobile numbers: parse with the person's country, require a valid mobile, store E.164."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalise_mobile(raw: str, country: str | None) -> str:
    """Return `raw` as an E.164 mobile number.

    :raises ValueError: with a message that says what to fix.
    """
    raw = (raw or "").strip()
    if not raw:
        raise ValueError("Enter a mobile number")
    if not country and not raw.startswith("+"):
        raise ValueError("Choose the country of your mobile number, or start the number with +")
    try:
        number = phonenumbers.parse(raw, (country or "").upper() or None)
    except NumberParseException:
        raise ValueError(
            "Enter a mobile number using digits only, like 07700 900 982 or +91 98765 43210"
        ) from None
    if number.extension:
        raise ValueError("Enter a mobile number without an extension")
    if not phonenumbers.is_valid_number(number):
        where = phonenumbers.region_code_for_country_code(number.country_code)
        raise ValueError(
            f"Enter a real mobile number for {where}: check the digits and the country"
            if where and where != "ZZ"
            else "Enter a real mobile number: check the digits and the country"
        )
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise ValueError(
            "Enter a mobile number, not a landline: we send text and WhatsApp messages to it"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display(e164: str | None) -> str:
    """The number in international format for people to read."""
    if not e164:
        return ""
    return phonenumbers.format_number(
        phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
