"""The phases of one region's solve; `solve.py` runs them in order.

Every phase reads the region (`Region`: its instances, the LP master that holds the columns,
the clock and the time plan) and returns what it `Found`: candidate results, in the order it
made them, and a proved bound on the quality of any result that matches the region's coverage
maximum (infinity when it proves none). No phase changes an instance: a step that needs
another newcomer weight or eligibility gets a derived instance (`Region.priced`,
`Region.open_priced`). Phases share the master: column generation grows it, dives work on
copies of it, CP-SAT chooses among its columns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .assemble import assign_newcomers, improve, round_lp
from .config import FamilySettings
from .flow import fair_selection, max_coverage, spread_lower_bound
from .instance import Family, RegionInstance
from .lns import candidate_sets
from .lns import search as lns_search
from .model import (
    MAX_ROUNDS,
    ColumnGenerationStats,
    LPMaster,
    SolverFailure,
    dive,
    generate_columns,
    generation_instance,
    next_pass_seconds,
    set_dive,
    solve_integer_master,
)
from .plan import PLAN, Clock, TimePlan
from .pricing import PARALLEL_FROM, PricingPool
from .schema import Cohort, NoSolution

Report = Callable[[str, float | None, float | None], None]  # phase, objective, bound

DIVE_FRACTION = 0.2  # share of the free anchors whose buddy sets one set-dive step fixes
WORKER_DIVE_FRACTION = 0.3  # the same in the pool worker's dive
SLOW_DIVE_FRACTION = 0.1  # the dive that uses the time left when the passes end early
LNS_SETS_PER_ANCHOR = 10  # buddy sets an anchor may choose among in the LNS
LNS_STEPS_PER_ANCHOR = 2  # the LNS stops after this many steps per anchor (at least 10)


class Candidate(NamedTuple):
    """A valid result for the region and how it was made."""

    name: str
    families: list[Family]


@dataclass
class Found:
    """What a phase found: candidates in the order made, a bound, exact passes run."""

    candidates: list[Candidate] = field(default_factory=list)
    bound: float = math.inf
    exact_passes: int = 0

    def add(self, other: Found) -> None:
        """Take in another phase's candidates; keep the tighter bound."""
        self.candidates += other.candidates
        self.bound = min(self.bound, other.bound)
        self.exact_passes += other.exact_passes

    def best(self, inst: RegionInstance) -> Candidate:
        """The best candidate (the first of equals), or an empty result named "none"."""
        if not self.candidates:
            return Candidate("none", [])
        return max(self.candidates, key=lambda c: inst.score(c.families))


@dataclass
class Generated(Found):
    """Column generation's result, with what later phases and the statistics read."""

    rounds: int = 0  # of the first (or only) stage
    columns: int = 0  # in the master at the end of the first stage
    lp_quality: float = 0.0  # the first stage's last LP, without the coverage weight
    pass_seconds: float = 0.0  # expected length of an exact pass
    final_columns: int = 0  # columns when generation ended, priced at `final_duals`
    final_duals: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))


@dataclass
class Searched(Found):
    """The large-neighbourhood search's result and its steps."""

    steps: int = 0
    improved: int = 0


def kept(inst: RegionInstance, name: str, families: list[Family] | None) -> list[Candidate]:
    """`families` as a candidate if it keeps every locked family, else none."""
    if families is None or not inst.keeps_locked(families):
        return []
    return [Candidate(name, families)]


@dataclass(frozen=True)
class Problem:
    """One region's problem: who may be matched, and how many can be."""

    inst: RegionInstance  # lexicographic weight; newcomers who wait are not eligible
    open: RegionInstance  # the same before anyone was made to wait
    waiting: tuple[int, ...]  # newcomers who wait, chosen by arrival (see config)
    coverage_max: int  # the most newcomers any valid result matches


def prepare(cohort: Cohort, region: str, settings: FamilySettings, *, seed: int) -> Problem:
    """The region's instance, its coverage maximum, and who waits when not all can be matched.

    :raises NoSolution: when a locked family breaks a rule by itself.
    """
    inst = RegionInstance(cohort, region, settings)
    coverage_max, _ = max_coverage(inst)
    free = [n for n in range(len(inst.newcomers)) if inst.owner_n[n] < 0]
    locked_newcomers = sum(len(f.newcomers) for f in inst.locked)
    waiting: list[int] = []
    if settings.choose_unmatched == "arrival" and coverage_max < len(free) + locked_newcomers:
        # Not everyone can be matched: decide who waits blind to quality (see config).
        chosen = fair_selection(inst, seed)
        waiting = [n for n in free if n not in chosen]
    fair = inst.without(waiting) if waiting else inst
    return Problem(fair, inst, tuple(waiting), coverage_max)


