"""Factories for small cohorts; the matching tests need neither Flask nor buddy/."""

from __future__ import annotations

import itertools

import pytest

from matching import load_cohort, solve_families, validate

_ids = itertools.count(1)


def newcomer(id=None, region="wessex", **kw):
    """A newcomer dict (cohort v1) with plain defaults."""
    base = {
        "id": id or f"n-{next(_ids):04d}",
        "role": "newcomer",
        "region": region,
        "scheme": None,
        "stage": "ST1",
        "languages": [],
        "interests": [],
        "country": None,
        "gender": "F",
        "same_gender_anchor": False,
        "wants_ambassador": False,
    }
    return base | kw


def buddy(id=None, region="wessex", **kw):
    """A buddy dict: by default a qualified GP in primary care who can anchor 4 newcomers."""
    base = {
        "id": id or f"b-{next(_ids):04d}",
        "role": "buddy",
        "region": region,
        "scheme": None,
        "stage": "qualified",
        "setting": "primary",
        "languages": [],
        "interests": [],
        "country": None,
        "gender": "F",
        "capacity": 4,
    }
    return base | kw


def ambassador(id=None, **kw):
    base = {
        "id": id or f"a-{next(_ids):04d}",
        "role": "ambassador",
        "region": "london",
        "stage": "qualified",
        "setting": "primary",
        "languages": [],
        "country": None,
        "capacity": 2,
    }
    return base | kw


def cohort(people, locked=None, avoid=None):
    return {"version": 1, "people": people, "locked": locked or [], "avoid": avoid or []}


def solve_valid(data, **kw):
    """Solve a cohort dict and check the result with the solver-free validator."""
    c = load_cohort(data)
    kw.setdefault("time_limit_s", 5.0)
    kw.setdefault("workers", 1)
    result = solve_families(c, **kw)
    assert validate(c, result) == []
    return c, result


def family_of(result, pid):
    for fam in result["families"]:
        if pid == fam["anchor"] or pid in fam["buddies"] or pid in fam["newcomers"]:
            return fam
    return None


def unmatched_reason(result, pid):
    return {u["id"]: u["reason"] for u in result["unmatched"]}.get(pid)


@pytest.fixture
def small_region():
    """A region cohort of 24 newcomers from the synthetic generator."""
    from matching.synthetic import region_cohort

    return region_cohort("wessex", seed=1, newcomers=24)
