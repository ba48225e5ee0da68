"""The time plan: when each phase of a solve ends, as shares of the time it has.

All of the solver's timing is here, so that a phase can be tuned without reading the others.
A region's shares are of that region's budget; `CohortPlan` says how the regions of a cohort
share the run's limit. A share is where a phase's deadline falls (the phase may end sooner),
and the shares of a plan come in the order the phases run (`ends`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SmallRegionPlan:
    """Regions up to `TimePlan.large_from` newcomers: the LP converges in seconds."""

    generation_end: float = 0.62  # beam rounds of column generation stop
    exact_end: float = 0.8  # no exact pricing pass may end past this
    dive_end: float = 0.85  # price-and-dive starts only before this and stops pricing here
    cp_sat_share: float = 0.15  # CP-SAT over the columns, and never past the region's end
    cp_sat_least_s: float = 0.2  # ... but at least this many seconds
    cp_sat_work: float = 0.5  # CP-SAT's deterministic limit per second of the region
    cp_sat_least_work: float = 1.0  # ... but at least this much

    def ends(self) -> list[tuple[str, float]]:
        """Phase ends in the order the phases run."""
        return [
            ("generation", self.generation_end),
            ("exact passes", self.exact_end),
            ("dive", self.dive_end),
            ("cp-sat", self.dive_end + self.cp_sat_share),
        ]


@dataclass(frozen=True)
class LargeRegionPlan:
    """Regions above `TimePlan.large_from` newcomers: set dives, passes for the bound, LNS."""

    open_problem_end: float = 0.3  # some must wait: columns of the open problem until here
    generation_end: float = 0.48  # beam rounds stop (generation's own passes too)
    generation_extend_to: float = 0.62  # ... unless the LP still climbs, up to here
    set_dive_end: float = 0.68  # the set dives fix the rest at once after this
    set_dive_least: float = 0.12  # ... but get at least this share when generation ran late
    worker_dive_grace_s: float = 5.0  # seconds past that for the worker's dive to finish
    slow_dive_from: float = 0.7  # passes done before this: a slower dive with the time left
    slow_dive_end: float = 0.93  # it fixes the rest at once after this
    exact_end: float = 0.96  # no exact pass for the bound may end past this
    lns_end: float = 0.97  # the large-neighbourhood search stops

    def ends(self) -> list[tuple[str, float]]:
        """Phase ends in the order the phases run."""
        return [
            ("open problem", self.open_problem_end),
            ("generation", self.generation_end),
            ("generation while the LP climbs", self.generation_extend_to),
            ("set dives", self.set_dive_end),
            ("slow dive", self.slow_dive_end),
            ("exact passes", self.exact_end),
            ("lns", self.lns_end),
        ]


@dataclass(frozen=True)
class CohortPlan:
    """How the regions of a cohort share the run's time limit."""

    solve_share: float = 0.92  # of a region's budget for its solve; the rest: reasons, metrics
    parallel_share: float = 0.9  # in worker processes: of (limit x workers), shared by size
    size_exponent: float = 1.3  # regions share in proportion to newcomers ** this
    least_region_s: float = 1.0  # no region gets less (before solve_share)

    def region_budgets(
        self, sizes: dict[str, int], *, time_limit_s: float, parallel: bool, workers: int
    ) -> dict[str, float]:
        """Seconds for each region's solve, from its newcomers (`sizes`, at least 1 each).

        Time grows faster than size: a large region's LP needs more rounds *and* each round
        prices more anchors against more newcomers, while small regions converge in seconds.
        In turn, the regions share the limit; in `workers` processes, each region gets its
        share of (limit x workers), never more than the limit.
        """
        weight = {r: n**self.size_exponent for r, n in sizes.items()}
        total = sum(weight.values()) or 1
        if not parallel:
            if len(sizes) == 1:
                return {r: self.solve_share * time_limit_s for r in sizes}
            return {
                r: self.solve_share * max(self.least_region_s, time_limit_s * weight[r] / total)
                for r in sizes
            }
        return {
            r: self.solve_share
            * min(
                time_limit_s,
                max(
                    self.least_region_s,
                    time_limit_s * workers * weight[r] / total * self.parallel_share,
                ),
            )
            for r in sizes
        }


@dataclass(frozen=True)
class TimePlan:
    """The whole schedule: small regions, large regions and how a cohort's regions share."""

    large_from: int = 150  # newcomers in a region above which it follows the large plan
    small: SmallRegionPlan = field(default_factory=SmallRegionPlan)
    large: LargeRegionPlan = field(default_factory=LargeRegionPlan)
    cohort: CohortPlan = field(default_factory=CohortPlan)

    def is_large(self, newcomers: int) -> bool:
        return newcomers > self.large_from


PLAN = TimePlan()


@dataclass(frozen=True)
class Clock:
    """A region's budget: when it started (`time.monotonic`) and how many seconds it has."""

    start: float
    limit: float

    def at(self, share: float) -> float:
        """The moment `share` of the budget has passed."""
        return self.start + share * self.limit

    def before(self, share: float) -> bool:
        """Whether less than `share` of the budget has passed."""
        return time.monotonic() < self.at(share)

    def from_now(self, share: float) -> float:
        """The moment `share` of the budget will have passed from now."""
        return time.monotonic() + share * self.limit

    def left(self) -> float:
        """Seconds left before the budget ends."""
        return self.start + self.limit - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start
