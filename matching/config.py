"""Reference data and settings read from `config/` (TOML, read-only)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

FAMILY_WEIGHT_KEYS = (
    "language",
    "interest",
    "scheme",
    "country",
    "three_stages",
    "hospital",
    "size_spread",
)
AMBASSADOR_WEIGHT_KEYS = ("same_country", "language", "same_region")


class ConfigError(Exception):
    """A file in config/ is missing or malformed."""


def config_dir() -> Path:
    """Directory holding the TOML files: $BUDDY_CONFIG_DIR, else <repo>/config."""
    env = os.environ.get("BUDDY_CONFIG_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "config"


def _read(name: str) -> dict[str, Any]:
    path = config_dir() / name
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: missing") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class Reference:
    """Vocabularies that cohort fields are checked against."""

    regions: dict[str, dict[str, Any]]
    languages: dict[str, str]
    countries: dict[str, str]
    interests: dict[str, str]

    def schemes(self, region: str) -> dict[str, str]:
        """Scheme slug -> name for a region slug (empty for an unknown region)."""
        return dict(self.regions.get(region, {}).get("schemes", {}))

    def region_name(self, region: str) -> str:
        return str(self.regions.get(region, {}).get("name", region))


@dataclass(frozen=True)
class FamilySettings:
    """The values a families run uses; recorded in every result."""

    max_newcomers: int = 4
    max_extra_buddies: int = 2
    max_secondary: int = 1
    weights: dict[str, int] = field(default_factory=dict)
    choose_unmatched: str = "arrival"  # or "quality"; see config/matching.toml

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_newcomers": self.max_newcomers,
            "max_extra_buddies": self.max_extra_buddies,
            "max_secondary": self.max_secondary,
            "weights": dict(self.weights),
            "choose_unmatched": self.choose_unmatched,
        }


@lru_cache(maxsize=4)
def _reference(directory: str) -> Reference:
    regions = _read("regions.toml").get("regions", {})
    return Reference(
        regions=regions,
        languages=_read("languages.toml").get("languages", {}),
        countries=_read("countries.toml").get("countries", {}),
        interests=_read("interests.toml").get("interests", {}),
    )


def reference() -> Reference:
    """Regions, languages, countries and interests from config/ (cached per directory)."""
    return _reference(str(config_dir()))


def _int_weights(section: dict[str, Any], keys: tuple[str, ...], where: str) -> dict[str, int]:
    weights = {}
    for key in keys:
        value = section.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"matching.toml: {where}.{key} must be a non-negative integer")
        weights[key] = value
    return weights


@lru_cache(maxsize=4)
def _matching(directory: str) -> dict[str, Any]:
    return _read("matching.toml")


def family_settings() -> FamilySettings:
    """Family-size limits and weights from config/matching.toml."""
    data = _matching(str(config_dir()))
    fam = data.get("families", {})
    values = {}
    for key, default, low in (
        ("max_newcomers", 4, 1),
        ("max_extra_buddies", 2, 0),
        ("max_secondary", 1, 0),
    ):
        value = fam.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"matching.toml: families.{key} must be an integer >= {low}")
        values[key] = value
    weights = _int_weights(fam.get("weights", {}), FAMILY_WEIGHT_KEYS, "families.weights")
    choose = fam.get("choose_unmatched", "arrival")
    if choose not in ("arrival", "quality"):
        raise ConfigError('matching.toml: families.choose_unmatched must be "arrival" or "quality"')
    return FamilySettings(weights=weights, choose_unmatched=choose, **values)


def ambassador_weights() -> dict[str, int]:
    """Weights of the ambassador pairing from config/matching.toml."""
    data = _matching(str(config_dir()))
    section = data.get("ambassadors", {}).get("weights", {})
    return _int_weights(section, AMBASSADOR_WEIGHT_KEYS, "ambassadors.weights")


def default_time_limit() -> float:
    """Default wall-clock limit of a run in seconds."""
    data = _matching(str(config_dir()))
    return float(data.get("solver", {}).get("time_limit_s", 60.0))


def demo() -> dict[str, Any]:
    """Proportions for synthetic cohorts (config/demo.toml)."""
    return _read("demo.toml")