@dataclass(frozen=True)
class Region(Problem):
    """What the phases of one region's solve read: the problem, the LP master, the time."""

    priced: RegionInstance  # `inst` at the generation weight: LP values and pricing
    least_spread: int  # the smallest size spread of a result matching coverage_max
    master: LPMaster
    clock: Clock
    plan: TimePlan
    seed: int
    workers: int
    report: Report | None = None

    @classmethod
    def start(
        cls,
        problem: Problem,
        *,
        clock: Clock,
        seed: int,
        workers: int,
        report: Report | None = None,
        plan: TimePlan = PLAN,
    ) -> Region:
        """The phases' view of `problem`, with an empty master.

        The master starts empty (locked anchors have artificial columns): started from the
        greedy's families, the LP sat at the greedy's degenerate vertex for many rounds.
        """
        priced = generation_instance(problem.inst)
        return cls(
            **vars(problem),
            priced=priced,
            least_spread=spread_lower_bound(problem.inst, problem.coverage_max),
            master=LPMaster(priced),
            clock=clock,
            plan=plan,
            seed=seed,
            workers=workers,
            report=report,
        )

    @property
    def large(self) -> bool:
        return self.plan.is_large(len(self.inst.newcomers))

    def open_priced(self) -> RegionInstance:
        return generation_instance(self.open)

    def quality_bound(self, lp_bound: float, inst: RegionInstance | None = None) -> float:
        """A bound on the LP's quality less the least spread (the LP ignores the spread)."""
        spread = self.least_spread if inst is None else spread_lower_bound(inst, self.coverage_max)
        return lp_bound - self.inst.w_spread * spread


# -- greedy --------------------------------------------------------------------------------


def greedy_start(region: Region, greedy: list[Family]) -> Found:
    """The coordinator's greedy result (`greedy.greedy_region`) as the first candidate."""
    return Found(kept(region.inst, "greedy", greedy))


def greedy_local_search(region: Region, greedy: list[Family]) -> Found:
    """The greedy result polished by local search (buddy moves, exact newcomer placement)."""
    return Found(kept(region.inst, "greedy + local search", improve(region.inst, greedy)))


# -- column generation ---------------------------------------------------------------------


def column_generation(region: Region, greedy: list[Family]) -> Generated:
    """Columns for the master until the plan's generation end; its LPs rounded as candidates.

    Small regions solve the problem where the waiting newcomers are ineligible directly (its
    LP converges quickly) and prove the bound as they go. In large regions where some wait,
    placing exactly the chosen newcomers is an exact cover whose LP stalls; so columns are
    generated on the open problem first, then the waiting newcomers' columns are switched off
    and generation goes on for the fair problem. Large regions prove their bound after the
    set dive (`set_dives`).

    :raises NoSolution: when the LP cannot give a locked family a newcomer.
    """
    inst, master = region.inst, region.master
    roundings: list[list[Family]] = []

    def round_master(m: LPMaster) -> None:
        roundings.append(round_lp(inst, m.columns, m.primal()))

    greedy_quality = inst.solution_quality(greedy)

    def progress(lp: float, bound: float | None) -> None:
        # Progress shows the best integer result so far against the proved bound.
        if region.report:
            region.report("column generation", greedy_quality, bound)

    if region.large and region.waiting:
        first, last, bound = _two_stages(region, greedy, progress, round_master)
    else:
        first = last = _one_stage(region, progress, round_master)
        bound = region.quality_bound(first.bound)
    _, pi, mu = master.solve()  # the last LP of the generation, read before any column is added
    if master.uses_artificial():
        names = ", ".join(
            inst.locked[inst.locked_of_anchor[a]].id for a in sorted(inst.locked_of_anchor)
        )
        raise NoSolution(
            f"a locked family in {inst.region} cannot get a newcomer under the rules "
            f"({names}; rule 4)"
        )
    round_master(master)
    return Generated(
        candidates=[c for r in roundings for c in kept(inst, "lp rounding", r)],
        bound=bound,
        exact_passes=first.exact_passes + (last.exact_passes if last is not first else 0),
        rounds=first.rounds,
        columns=first.columns,
        lp_quality=first.lp_value,
        pass_seconds=next_pass_seconds(last),
        final_columns=len(master.columns),
        final_duals=(pi, mu),
    )


