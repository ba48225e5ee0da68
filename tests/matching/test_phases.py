"""Each phase of a region's solve alone, on small regions: valid candidates, honest bounds.

The large plan's phases run on the same small regions with `TimePlan(large_from=10)`, which
makes a region of 20 newcomers follow it.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from matching import load_cohort, validate
from matching.config import family_settings
from matching.greedy import greedy_region
from matching.phases import (
    Candidate,
    Found,
    Region,
    column_generation,
    cp_sat,
    greedy_local_search,
    greedy_start,
    large_neighbourhoods,
    prepare,
    price_and_dive,
    set_dives,
)
from matching.plan import PLAN, Clock, TimePlan
from matching.synthetic import region_cohort

from .test_lns import _as_result

SOME_WAIT = ("wessex", 0)  # 20 newcomers, 2 wait for lack of anchors
NOBODY_WAITS = ("thames-valley", 0)  # 20 newcomers, all can be matched


def _region(slug, seed, *, plan=PLAN, workers=1, limit=10.0):
    cohort = load_cohort(region_cohort(slug, seed, newcomers=20))
    problem = prepare(cohort, slug, family_settings(), seed=seed)
    clock = Clock(time.monotonic(), limit)
    return cohort, Region.start(problem, clock=clock, seed=seed, workers=workers, plan=plan)


def _check(cohort, region: Region, found: Found) -> None:
    """Every candidate keeps the rules, waiting newcomers wait, and the bound holds."""
    inst = region.inst
    waiting = {inst.newcomers[n].id for n in region.waiting}
    for cand in found.candidates:
        assert validate(cohort, _as_result(cohort, inst, cand.families)) == [], cand.name
        assert not waiting & {n for f in cand.families for n in inst.ids(f)[2]}, cand.name
        matched, quality = inst.score(cand.families)
        assert matched <= region.coverage_max
        if matched == region.coverage_max:
            assert quality <= found.bound + 1e-6, cand.name


def _snapshot(region: Region):
    inst = region.inst
    return inst.W, inst.eligible.copy(), inst.cap.copy(), region.priced.W


def _unchanged(region: Region, before) -> None:
    w, eligible, cap, priced_w = before
    assert region.inst.W == w == region.inst.W_lexicographic
    assert np.array_equal(region.inst.eligible, eligible)
    assert np.array_equal(region.inst.cap, cap)
    assert region.priced.W == priced_w < w


@pytest.mark.parametrize("case", [SOME_WAIT, NOBODY_WAITS])
def test_greedy_start_and_its_local_search(case):
    cohort, region = _region(*case)
    greedy = greedy_region(region.inst)
    start = greedy_start(region, greedy)
    polished = greedy_local_search(region, greedy)
    assert [c.name for c in start.candidates] == ["greedy"]
    assert [c.name for c in polished.candidates] == ["greedy + local search"]
    assert start.bound == polished.bound == float("inf")  # they prove nothing
    inst = region.inst
    assert inst.score(polished.candidates[0].families) >= inst.score(greedy)
    _check(cohort, region, start)
    _check(cohort, region, polished)


@pytest.mark.parametrize("plan", [PLAN, TimePlan(large_from=10)], ids=["small", "large"])
@pytest.mark.parametrize("case", [SOME_WAIT, NOBODY_WAITS])
def test_column_generation_alone(case, plan):
    cohort, region = _region(*case, plan=plan)
    assert region.large == (plan is not PLAN)
    before = _snapshot(region)
    generated = column_generation(region, greedy_region(region.inst))
    _unchanged(region, before)
    assert generated.rounds > 0 and generated.columns > 0
    assert generated.final_columns == len(region.master.columns)
    assert generated.candidates and {c.name for c in generated.candidates} == {"lp rounding"}
    assert generated.bound <= region.inst.quality_ceiling()
    _check(cohort, region, generated)


@pytest.mark.parametrize("case", [SOME_WAIT, NOBODY_WAITS])
def test_price_and_dive_then_cp_sat_small_regions(case):
    cohort, region = _region(*case)
    greedy = greedy_region(region.inst)
    generated = column_generation(region, greedy)
    before = _snapshot(region)
    dived = price_and_dive(region)
    assert [c.name for c in dived.candidates] == ["dive"]
    _check(cohort, region, Found(dived.candidates, generated.bound))
    best = Candidate("greedy", greedy)
    searched = cp_sat(region, best)
    _unchanged(region, before)
    assert [c.name for c in searched.candidates] == ["cp-sat", "cp-sat + local search"]
    assert region.inst.score(searched.candidates[0].families) >= region.inst.score(greedy)
    _check(cohort, region, Found(searched.candidates, generated.bound))


def test_price_and_dive_past_its_end_does_nothing():
    _, region = _region(*NOBODY_WAITS, limit=0.01)
    time.sleep(0.02)
    assert price_and_dive(region).candidates == []


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("case", [SOME_WAIT, NOBODY_WAITS])
def test_set_dives_and_the_bounds_passes_alone(case, workers):
    cohort, region = _region(*case, plan=TimePlan(large_from=10), workers=workers)
    generated = column_generation(region, greedy_region(region.inst))
    before = _snapshot(region)
    found = set_dives(region, generated)
    _unchanged(region, before)
    names = [c.name for c in found.candidates]
    assert "set dive" in names
    if workers > 1:
        assert "set dive (30%)" in names  # the pool worker's dive
    assert found.exact_passes >= 1
    # The passes' bound and generation's are both bounds: each holds for every candidate.
    _check(cohort, region, found)
    _check(cohort, region, Found(found.candidates, generated.bound))


@pytest.mark.parametrize("case", [SOME_WAIT, NOBODY_WAITS])
def test_large_neighbourhood_search_alone(case):
    cohort, region = _region(*case, plan=TimePlan(large_from=10))
    greedy = greedy_region(region.inst)
    generated = column_generation(region, greedy)
    before = _snapshot(region)
    searched = large_neighbourhoods(region, Candidate("greedy", greedy), generated.bound, generated)
    _unchanged(region, before)
    assert searched.steps >= 1
    assert searched.improved >= 1 and len(searched.candidates) == 1
    (cand,) = searched.candidates
    assert cand.name == "greedy + lns"
    assert region.inst.score(cand.families) > region.inst.score(greedy)
    _check(cohort, region, Found(searched.candidates, generated.bound))


def test_large_neighbourhood_search_stops_at_the_bound():
    _, region = _region(*NOBODY_WAITS, plan=TimePlan(large_from=10))
    greedy = greedy_region(region.inst)
    generated = column_generation(region, greedy)
    at_bound = region.inst.solution_quality(greedy)
    searched = large_neighbourhoods(region, Candidate("greedy", greedy), at_bound, generated)
    assert searched.steps == 0 and searched.candidates == []
