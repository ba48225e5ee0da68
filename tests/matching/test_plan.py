"""The time plan: phase ends in order within a region's time, and budgets within the limit."""

from __future__ import annotations

import time

import pytest

from matching.plan import PLAN, Clock, CohortPlan, TimePlan

# Newcomers per region of the synthetic national cohort (seed 0).
NATIONAL = {
    "east-midlands": 211,
    "east-of-england": 264,
    "kent-surrey-sussex": 158,
    "london": 246,
    "north-east": 145,
    "north-west": 315,
    "south-west": 158,
    "thames-valley": 88,
    "wessex": 106,
    "west-midlands": 290,
    "yorkshire-humber": 242,
}


@pytest.mark.parametrize("plan", [PLAN.small, PLAN.large], ids=["small", "large"])
def test_phase_ends_come_in_pipeline_order_within_the_regions_time(plan):
    shares = [share for _, share in plan.ends()]
    assert all(0 < share for share in shares)
    assert shares == sorted(shares)
    assert shares[-1] <= 1.0 + 1e-9


def test_the_large_plan_leaves_room_for_what_follows_generation():
    large = PLAN.large
    # A set dive that starts at the latest generation end still ends before the passes'.
    assert large.generation_extend_to + large.set_dive_least < large.exact_end
    assert large.set_dive_end <= large.slow_dive_from < large.slow_dive_end
    assert large.worker_dive_grace_s > 0


def test_size_classes():
    assert not PLAN.is_large(PLAN.large_from)
    assert PLAN.is_large(PLAN.large_from + 1)
    assert TimePlan(large_from=10).is_large(11)


def test_one_region_gets_the_solve_share_of_the_limit():
    cohort = CohortPlan()
    for parallel in (False, True):
        budgets = cohort.region_budgets(
            {"wessex": 106}, time_limit_s=60, parallel=parallel, workers=2
        )
        assert budgets == {"wessex": pytest.approx(cohort.solve_share * 60)}


@pytest.mark.parametrize("limit", [60.0, 300.0])
def test_regions_in_turn_share_the_limit_by_size(limit):
    budgets = PLAN.cohort.region_budgets(NATIONAL, time_limit_s=limit, parallel=False, workers=1)
    assert sum(budgets.values()) <= limit
    assert budgets["north-west"] > budgets["london"] > budgets["thames-valley"]


@pytest.mark.parametrize("workers", [2, 4])
def test_regions_in_parallel_never_exceed_the_limit(workers):
    limit = 300.0
    budgets = PLAN.cohort.region_budgets(
        NATIONAL, time_limit_s=limit, parallel=True, workers=workers
    )
    assert all(PLAN.cohort.least_region_s * 0.9 <= b <= limit for b in budgets.values())
    # Together they fit in the workers' time.
    assert sum(budgets.values()) <= limit * workers
    order = sorted(NATIONAL, key=NATIONAL.get)
    assert [budgets[r] for r in order] == sorted(budgets[r] for r in order)


def test_tiny_regions_get_the_least_budget():
    budgets = PLAN.cohort.region_budgets(
        {"big": 300, "tiny": 1}, time_limit_s=10, parallel=False, workers=1
    )
    assert budgets["tiny"] == pytest.approx(PLAN.cohort.solve_share * PLAN.cohort.least_region_s)


def test_clock_shares():
    clock = Clock(time.monotonic(), 10.0)
    assert clock.at(0.0) == clock.start
    assert clock.at(1.0) == pytest.approx(clock.start + 10.0)
    assert clock.before(0.5)
    assert 0 < clock.left() <= 10.0
    assert clock.from_now(0.1) >= clock.at(0.1)
    assert not Clock(time.monotonic() - 5.0, 1.0).before(1.0)
