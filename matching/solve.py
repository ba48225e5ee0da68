"""`solve_families`: regions solved independently (in parallel processes), then one result.

A region's solve is a list of phases (`phases.py`) under the time plan (`plan.py`): the
greedy start, column generation with LP rounding, local search on the greedy, then the set
dives and the bound's passes (large regions) or price-and-dive (small regions), CP-SAT over
the columns (small) and the large-neighbourhood search (large). The best candidate is kept,
compared on matched newcomers first, then quality.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .assemble import improve
from .config import FamilySettings, family_settings
from .greedy import greedy_region
from .instance import Family
from .model import SolverFailure
from .phases import (
    Found,
    Generated,
    Problem,
    Region,
    Report,
    Searched,
    column_generation,
    cp_sat,
    greedy_local_search,
    greedy_start,
    large_neighbourhoods,
    prepare,
    price_and_dive,
    set_dives,
)
from .plan import PLAN, Clock
from .reasons import newcomer_reasons, unmatched_reason
from .schema import Cohort, NoSolution
from .validate import metrics

Progress = Callable[[dict[str, Any]], None]


@dataclass
class RegionOutcome:
    """What one region's solve returns to the parent process."""

    region: str
    families: list[tuple[str, tuple[str, ...], tuple[str, ...]]]  # anchor, buddies, newcomers
    quality: int
    bound: float
    matched: int
    coverage_max: int
    status: str
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def solve_region(
    cohort: Cohort,
    region: str,
    settings: FamilySettings,
    *,
    time_limit_s: float,
    seed: int,
    workers: int,
    report: Report | None = None,
) -> RegionOutcome:
    """Best families for one region; if an LP or CP-SAT step fails, the greedy + local search.

    :raises NoSolution: when a locked family cannot be completed under the rules.
    """
    clock = Clock(time.monotonic(), time_limit_s)
    problem = prepare(cohort, region, settings, seed=seed)
    if not problem.inst.newcomers:
        return RegionOutcome(region, [], 0, 0.0, 0, 0, "optimal", clock.elapsed())
    try:
        return _run_phases(
            Region.start(problem, clock=clock, seed=seed, workers=workers, report=report)
        )
    except SolverFailure as exc:
        return _fallback(problem, clock, reason=str(exc))


def _run_phases(region: Region) -> RegionOutcome:
    """The phases in order; each adds candidates and may tighten the bound."""
    inst, report = region.inst, region.report
    greedy = greedy_region(inst)
    if report:
        report("greedy", inst.solution_quality(greedy), None)
    found = greedy_start(region, greedy)
    generated = column_generation(region, greedy)
    found.add(generated)
    found.add(greedy_local_search(region, greedy))
    found.add(set_dives(region, generated) if region.large else price_and_dive(region))
    if report:
        report("integer search", inst.solution_quality(found.best(inst).families), found.bound)
    if not region.large:
        found.add(cp_sat(region, found.best(inst)))
    if not found.candidates:
        raise NoSolution(
            f"no family arrangement in {inst.region} keeps every locked family (rule 5)"
        )
    searched = Searched()
    if region.large:  # small regions: the dive and CP-SAT do better
        searched = large_neighbourhoods(region, found.best(inst), found.bound, generated)
        found.add(searched)
    return _outcome(region, found, greedy=greedy, generated=generated, searched=searched)


