"""Reference data from config/: regions, schemes, languages, countries, interests."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import cache

from buddy.settings import CONFIG_DIR, read_toml


@dataclass(frozen=True)
class Region:
    slug: str
    name: str
    schemes: dict[str, str]


@cache
def regions() -> dict[str, Region]:
    """Regions by slug, in the order of config/regions.toml."""
    data = read_toml(CONFIG_DIR / "regions.toml")["regions"]
    return {
        slug: Region(slug=slug, name=r["name"], schemes=dict(r["schemes"]))
        for slug, r in data.items()
    }


@cache
def languages() -> dict[str, str]:
    """ISO 639-1 code -> name, sorted by name."""
    data = read_toml(CONFIG_DIR / "languages.toml")["languages"]
    return dict(sorted(data.items(), key=lambda kv: kv[1]))


@cache
def language_codes_by_name() -> dict[str, str]:
    """Lower-cased language name -> ISO 639-1 code, for people who type a name."""
    return {name.lower(): code for code, name in languages().items()}


@cache
def countries() -> dict[str, str]:
    """ISO 3166-1 alpha-2 code -> name, sorted by name."""
    data = read_toml(CONFIG_DIR / "countries.toml")["countries"]
    return dict(sorted(data.items(), key=lambda kv: kv[1]))


def country_phrase(code: str) -> str:
    """The country's name as it reads in a sentence: "the Philippines", "Nigeria"."""
    name = countries().get(code, code)
    plural = name.endswith(("Islands", "s")) and name not in (
        "Belarus", "Cyprus", "Mauritius", "Honduras", "Laos")
    takes_the = name.startswith(("United ", "Central African", "Dominican", "Czech", "Russian"))
    return f"the {name}" if plural or takes_the else name


@cache
def interests() -> dict[str, str]:
    """Interest slug -> name, in config order."""
    return dict(read_toml(CONFIG_DIR / "interests.toml")["interests"])


@cache
def common_languages() -> list[str]:
    """Language codes offered as tick boxes, sorted by name."""
    return sorted(read_toml(CONFIG_DIR / "languages.toml")["common"], key=lambda c: languages()[c])


@cache
def timezones() -> list[str]:
    """Every IANA time zone name (buddy/timezones.py offers them in words)."""
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc"))


def scheme_name(region: str, scheme: str | None) -> str:
    if not scheme:
        return "Not chosen yet"
    return regions()[region].schemes.get(scheme, scheme)
