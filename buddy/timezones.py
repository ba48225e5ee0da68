"""Time zones in words people know, proposed from a phone number, checked against it.

A newcomer chooses "Philippines (Manila time, UTC+8)", never a raw list of IANA names: the
sending window (09:00-19:00 where they are) depends on it. Which zones belong to which
country comes from tzdata's zone.tab (the Python tzdata package, the data zoneinfo reads
where the system has none); country names from config/countries.toml, the names the rest of
Buddy shows, with tzdata's iso3166.tab for the few places it lacks.
"""

from __future__ import annotations

import hashlib
import tomllib
import zoneinfo
from collections import defaultdict
from datetime import datetime
from functools import cache, lru_cache
from importlib import resources

import phonenumbers
from phonenumbers import PhoneNumber
from phonenumbers import timezone as phone_timezones

from buddy import clock, phones, reference
from buddy.settings import CONFIG_DIR

UK = "Europe/London"


def _tzdata(*parts: str):
    return resources.files("tzdata").joinpath("zoneinfo", *parts)


def _table(name: str) -> list[list[str]]:
    lines = _tzdata(name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


@cache
def _zone_countries() -> dict[str, str]:
    """Zone -> ISO 3166 country code, one line of zone.tab each (418 zones)."""
    return {row[2]: row[0] for row in _table("zone.tab")}


@cache
def _country_zones() -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for zone, country in _zone_countries().items():
        out[country].append(zone)
    return dict(out)


@cache
def _tzdata_country_names() -> dict[str, str]:
    return {row[0]: row[1] for row in _table("iso3166.tab")}


@cache
def _known_names() -> dict[str, str]:
    with open(CONFIG_DIR / "timezones.toml", "rb") as fh:
        return dict(tomllib.load(fh)["names"])


def country_name(code: str) -> str:
    """The country's name as Buddy shows it elsewhere."""
    return reference.countries().get(code) or _tzdata_country_names().get(code, code)


@cache
def _every_zone() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())  # a walk of the zone files: once


def is_zone(value: str | None) -> bool:
    """True for any valid IANA zone name (kept even when not offered, e.g. Asia/Calcutta)."""
    return bool(value) and value in _every_zone()


@cache
def _fingerprints() -> dict[str, list[str]]:
    """TZif bytes -> the offered zones with those rules (a link is a copy of its target)."""
    out: dict[str, list[str]] = defaultdict(list)
    for zone in _zone_countries():
        out[hashlib.sha256(_tzdata(*zone.split("/")).read_bytes()).hexdigest()].append(zone)
    return dict(out)


@cache
def canonical(zone: str) -> str | None:
    """The offered zone for `zone` (Asia/Calcutta -> Asia/Kolkata), or None when none is."""
    if zone in _zone_countries():
        return zone
    if not is_zone(zone):
        return None
    try:
        data = _tzdata(*zone.split("/")).read_bytes()
    except OSError:
        return None
    same = _fingerprints().get(hashlib.sha256(data).hexdigest(), [])
    return same[0] if len(same) == 1 else None