def _outcome(
    region: Region,
    found: Found,
    *,
    greedy: list[Family],
    generated: Generated,
    searched: Searched,
) -> RegionOutcome:
    """The best candidate with its bound, status and statistics."""
    inst = region.inst
    best = found.best(inst)
    matched, quality = inst.score(best.families)
    # The bound is on the quality of results matching coverage_max newcomers (the most any
    # result can match); the LP ignores the spread penalty, so the least spread such a
    # result can have was subtracted. If we matched fewer, no quality bound is claimed.
    bound = found.bound
    if matched < region.coverage_max:
        bound = max(bound, inst.quality_ceiling())
    bound = float(np.floor(bound + 1e-6))
    status = "optimal" if matched == region.coverage_max and quality >= bound else "feasible"
    if region.report:
        region.report("done", quality, bound)
    return RegionOutcome(
        region=inst.region,
        families=[inst.ids(f) for f in best.families],
        quality=quality,
        bound=max(bound, float(quality)),
        matched=matched,
        coverage_max=region.coverage_max,
        status=status,
        seconds=region.clock.elapsed(),
        stats={
            "picked": best.name,
            "rounds": generated.rounds,
            "columns": generated.columns,
            "lp_quality": round(generated.lp_quality, 2),
            "greedy_quality": inst.solution_quality(greedy),
            "greedy_matched": sum(len(f[2]) for f in greedy),
            "waiting_by_arrival": len(region.waiting),
            "exact_passes": found.exact_passes,
            "lns_steps": searched.steps,
            "lns_improved": searched.improved,
        },
    )


def _fallback(problem: Problem, clock: Clock, *, reason: str) -> RegionOutcome:
    """A valid result without LP: greedy + local search, with the trivial bound."""
    inst = problem.inst
    fams = improve(inst, greedy_region(inst))
    if not inst.keeps_locked(fams):
        raise NoSolution(
            f"no family arrangement in {inst.region} keeps every locked family (rule 5)"
        )
    matched, quality = inst.score(fams)
    return RegionOutcome(
        region=inst.region,
        families=[inst.ids(f) for f in fams],
        quality=quality,
        bound=max(float(quality), inst.quality_ceiling()),
        matched=matched,
        coverage_max=problem.coverage_max,
        status="feasible",
        seconds=clock.elapsed(),
        stats={"picked": f"greedy + local search ({reason})"},
    )


@dataclass(frozen=True)
class RegionJob:
    """One region's solve as a job for this process or a worker process."""

    cohort: Cohort  # the region's people only
    region: str
    settings: FamilySettings
    time_limit_s: float
    seed: int

    def run(self, *, workers: int, emit: Progress) -> RegionOutcome:
        def report(phase, obj, bound):
            emit({"phase": phase, "objective": obj, "bound": bound, "region": self.region})

        return solve_region(
            self.cohort,
            self.region,
            self.settings,
            time_limit_s=self.time_limit_s,
            seed=self.seed,
            workers=workers,
            report=report,
        )


def _worker(job: RegionJob, q) -> RegionOutcome:
    """One region in a worker process; NoSolution reaches the parent through the future."""
    return job.run(workers=1, emit=q.put)


def check_locked_regions(cohort: Cohort) -> None:
    """Rule 1 for locked families, checked before the cohort is split by region.

    :raises NoSolution: when a locked family mixes regions.
    """
    for fam in cohort.locked:
        regions = sorted({str(cohort.person(m).region) for m in fam.members})
        if len(regions) > 1:
            raise NoSolution(f"locked family {fam.id} mixes regions {', '.join(regions)} (rule 1)")


def solve_families(
    cohort: Cohort,
    *,
    time_limit_s: float = 60.0,
    seed: int = 0,
    workers: int = 2,
    progress: Progress | None = None,
    settings: FamilySettings | None = None,
) -> dict[str, Any]:
    """Families for every region of the cohort, as the spec's result dict.

    :raises NoSolution: when the hard rules leave no valid result (the message names the rule).
    """
    settings = settings or family_settings()
    start = time.monotonic()
    check_locked_regions(cohort)
    regions = cohort.regions()
    sizes = {
        r: max(1, sum(1 for p in cohort.people if p.region == r and p.role == "newcomer"))
        for r in regions
    }
    parallel = len(regions) > 1 and workers > 1
    budgets = PLAN.cohort.region_budgets(
        sizes, time_limit_s=time_limit_s, parallel=parallel, workers=workers
    )

    def emit(event: dict) -> None:
        if progress:
            progress({**event, "elapsed": round(time.monotonic() - start, 2)})

    # In parallel, the largest regions start first.
    order = sorted(regions, key=lambda r: (-sizes[r], r)) if parallel else regions
    jobs = [RegionJob(cohort.subset(r), r, settings, budgets[r], seed) for r in order]
    if parallel:
        outcomes = _in_parallel(jobs, workers=workers, emit=emit)
    else:
        outcomes = {job.region: job.run(workers=workers, emit=emit) for job in jobs}
    result = build_result(
        cohort, settings, [outcomes[r] for r in regions], time.monotonic() - start
    )
    emit(
        {
            "phase": "finished",
            "objective": result["objective"],
            "bound": result["bound"],
            "region": None,
        }
    )
    return result


