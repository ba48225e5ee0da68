"""Cohort schema (spec/matching.md, version 1): typed records and `load_cohort`."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from .config import Reference, reference

ROLES = ("newcomer", "buddy", "ambassador")
STAGES = ("ST1", "ST2", "ST3", "qualified")
SETTINGS = ("primary", "secondary")


class CohortError(ValueError):
    """The cohort is invalid; the message names the field path and the person."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or [message]


class NoSolution(Exception):
    """No result exists under the hard rules; the message names the rule."""


@dataclass(frozen=True)
class Person:
    """One person of a cohort, with defaults resolved (unknown stays None)."""

    id: str
    role: str
    index: int
    region: str | None = None
    scheme: str | None = None
    stage: str | None = None
    setting: str | None = None
    languages: frozenset[str] = frozenset()
    interests: frozenset[str] = frozenset()
    country: str | None = None
    capacity: int = 0
    can_anchor: bool = False
    arrival: dt.date | None = None
    gender: str | None = None
    same_gender_anchor: bool = False
    wants_ambassador: bool = False

    @property
    def secondary(self) -> bool:
        return self.setting == "secondary"


@dataclass(frozen=True)
class LockedFamily:
    """A family the DA lead fixed: it keeps its id and all its members."""

    id: str
    members: tuple[str, ...]
    anchor: str | None  # explicit anchor, else the first member buddy with can_anchor


