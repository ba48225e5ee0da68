"""Seeded synthetic cohorts (cohort v1 dicts) from config/demo.toml and config/regions.toml.

Deterministic for a seed: each region draws from its own `random.Random(f"{seed}:{region}")`,
so a region's people do not change when another region's figures do.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from .config import demo, reference

YEAR = 2027


def _weighted(rng: random.Random, table: dict[str, float]) -> str:
    keys = sorted(table)
    return rng.choices(keys, weights=[float(table[k]) for k in keys], k=1)[0]


def _country(rng: random.Random, cfg: dict[str, Any]) -> str:
    code = _weighted(rng, cfg["countries"])
    pools = cfg.get("country_pools", {})
    return rng.choice(pools[code]) if code in pools else code


def _languages(rng: random.Random, cfg: dict[str, Any], country: str) -> list[str]:
    """0-2 languages of the country; weights below 100 in total leave room for 'none'."""
    table = dict(cfg.get("languages", {}).get(country, {}))
    if not table:
        return []
    count = rng.choices([0, 1, 2], weights=[15, 60, 25], k=1)[0]
    table["-"] = max(0.0, 100.0 - sum(table.values()))
    out: list[str] = []
    for _ in range(count):
        left = {k: v for k, v in table.items() if k not in out}
        if sum(left.values()) <= 0:
            break
        pick = _weighted(rng, left)
        if pick == "-":
            break
        out.append(pick)
    return sorted(out)


def _interests(rng: random.Random, cfg: dict[str, Any]) -> list[str]:
    table = dict(cfg["interests"])
    out: set[str] = set()
    for _ in range(rng.choice([1, 2, 3])):
        out.add(_weighted(rng, {k: v for k, v in table.items() if k not in out}))
    return sorted(out)


def _arrival(rng: random.Random, cfg: dict[str, Any]) -> str:
    month = 2 if rng.random() * 100 < cfg["newcomers"]["february_start_percent"] else 8
    return dt.date(YEAR, month, rng.randint(1, 7)).isoformat()


def _origin(rng: random.Random, cfg: dict[str, Any], abroad: bool) -> tuple[str, list[str]]:
    country = _country(rng, cfg) if abroad else "GB"
    return country, _languages(rng, cfg, country)


def _gender(rng: random.Random, female_percent: float) -> str | None:
    r = rng.random() * 100
    if r < 3:
        return None  # not given
    return "F" if r < 3 + female_percent * 0.97 else "M"


def _region_people(
    region: str, seed: int, newcomers: int | None, amb_start: int, ambassadors: int | None
):
    cfg = demo()
    ref = reference()
    info = ref.regions[region]
    schemes = sorted(ref.schemes(region))
    rng = random.Random(f"{seed}:{region}")
    nc = cfg["newcomers"]
    vol = cfg["volunteers"]
    img_st1 = info["st1"] * info["img_percent"] / 100
    n_new = newcomers if newcomers is not None else round(img_st1 * nc["per_img_st1"])
    n_bud = round(n_new * vol["buddies_per_newcomer"])
    n_amb = ambassadors if ambassadors is not None else int(info.get("ambassadors", 0))
    people: list[dict[str, Any]] = []
    for i in range(1, n_new + 1):
        abroad = rng.random() * 100 >= nc["uk_graduate_percent"]
        country, langs = _origin(rng, cfg, abroad)
        gender = _gender(rng, nc["female_percent"])
        people.append(
            {
                "id": f"n-{region}-{i:04d}",
                "role": "newcomer",
                "region": region,
                "scheme": rng.choice(schemes),
                "stage": "ST1",
                "setting": "secondary" if rng.random() < 0.6 else "primary",
                "languages": langs,
                "interests": _interests(rng, cfg),
                "country": country,
                "arrival": _arrival(rng, cfg),
                "gender": gender,
                "same_gender_anchor": bool(gender)
                and rng.random() * 100 < nc["same_gender_anchor_percent"],
                "wants_ambassador": rng.random() * 100 < nc["wants_ambassador_percent"],
            }
        )
    kinds = {
        "gp_st2": vol["gp_st2"],
        "gp_st3": vol["gp_st3"],
        "qualified_gp": vol["qualified_gp"],
        "hospital": vol["hospital"],
    }
    stage_of = {
        "gp_st2": ("ST2", "primary"),
        "gp_st3": ("ST3", "primary"),
        "qualified_gp": ("qualified", "primary"),
        "hospital": ("qualified", "secondary"),
    }
    caps = {str(k): v for k, v in vol["capacity"].items()}
    for i in range(1, n_bud + 1):
        stage, setting = stage_of[_weighted(rng, kinds)]
        abroad = rng.random() * 100 < vol["qualified_abroad_percent"]
        country, langs = _origin(rng, cfg, abroad)
        people.append(
            {
                "id": f"b-{region}-{i:04d}",
                "role": "buddy",
                "region": region,
                "scheme": rng.choice(schemes),
                "stage": stage,
                "setting": setting,
                "languages": langs,
                "interests": _interests(rng, cfg),
                "country": country,
                "gender": _gender(rng, 50),
                "capacity": int(_weighted(rng, caps)),
                "can_anchor": stage in ("ST3", "qualified") and setting == "primary",
            }
        )
    amb_kinds = {
        "secondary": vol["ambassador_secondary"],
        "trainee": vol["ambassador_trainee"],
        "qualified": vol["ambassador_qualified"],
    }
    amb_caps = {str(k): v for k, v in vol["ambassador_capacity"].items()}
    for i in range(n_amb):
        kind = _weighted(rng, amb_kinds)
        stage, setting = {
            "secondary": ("qualified", "secondary"),
            "trainee": (rng.choice(["ST2", "ST3"]), "primary"),
            "qualified": ("qualified", "primary"),
        }[kind]
        country, langs = _origin(rng, cfg, True)
        people.append(
            {
                "id": f"a-{amb_start + i:04d}",
                "role": "ambassador",
                "region": region,
                "stage": stage,
                "setting": setting,
                "languages": langs,
                "interests": _interests(rng, cfg),
                "country": country,
                "gender": _gender(rng, 50),
                "capacity": int(_weighted(rng, amb_caps)),
            }
        )
    # A few avoid pairs, as DA leads record them (about 1 per 100 newcomers).
    avoid = []
    buddies = [p["id"] for p in people if p["role"] == "buddy"]
    news = [p["id"] for p in people if p["role"] == "newcomer"]
    for _ in range(n_new // 100):
        if buddies and news:
            avoid.append([rng.choice(news), rng.choice(buddies)])
    return people, avoid


def region_cohort(region_slug: str, seed: int, newcomers: int | None = None) -> dict[str, Any]:
    """A cohort of one region; `newcomers` overrides the size (volunteers scale with it).

    :raises KeyError: for an unknown region slug.
    """
    info = reference().regions[region_slug]
    n_amb = None
    if newcomers is not None:
        img = info["st1"] * info["img_percent"] / 100 * demo()["newcomers"]["per_img_st1"]
        n_amb = max(1, round(info.get("ambassadors", 0) * newcomers / max(1.0, img)))
    people, avoid = _region_people(region_slug, seed, newcomers, 1, n_amb)
    return {"version": 1, "people": people, "locked": [], "avoid": avoid}


def national_cohort(seed: int) -> dict[str, Any]:
    """All 11 regions: about 2,200 newcomers and 2,300 volunteers (about 500 ambassadors)."""
    people: list[dict[str, Any]] = []
    avoid: list[list[str]] = []
    amb = 1
    for region in sorted(reference().regions):
        p, a = _region_people(region, seed, None, amb, None)
        amb += sum(1 for x in p if x["role"] == "ambassador")
        people.extend(p)
        avoid.extend(a)
    return {"version": 1, "people": people, "locked": [], "avoid": avoid}