def _in_parallel(
    jobs: list[RegionJob], *, workers: int, emit: Progress
) -> dict[str, RegionOutcome]:
    """Whole regions in `workers` processes, in order; progress comes back by a queue.

    :raises NoSolution: as soon as a region has none (the message names the rule).
    """
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    q = manager.Queue()
    outcomes = {}
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = {job.region: pool.submit(_worker, job, q) for job in jobs}
            pending = set(futures)
            while pending:
                try:
                    emit(q.get(timeout=0.5))
                except queue.Empty:
                    pass
                for r in [r for r in pending if futures[r].done()]:
                    pending.discard(r)
                    outcomes[r] = futures[r].result()  # raises the region's NoSolution
            while True:
                try:
                    emit(q.get_nowait())
                except queue.Empty:
                    break
    finally:
        manager.shutdown()
    return outcomes


def build_result(
    cohort: Cohort, settings: FamilySettings, outcomes: list[RegionOutcome], seconds: float
) -> dict[str, Any]:
    """The spec's result dict from per-region outcomes: ids, reasons, unmatched, metrics."""
    locked_by_anchor = {cohort.locked_anchor(f): f.id for f in cohort.locked}
    taken = {f.id for f in cohort.locked}
    families = []
    for out in outcomes:
        number = 0
        for anchor, buddies, news in sorted(out.families):
            fid = locked_by_anchor.get(anchor)
            if fid is None:
                while True:
                    number += 1
                    fid = f"{out.region}-{number:03d}"
                    if fid not in taken:
                        break
                taken.add(fid)
            a = cohort.person(anchor)
            bs = [cohort.person(b) for b in buddies]
            families.append(
                {
                    "id": fid,
                    "region": out.region,
                    "anchor": anchor,
                    "buddies": list(buddies),
                    "newcomers": list(news),
                    "reasons": {n: newcomer_reasons(cohort, cohort.person(n), a, bs) for n in news},
                }
            )
    matched = {n for f in families for n in f["newcomers"]}
    unmatched = [
        {"id": p.id, "reason": unmatched_reason(cohort, p, families, settings.max_newcomers)}
        for p in cohort.people
        if p.role == "newcomer" and p.id not in matched
    ]
    all_optimal = all(o.status == "optimal" for o in outcomes)
    result = {
        "version": 1,
        "kind": "families",
        "status": "optimal" if all_optimal else "feasible",
        "objective": int(sum(o.quality for o in outcomes)),
        "bound": int(sum(o.bound for o in outcomes)),
        "seconds": round(seconds, 2),
        "settings": settings.as_dict()
        | {"coverage": "lexicographic: newcomers matched first, then weighted quality"},
        "families": families,
        "unmatched": unmatched,
        "coverage_max": int(sum(o.coverage_max for o in outcomes)),
        "regions": {
            o.region: {
                "status": o.status,
                "objective": o.quality,
                "bound": int(o.bound),
                "matched": o.matched,
                "coverage_max": o.coverage_max,
                "seconds": round(o.seconds, 2),
                **o.stats,
            }
            for o in outcomes
        },
    }
    result["metrics"] = metrics(cohort, result)
    return result