def _one_stage(region: Region, progress, round_master) -> ColumnGenerationStats:
    """Generation on the region's problem (small regions, or large ones where nobody waits)."""
    clock, plan = region.clock, region.plan
    if region.large:
        return generate_columns(
            region.priced,
            region.master,
            deadline=clock.at(plan.large.generation_end),
            # On a slow core the LP can still be far from converged at the generation end:
            # rounds go on while it climbs.
            extend_to=clock.at(plan.large.generation_extend_to),
            max_rounds=MAX_ROUNDS,
            report=progress,
            threads=region.workers,
            on_lp=round_master,
            coverage=region.coverage_max,
            prove=False,  # the bound's passes come after the set dive
            hard_deadline=clock.at(plan.large.generation_end),
        )
    return generate_columns(
        region.priced,
        region.master,
        deadline=clock.at(plan.small.generation_end),
        max_rounds=MAX_ROUNDS,
        report=progress,
        threads=region.workers,
        on_lp=None if region.waiting else round_master,
        coverage=region.coverage_max,
        hard_deadline=clock.at(plan.small.exact_end),
    )


def _two_stages(
    region: Region, greedy: list[Family], progress, round_master
) -> tuple[ColumnGenerationStats, ColumnGenerationStats, float]:
    """The open problem's columns, then the fair problem's; both stages' bounds hold."""
    clock, plan, master = region.clock, region.plan.large, region.master
    open_priced = region.open_priced()
    first = generate_columns(
        open_priced,
        master,
        deadline=clock.at(plan.open_problem_end),
        max_rounds=MAX_ROUNDS,
        report=progress,
        threads=region.workers,
        coverage=region.coverage_max,
        prove=False,  # only the fair problem's passes can give the tighter bound
        hard_deadline=clock.at(plan.generation_end),
    )
    # Valid for every result matching coverage_max newcomers, whoever they are.
    bound = region.quality_bound(first.bound, inst=open_priced)
    # The waiting newcomers leave every family; the greedy's families fill the gaps.
    waiting = set(region.waiting)
    for i, col in enumerate(master.columns):
        if waiting & set(col[2]):
            master.disable(i)
    for fam in greedy:
        if not region.inst.family_violations(fam):
            master.add(fam)
    second = generate_columns(
        region.priced,
        master,
        deadline=clock.at(plan.generation_end),
        max_rounds=MAX_ROUNDS,
        threads=region.workers,
        coverage=region.coverage_max,
        prove=False,  # the bound's passes come after the set dive
        extend_to=clock.at(plan.generation_extend_to),  # while the LP climbs
        hard_deadline=clock.at(plan.generation_end),
        # The fair problem's LPs may be rounded: every newcomer in them may be matched.
        on_lp=round_master,
    )
    return first, second, min(bound, region.quality_bound(second.bound))


# -- small regions: price-and-dive, CP-SAT -------------------------------------------------


def price_and_dive(region: Region) -> Found:
    """Fix the LP's surest families, re-price, repeat (small regions; on the master)."""
    end = region.plan.small.dive_end
    if not region.clock.before(end):
        return Found()
    dived = dive(region.priced, region.master, deadline=region.clock.at(end))
    if not region.inst.keeps_locked(dived):
        return Found()
    return Found(kept(region.inst, "dive", improve(region.inst, dived)))


def cp_sat(region: Region, best: Candidate) -> Found:
    """CP-SAT over every generated column, hinted with the best so far (small regions).

    In large regions it found no solution in the seconds it could have; the set dives and
    the passes use the time there.
    """
    inst, clock, plan = region.inst, region.clock, region.plan.small
    for fam in best.families:
        region.master.add(fam)
    # Waiting newcomers are not eligible: their columns leave the search.
    usable = [c for c in region.master.columns if all(inst.eligible[n, c[0]] for n in c[2])]
    try:
        ip = solve_integer_master(
            inst,
            usable,
            [inst.value(c) for c in usable],
            best.families,
            time_limit_s=max(
                plan.cp_sat_least_s, min(clock.left(), plan.cp_sat_share * clock.limit)
            ),
            deterministic_limit=max(plan.cp_sat_least_work, plan.cp_sat_work * clock.limit),
            seed=region.seed,
            workers=region.workers,
        )
    except SolverFailure:
        return Found()  # the heuristic candidates stand
    found = Found(kept(inst, "cp-sat", ip.families))
    if found.candidates:
        found.candidates += kept(inst, "cp-sat + local search", improve(inst, ip.families))
    return found


# -- large regions: set dives and the bound's passes, LNS ----------------------------------


def set_dives(region: Region, generated: Generated) -> Found:
    """Set dives (two at once with a pool), exact passes for the bound, maybe a slow dive.

    Buddy sets are fixed a few at a time with the LP re-solved in between, then newcomers are
    placed exactly. With `workers` > 1 the exact passes run in a pool of processes (threads
    gain nothing: the GIL), started now so that their start-up overlaps the dive.
    """
    pool = (
        PricingPool(region.priced, region.workers)
        if region.workers > 1 and len(region.inst.anchors) >= PARALLEL_FROM
        else None
    )
    try:
        if pool is not None:
            pool.warm()
        return _dives_and_passes(region, generated, pool)
    finally:
        if pool is not None:
            pool.close()