@dataclass(frozen=True)
class Cohort:
    """A validated cohort: people in input order, locked families and avoid pairs."""

    people: tuple[Person, ...]
    locked: tuple[LockedFamily, ...] = ()
    avoid: frozenset[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {p.id: p for p in self.people})

    def person(self, pid: str) -> Person:
        return self.by_id[pid]  # type: ignore[attr-defined]

    def role(self, role: str) -> list[Person]:
        return [p for p in self.people if p.role == role]

    def regions(self) -> list[str]:
        """Sorted regions that have newcomers or buddies."""
        return sorted({p.region for p in self.people if p.region and p.role != "ambassador"})

    def avoids(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self.avoid

    def locked_anchor(self, fam: LockedFamily) -> str | None:
        """The anchor of a locked family: explicit, else first member buddy with can_anchor."""
        if fam.anchor is not None:
            return fam.anchor
        for pid in fam.members:
            p = self.person(pid)
            if p.role == "buddy" and p.can_anchor:
                return pid
        return None

    def subset(self, region: str) -> Cohort:
        """The newcomers and buddies of one region, with their locked families and avoid pairs."""
        people = tuple(p for p in self.people if p.region == region and p.role != "ambassador")
        ids = {p.id for p in people}
        locked = tuple(f for f in self.locked if any(m in ids for m in f.members))
        avoid = frozenset(pair for pair in self.avoid if pair & ids)
        return Cohort(people=people, locked=locked, avoid=avoid)


class _Checker:
    """Collects errors as `path: message (person id)` lines."""

    def __init__(self, ref: Reference):
        self.ref = ref
        self.errors: list[str] = []

    def add(self, path: str, message: str, pid: str | None = None) -> None:
        who = f" (person {pid})" if pid else ""
        self.errors.append(f"{path}: {message}{who}")


def _q(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _opt_str(chk: _Checker, raw: dict, key: str, path: str, pid: str | None) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        chk.add(f"{path}.{key}", f"{_q(value)} is not a non-empty string", pid)
        return None
    return value


def _opt_bool(chk: _Checker, raw: dict, key: str, path: str, pid: str | None, default):
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        chk.add(f"{path}.{key}", f"{_q(value)} is not true or false", pid)
        return default
    return value


def _codes(chk: _Checker, raw: dict, key: str, path: str, pid: str | None, vocab, what: str):
    value = raw.get(key)
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        chk.add(f"{path}.{key}", f"{_q(value)} is not a list", pid)
        return frozenset()
    out = set()
    for i, code in enumerate(value):
        if key == "languages" and code == "en":
            continue  # everyone speaks English; listing it changes nothing
        if not isinstance(code, str) or code not in vocab:
            chk.add(f"{path}.{key}[{i}]", f"{_q(code)} is not {what}", pid)
        else:
            out.add(code)
    return frozenset(out)


def _person(chk: _Checker, raw: Any, i: int) -> Person | None:
    path = f"people[{i}]"
    if not isinstance(raw, dict):
        chk.add(path, f"{_q(raw)} is not an object")
        return None
    pid = raw.get("id")
    if not isinstance(pid, str) or not pid.strip():
        chk.add(f"{path}.id", f"{_q(pid)} is not a non-empty string")
        return None
    role = raw.get("role")
    if role not in ROLES:
        chk.add(f"{path}.role", f"{_q(role)} is not one of {', '.join(ROLES)}", pid)
        return None
    ref = chk.ref
    region = _opt_str(chk, raw, "region", path, pid)
    if region is None and role != "ambassador":
        if raw.get("region") is None:
            chk.add(f"{path}.region", "is required for a " + role, pid)
    elif region is not None and region not in ref.regions:
        chk.add(f"{path}.region", f"{_q(region)} is not a region in config/regions.toml", pid)
        region = None
    scheme = _opt_str(chk, raw, "scheme", path, pid)
    if scheme is not None and region is not None and scheme not in ref.schemes(region):
        chk.add(f"{path}.scheme", f"{_q(scheme)} is not a scheme of {region}", pid)
        scheme = None
    stage = raw.get("stage")
    if stage is not None and stage not in STAGES:
        chk.add(f"{path}.stage", f"{_q(stage)} is not one of {', '.join(STAGES)}", pid)
        stage = None
    setting = raw.get("setting")
    if setting is None and role == "buddy":
        chk.add(f"{path}.setting", "is required for a buddy (primary or secondary)", pid)
    elif setting is not None and setting not in SETTINGS:
        chk.add(f"{path}.setting", f"{_q(setting)} is not primary or secondary", pid)
        setting = None
    languages = _codes(chk, raw, "languages", path, pid, ref.languages, "an ISO 639-1 code")
    interests = _codes(
        chk, raw, "interests", path, pid, ref.interests, "an interest in config/interests.toml"
    )
    country = raw.get("country")
    if country is not None and (not isinstance(country, str) or country not in ref.countries):
        chk.add(f"{path}.country", f"{_q(country)} is not an ISO 3166-1 alpha-2 code", pid)
        country = None
    capacity = raw.get("capacity")
    if role in ("buddy", "ambassador"):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
            chk.add(f"{path}.capacity", f"{_q(capacity)} is not a whole number >= 0", pid)
            capacity = 0
    else:
        capacity = 0
    default_anchor = stage in ("ST3", "qualified") and setting == "primary"
    can_anchor = (
        _opt_bool(chk, raw, "can_anchor", path, pid, default_anchor) if role == "buddy" else False
    )
    arrival = raw.get("arrival")
    if arrival is not None:
        try:
            arrival = dt.date.fromisoformat(arrival) if isinstance(arrival, str) else None
        except ValueError:
            arrival = None
        if arrival is None:
            chk.add(
                f"{path}.arrival", f"{_q(raw.get('arrival'))} is not an ISO date (YYYY-MM-DD)", pid
            )
    gender = _opt_str(chk, raw, "gender", path, pid)
    return Person(
        id=pid,
        role=role,
        index=i,
        region=region,
        scheme=scheme,
        stage=stage,
        setting=setting,
        languages=languages,
        interests=interests,
        country=country,
        capacity=capacity,
        can_anchor=can_anchor,
        arrival=arrival,
        gender=gender.strip().upper() if gender else None,
        same_gender_anchor=_opt_bool(chk, raw, "same_gender_anchor", path, pid, False),
        wants_ambassador=_opt_bool(chk, raw, "wants_ambassador", path, pid, False),
    )


def _locked(chk: _Checker, raw: Any, by_id: dict[str, Person]) -> list[LockedFamily]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        chk.add("locked", f"{_q(raw)} is not a list")
        return []
    out, seen_ids, owner = [], set(), {}
    for i, entry in enumerate(raw):
        path = f"locked[{i}]"
        if not isinstance(entry, dict):
            chk.add(path, f"{_q(entry)} is not an object")
            continue
        fid = entry.get("family")
        if not isinstance(fid, str) or not fid.strip():
            chk.add(f"{path}.family", f"{_q(fid)} is not a non-empty string")
            continue
        if fid in seen_ids:
            chk.add(f"{path}.family", f"{_q(fid)} is locked twice")
            continue
        seen_ids.add(fid)
        members = entry.get("members")
        if not isinstance(members, list) or not members:
            chk.add(f"{path}.members", f"{_q(members)} is not a non-empty list of person ids")
            continue
        ok = True
        for j, pid in enumerate(members):
            where = f"{path}.members[{j}]"
            if not isinstance(pid, str) or pid not in by_id:
                chk.add(where, f"{_q(pid)} is not the id of a person in the cohort")
                ok = False
            elif by_id[pid].role == "ambassador":
                chk.add(where, "an ambassador cannot be a member of a family", pid)
                ok = False
            elif pid in owner:
                chk.add(where, f"already a member of locked family {owner[pid]}", pid)
                ok = False
            else:
                owner[pid] = fid
        anchor = entry.get("anchor")
        if anchor is not None and (not isinstance(anchor, str) or anchor not in members):
            chk.add(f"{path}.anchor", f"{_q(anchor)} is not one of the family's members")
            ok = False
        if ok:
            out.append(LockedFamily(id=fid, members=tuple(members), anchor=anchor))
    return out


def _avoid(chk: _Checker, raw: Any, by_id: dict[str, Person]) -> set[frozenset[str]]:
    if raw is None:
        return set()
    if not isinstance(raw, list):
        chk.add("avoid", f"{_q(raw)} is not a list of pairs")
        return set()
    out = set()
    for i, pair in enumerate(raw):
        path = f"avoid[{i}]"
        if not isinstance(pair, list) or len(pair) != 2:
            chk.add(path, f"{_q(pair)} is not a pair of person ids")
            continue
        bad = False
        for j, pid in enumerate(pair):
            if not isinstance(pid, str) or pid not in by_id:
                chk.add(f"{path}[{j}]", f"{_q(pid)} is not the id of a person in the cohort")
                bad = True
        if not bad and pair[0] == pair[1]:
            chk.add(path, "a person cannot avoid themselves", pair[0])
            bad = True
        if not bad:
            out.add(frozenset(pair))
    return out


def load_cohort(data: Any) -> Cohort:
    """Check a cohort dict against spec/matching.md and return it typed.

    :raises CohortError: naming each bad field path and person.
    """
    chk = _Checker(reference())
    if not isinstance(data, dict):
        raise CohortError(f"cohort: {_q(data)[:60]} is not an object")
    if data.get("version") != 1:
        chk.add("version", f"{_q(data.get('version'))} is not 1")
    raw_people = data.get("people")
    if not isinstance(raw_people, list):
        chk.add("people", f"{_q(raw_people)[:60]} is not a list")
        raw_people = []
    people, by_id = [], {}
    for i, raw in enumerate(raw_people):
        person = _person(chk, raw, i)
        if person is None:
            continue
        if person.id in by_id:
            chk.add(
                f"people[{i}].id",
                f"{_q(person.id)} is used by people[{by_id[person.id].index}] too",
                person.id,
            )
            continue
        by_id[person.id] = person
        people.append(person)
    locked = _locked(chk, data.get("locked"), by_id)
    avoid = _avoid(chk, data.get("avoid"), by_id)
    if chk.errors:
        shown = chk.errors[:20]
        more = len(chk.errors) - len(shown)
        message = "\n".join(shown) + (f"\n... and {more} more" if more else "")
        raise CohortError(message, chk.errors)
    return Cohort(people=tuple(people), locked=tuple(locked), avoid=frozenset(avoid))