def _offset(zone: str, now: datetime) -> int:
    """Minutes east of UTC at `now`."""
    return int(now.astimezone(zoneinfo.ZoneInfo(zone)).utcoffset().total_seconds() // 60)


def offset_words(zone: str, now: datetime | None = None) -> str:
    """"UTC+8", "UTC+5:30", "UTC-3", "UTC+0" at `now`."""
    minutes = _offset(zone, now or clock.now())
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def short_name(zone: str) -> str:
    """"UK time", "West Africa time", "Manila time"."""
    zone = canonical(zone) or zone
    return _known_names().get(zone) or f"{zone.rsplit('/', 1)[-1].replace('_', ' ')} time"


def label(zone: str, now: datetime | None = None) -> str:
    """"Philippines (Manila time, UTC+8)"; the UK's own zone is simply "UK time".

    The UK needs no offset: people here know UK time, and it is the offset that changes.
    """
    offered = canonical(zone) or zone
    country = _zone_countries().get(offered)
    name = short_name(offered)
    if offered == UK:
        return f"{country_name('GB')} ({name})"
    words = f"{name}, {offset_words(offered, now)}"
    return f"{country_name(country)} ({words})" if country else f"{zone} ({words})"


def offered(now: datetime | None = None) -> list[tuple[str, str]]:
    """Every zone people can choose, as (zone, label), by country name then offset."""
    # Offsets change only on the hour (summer time): one list an hour, not 40 ms a page.
    return _offered((now or clock.now()).replace(minute=0, second=0, microsecond=0))


@lru_cache(maxsize=4)
def _offered(now: datetime) -> list[tuple[str, str]]:
    zones = _zone_countries()
    return sorted(((z, label(z, now)) for z in zones),
                  key=lambda item: (country_name(zones[item[0]]).casefold(),
                                    _offset(item[0], now), item[1]))


def zones_of_country(code: str | None) -> list[str]:
    """The offered zones of a country (ISO 3166 code), UK time first for the UK."""
    return sorted(_country_zones().get((code or "").upper(), []), key=lambda z: z != UK)


def _number_zones(number: PhoneNumber) -> list[str]:
    zones = [canonical(z) for z in phone_timezones.time_zones_for_number(number)]
    return list(dict.fromkeys(z for z in zones if z))


def propose(number: PhoneNumber) -> str | None:
    """The one zone a mobile number points to, or None when its country has several.

    A +44 number lists Guernsey, Jersey and the Isle of Man beside London: the zone of the
    calling code's main country (the UK) wins.
    """
    zones = _number_zones(number)
    if len(zones) == 1:
        return zones[0]
    main = phonenumbers.region_code_for_country_code(number.country_code)
    in_main = [z for z in zones if _zone_countries().get(z) == main]
    if len(in_main) == 1:
        return in_main[0]
    own = zones_of_country(main)
    return own[0] if len(own) == 1 else None


def near(number: PhoneNumber) -> list[str]:
    """The zones a mobile number suggests: its own, then its country's."""
    region = phonenumbers.region_code_for_number(number)
    main = phonenumbers.region_code_for_country_code(number.country_code)
    proposal = propose(number)
    zones = ([proposal] if proposal else []) + _number_zones(number) + zones_of_country(
        region) + zones_of_country(main)
    return list(dict.fromkeys(zones))


def question(number: PhoneNumber, zone: str, now: datetime | None = None) -> str | None:
    """What to ask when the number's country and the chosen zone keep different hours.

    None when they agree, or when the clocks agree now (a Jersey number in UK time, an Irish
    number in UK time): only the hours of messages depend on the zone.
    """
    now = now or clock.now()
    zones = near(number)
    if not zones or zone in zones or (canonical(zone) or zone) in zones:
        return None
    if _offset(zone, now) in {_offset(z, now) for z in zones}:
        return None
    country = reference.country_phrase(_home_of(number))
    return (f"Your phone number is from {country} but you chose {short_name(zone)}: is that"
            " right? If it is, tick 'Yes'. If not, choose the time zone where you live now")


def for_phone(raw: str | None, country: str | None) -> tuple[str | None, list[str]]:
    """(the zone to propose, the zones to list first) for a typed mobile number.

    (None, []) when the number cannot be read yet: the person chooses.
    """
    try:
        number = phones.parse_mobile(raw, country)
    except ValueError:
        return None, []
    return propose(number), near(number)


def words(zone: str | None) -> str:
    """label() for a saved zone; the raw value for one that is not a zone at all."""
    return label(zone) if is_zone(zone) else (zone or "")


def saved_mismatch(phone: str | None, zone: str | None) -> str | None:
    """For a saved E.164 number and zone whose hours differ: the phone's country, in words.

    Zones saved before Buddy asked (the form once defaulted to the first of the list) are
    shown to their owner with this, so they can put them right.
    """
    if not phone or not is_zone(zone):
        return None
    number = phonenumbers.parse(phone)
    return None if question(number, zone) is None else reference.country_phrase(_home_of(number))


def _home_of(number: PhoneNumber) -> str:
    """The number's country; 07911 numbers are Guernsey's in phonenumbers' data, but people
    call every +44 mobile a UK one."""
    if phonenumbers.region_code_for_country_code(number.country_code) == "GB":
        return "GB"
    return phonenumbers.region_code_for_number(number) or ""