def _dives_and_passes(region: Region, generated: Generated, pool: PricingPool | None) -> Found:
    clock, plan, priced, master = region.clock, region.plan.large, region.priced, region.master
    found = Found()
    # At least set_dive_least of the time even when generation ran late (extend_to).
    dive_end = max(clock.at(plan.set_dive_end), clock.from_now(plan.set_dive_least))
    # Dives are chaotic (small changes to the fraction or the columns move the result either
    # way), so with a pool one of its workers dives too, at another fraction, and the better
    # result is kept. The worker dives on the copy it rebuilds from the pickled master.
    other = (
        pool.run(
            set_dive_families, priced, master, deadline=dive_end, fraction=WORKER_DIVE_FRACTION
        )
        if pool is not None
        else None
    )
    dived = set_dive_families(priced, master.copy(), deadline=dive_end, fraction=DIVE_FRACTION)
    found.candidates += kept(region.inst, "set dive", dived)
    dived = worker_result(other, timeout=dive_end + plan.worker_dive_grace_s - time.monotonic())
    found.candidates += kept(region.inst, f"set dive ({WORKER_DIVE_FRACTION:.0%})", dived)
    # Exact pricing passes from the master's own warm start (the dives ran on copies), for
    # as long as the next pass fits.
    proof = generate_columns(
        priced,
        master,
        deadline=time.monotonic(),  # every round is an exact pass
        max_rounds=MAX_ROUNDS,
        coverage=region.coverage_max,
        hard_deadline=clock.at(plan.exact_end),
        pass_estimate=generated.pass_seconds,
        pool=pool,
    )
    found.bound = region.quality_bound(proof.bound)
    found.exact_passes = proof.exact_passes
    if clock.before(plan.slow_dive_from):
        # The passes converged early: a slower dive with the time left, instead of LNS
        # steps that seldom improve on a set dive.
        dived = set_dive_families(
            priced,
            master.copy(),
            deadline=clock.at(plan.slow_dive_end),
            fraction=SLOW_DIVE_FRACTION,
        )
        found.candidates += kept(region.inst, f"set dive ({SLOW_DIVE_FRACTION:.0%})", dived)
    return found


def set_dive_families(
    inst: RegionInstance, master: LPMaster, *, deadline: float, fraction: float
) -> list[Family] | None:
    """Families from a set dive with newcomers placed exactly; None if an LP step failed.

    The dive changes `master`: give it a copy (`LPMaster.copy`, or the copy a worker process
    rebuilds from a pickled master): the exact passes after it need the master's own warm
    start, whose duals give a far tighter bound.
    """
    try:
        sets = set_dive(inst, master, deadline=deadline, fraction=fraction)
    except SolverFailure:
        return None  # the other candidates stand
    placed = [f for f in assign_newcomers(inst, sets) if not inst.family_violations(f)]
    return improve(inst, placed) if inst.keeps_locked(placed) else None


def worker_result(future: Future | None, timeout: float) -> list[Family] | None:
    """A pool worker's set dive, or None if there is none, it failed or it overran."""
    if future is None:
        return None
    try:
        return future.result(timeout=max(0.0, timeout))
    except Exception:  # noqa: BLE001 - a lost worker must not lose the region's result
        return None


def large_neighbourhoods(
    region: Region, best: Candidate, bound: float, generated: Generated
) -> Searched:
    """Large-neighbourhood search from the best result, with the time left (large regions).

    Deterministic for a seed: it stops after a number of steps, at the bound, or after
    steps without improvement; the wall clock is a safety net.
    """
    inst, clock, plan = region.inst, region.clock, region.plan.large
    if not clock.before(plan.lns_end) or inst.score(best.families)[1] >= bound:
        return Searched()
    sets, want = candidate_sets(
        region.priced,
        region.master.columns[: generated.final_columns],
        *generated.final_duals,
        per_anchor=LNS_SETS_PER_ANCHOR,
    )
    improved, stats = lns_search(
        inst,
        best.families,
        sets,
        want,
        deadline=clock.at(plan.lns_end),
        max_steps=max(10, LNS_STEPS_PER_ANCHOR * len(inst.anchors)),
        seed=region.seed,
        workers=region.workers,
        target=float(np.floor(bound + 1e-6)),
    )
    found = Searched(steps=stats.steps, improved=stats.improved)
    if inst.score(improved) > inst.score(best.families):
        found.candidates = kept(inst, f"{best.name} + lns", improved)
    return found
