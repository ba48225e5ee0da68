"""How a DA lead reaches a person: their contact details where the lead acts on them.

Shown on a flag, on a volunteer's page and in the people CSV, always of the lead's own
region (callers reach the person through buddy/scoping.py or a region-scoped query). Every
member agreed at sign-up that the programme may contact them; what their family sees is a
separate choice (share_email, share_phone) and is not this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from buddy import phones
from buddy.models import Person, User
from buddy.services.profiles import CHANNELS

# The hours Buddy sends messages in, where the person is (DESIGN.md, sending window): a lead
# who calls outside them is told so first.
DAY_STARTS, DAY_ENDS = 9, 19


@dataclass(frozen=True)
class Contact:
    """A person's contact details as their DA lead sees them."""

    anonymised: bool
    email: str | None
    email_confirmed: bool
    phone: str | None  # E.164, for tel: and wa.me links
    phone_display: str
    phone_confirmed: bool
    channel: str  # the preferred channel, in words
    texts_stopped: bool  # they replied STOP: Buddy emails them instead
    timezone: str
    local_time: str  # "14:05 on Friday 4 December"
    daytime: bool  # inside the hours Buddy sends messages in

    @property
    def whatsapp(self) -> str | None:
        """A wa.me link to start a WhatsApp chat with them (digits only), or None."""
        return f"https://wa.me/{self.phone.lstrip('+')}" if self.phone else None


def zone_label(zone: ZoneInfo, now: datetime) -> str:
    """ "Asia/Manila (UTC+8)": the zone's name in words and its offset from UTC now."""
    offset = now.astimezone(zone).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    hours = f"{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")
    name = zone.key.replace("_", " ")
    return f"{name} (UTC)" if minutes == 0 else f"{name} (UTC{sign}{hours})"


def for_lead(session: Session, person: Person, now: datetime) -> Contact:
    """`person`'s contact details and local time at `now`, for their region's DA lead."""
    user = session.get(User, person.user_id) if person.user_id else None
    try:
        zone = ZoneInfo(person.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Europe/London")
    local = now.astimezone(zone)
    gone = person.anonymised_at is not None
    return Contact(
        anonymised=gone,
        email=None if gone or user is None else user.email,
        email_confirmed=person.email_confirmed_at is not None,
        phone=None if gone else person.phone,
        phone_display="" if gone else phones.display(person.phone),
        phone_confirmed=person.phone_verified_at is not None,
        channel=CHANNELS.get(person.channel, person.channel),
        texts_stopped=person.sms_opted_out,
        timezone=zone_label(zone, now),
        local_time=f"{local:%H:%M} on {local:%A} {local.day} {local:%B}",
        daytime=DAY_STARTS <= local.hour < DAY_ENDS,
    )
