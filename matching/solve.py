"""`solve_families`: regions solved independently (in parallel processes), then one result."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .assemble import assign_newcomers, improve, round_lp
from .config import FamilySettings, family_settings
from .flow import fair_selection, max_coverage
from .greedy import greedy_region
from .instance import Family, RegionInstance
from .lns import candidate_sets
from .lns import search as lns_search
from .model import (
    ColumnGenerationStats,
    LPMaster,
    SolverFailure,
    dive,
    generate_columns,
    set_dive,
    solve_integer_master,
)
from .pricing import PricingPool
from .reasons import newcomer_reasons, unmatched_reason
from .schema import Cohort, NoSolution
from .validate import metrics

Progress = Callable[[dict[str, Any]], None]
TWO_STAGE_FROM = 150  # newcomers in a region above which fair selection is applied in two stages
STAGE_ONE_END = 0.3  # share of a region's time for the open problem's columns (two stages)
CG_END = 0.62  # share of a region's time after which column generation stops
EXACT_END = 0.8  # no exact pricing pass may run past this share (it would eat the LNS time)
# Regions above TWO_STAGE_FROM newcomers: beam rounds only until LARGE_CG_END, then the set
# dive (it fixes what is left at once after SET_DIVE_END), then exact pricing passes for the
# bound until LARGE_EXACT_END; no CP-SAT over the columns (it found no solution in 2 s).
LARGE_CG_END = 0.48
SET_DIVE_END = 0.68
SET_DIVE_SHARE = 0.12
LARGE_EXACT_END = 0.96
DIVE_FRACTION = 0.2  # share of the free anchors whose buddy sets one set-dive step fixes
OTHER_DIVE_FRACTION = 0.3  # the same in a pool worker's dive
OTHER_DIVE_GRACE = 5.0  # s past the dives' deadline for the worker's dive to fix the rest
SLOW_DIVE_FRACTION = 0.1  # the slower dive when the passes converge early
SECOND_DIVE_FROM = 0.7  # passes done before this share: a second, slower set dive
SECOND_DIVE_END = 0.93  # it fixes the rest at once after this share
LNS_END = 0.97  # share of a region's time the large-neighbourhood search may use
SIZE_EXPONENT = 1.3  # regions share the time in proportion to newcomers ** this


@dataclass
class RegionOutcome:
    """What one region's solve returns to the parent process."""

    region: str
    families: list[
        tuple[str, tuple[str, ...], tuple[str, ...]]
    ]  # anchor id, buddy ids, newcomer ids
    quality: int
    bound: float
    matched: int
    coverage_max: int
    status: str
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def spread_lower_bound(inst: RegionInstance, coverage: int) -> int:
    """Smallest size spread any result matching `coverage` newcomers can have.

    A window [lo, hi] of family sizes is possible only if the max flow with anchor
    capacities cut to hi (anchors below lo removed) still reaches the coverage.
    """
    from .flow import max_coverage as flow

    if coverage == 0 or not inst.w_spread:
        return 0
    kmax = inst.settings.max_newcomers
    best = kmax - 1
    saved = inst.cap.copy()
    try:
        for width in range(kmax):
            for lo in range(1, kmax - width + 1):
                hi = lo + width
                inst.cap = np.where(saved >= lo, np.minimum(saved, hi), 0)
                if any(inst.cap[a] == 0 for a in inst.locked_of_anchor):
                    continue
                if flow(inst)[0] >= coverage:
                    return width
    finally:
        inst.cap = saved
    return best


def _trivial_quality_bound(inst: RegionInstance) -> float:
    """All quality points for every newcomer and family: a bound that holds for any coverage."""
    return float(
        len(inst.newcomers) * (int(inst.wq[7]) + inst.w_scheme)
        + len(inst.anchors) * (inst.w_three + inst.w_hosp)
    )


def _ids(inst: RegionInstance, fam: Family) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    a, extras, news = fam
    return (
        inst.buddies[a].id,
        tuple(inst.buddies[b].id for b in extras),
        tuple(inst.newcomers[n].id for n in news),
    )


def _key(inst: RegionInstance, fams: list[Family]) -> tuple[int, int]:
    """Lexicographic: matched newcomers first, then quality (spread included)."""
    return sum(len(f[2]) for f in fams), inst.solution_quality(fams)


def _locked_ok(inst: RegionInstance, fams: list[Family]) -> bool:
    anchors = {f[0] for f in fams}
    return all(a in anchors for a in inst.locked_of_anchor)


def solve_region(
    cohort: Cohort,
    region: str,
    settings: FamilySettings,
    *,
    time_limit_s: float,
    seed: int,
    workers: int,
    report: Callable[[str, float | None, float | None], None] | None = None,
) -> RegionOutcome:
    """Best families for one region; if an LP or CP-SAT step fails, the greedy + local search.

    :raises NoSolution: when a locked family cannot be completed under the rules.
    """
    start = time.monotonic()
    try:
        return _solve_region(
            cohort,
            region,
            settings,
            time_limit_s=time_limit_s,
            seed=seed,
            workers=workers,
            report=report,
        )
    except SolverFailure as exc:
        return _fallback_region(cohort, region, settings, seed=seed, start=start, reason=str(exc))


def _fallback_region(
    cohort: Cohort, region: str, settings: FamilySettings, *, seed: int, start: float, reason: str
) -> RegionOutcome:
    """A valid result without LP: greedy + local search, with the trivial bound."""
    inst = RegionInstance(cohort, region, settings)
    coverage_max, _ = max_coverage(inst)
    free = [n for n in range(len(inst.newcomers)) if inst.owner_n[n] < 0]
    if settings.choose_unmatched == "arrival" and coverage_max < len(free) + sum(
        len(f.newcomers) for f in inst.locked
    ):
        chosen = fair_selection(inst, seed)
        inst.eligible[[n for n in free if n not in chosen], :] = False
    fams = improve(inst, greedy_region(inst))
    if not _locked_ok(inst, fams):
        raise NoSolution(f"no family arrangement in {region} keeps every locked family (rule 5)")
    matched, quality = _key(inst, fams)
    return RegionOutcome(
        region=region,
        families=[_ids(inst, f) for f in fams],
        quality=quality,
        bound=max(float(quality), _trivial_quality_bound(inst)),
        matched=matched,
        coverage_max=coverage_max,
        status="feasible",
        seconds=time.monotonic() - start,
        stats={"picked": f"greedy + local search ({reason})"},
    )


def _set_dive_families(
    inst: RegionInstance, master: LPMaster, *, deadline: float, fraction: float
) -> list[Family] | None:
    """Families from a set dive with newcomers placed exactly; None if an LP step failed.

    The dive changes `master`: give it a copy (`LPMaster.copy`, or the copy a worker process
    rebuilds from a pickled master). After a dive, the LP's own duals gave an exact pass 100
    points looser (LP + 102 against LP + 25 to LP + 11 on north-west).
    """
    try:
        sets = set_dive(inst, master, deadline=deadline, fraction=fraction)
    except SolverFailure:
        return None  # the other candidates stand
    placed = [f for f in assign_newcomers(inst, sets) if not inst.family_violations(f)]
    return improve(inst, placed) if _locked_ok(inst, placed) else None


def _other_dive(future: Future | None, timeout: float) -> list[Family] | None:
    """A pool worker's set dive, or None if there is none, it failed or it overran."""
    if future is None:
        return None
    try:
        return future.result(timeout=max(0.0, timeout))
    except Exception:  # noqa: BLE001 - a lost worker must not lose the region's result
        return None


def _large_region_search(
    inst: RegionInstance,
    master: LPMaster,
    candidates: list[tuple[str, list[Family]]],
    pool: PricingPool | None,
    start: float,
    time_limit_s: float,
    last: ColumnGenerationStats,
    coverage: int,
) -> ColumnGenerationStats:
    """Regions above TWO_STAGE_FROM newcomers: set dives (two at once with a pool), exact
    passes for the bound, and a slower set dive if the passes converge early. Appends to
    `candidates`; returns the passes' statistics (their bound is on the LP's quality, before
    the spread)."""
    # Buddy sets fixed a few at a time with the LP re-solved in between, then newcomers
    # placed exactly (measured on north-west: 6,908-6,940 where rounding gave 6,850-6,906).
    # At least SET_DIVE_SHARE of the time even when generation ran late (see extend_to).
    dive_end = max(
        start + SET_DIVE_END * time_limit_s, time.monotonic() + SET_DIVE_SHARE * time_limit_s
    )
    # Dives are chaotic (one north-west LP: 6,916-6,942 over fractions of 0.15-0.3 and
    # small changes to the columns), so with a pool one of its workers dives too, at another
    # fraction, and the better result is kept. The worker dives on the copy it rebuilds from
    # the pickled master (`LPMaster.__reduce__`).
    other = (
        pool.run(_set_dive_families, inst, master, deadline=dive_end, fraction=OTHER_DIVE_FRACTION)
        if pool is not None
        else None
    )
    dived = _set_dive_families(inst, master.copy(), deadline=dive_end, fraction=DIVE_FRACTION)
    if dived is not None:
        candidates.append(("set dive", dived))
    dived = _other_dive(other, timeout=dive_end + OTHER_DIVE_GRACE - time.monotonic())
    if dived is not None:
        candidates.append((f"set dive ({OTHER_DIVE_FRACTION:.0%})", dived))
    # Exact pricing passes from the master's own warm start (the dives ran on copies), for
    # as long as the next pass fits.
    proof = generate_columns(
        inst,
        master,
        deadline=time.monotonic(),  # every round is an exact pass
        max_rounds=200,
        coverage=coverage,
        hard_deadline=start + LARGE_EXACT_END * time_limit_s,
        pass_estimate=last.pass_seconds or 3.0 * last.beam_seconds,
        pool=pool,
    )
    if time.monotonic() < start + SECOND_DIVE_FROM * time_limit_s:
        # The passes converged early: a slower dive with the time left, instead of LNS
        # steps that never improved on a set dive (measured).
        dived = _set_dive_families(
            inst,
            master.copy(),
            deadline=start + SECOND_DIVE_END * time_limit_s,
            fraction=SLOW_DIVE_FRACTION,
        )
        if dived is not None:
            candidates.append((f"set dive ({SLOW_DIVE_FRACTION:.0%})", dived))
    return proof


def _solve_region(
    cohort: Cohort,
    region: str,
    settings: FamilySettings,
    *,
    time_limit_s: float,
    seed: int,
    workers: int,
    report: Callable[[str, float | None, float | None], None] | None = None,
) -> RegionOutcome:
    """Greedy start, column generation, LP rounding, dives, CP-SAT or LNS; the best kept."""
    start = time.monotonic()
    deadline = start + time_limit_s
    inst = RegionInstance(cohort, region, settings)
    coverage_max, _ = max_coverage(inst)
    free = [n for n in range(len(inst.newcomers)) if inst.owner_n[n] < 0]
    waiting: list[int] = []
    locked_newcomers = sum(len(f.newcomers) for f in inst.locked)
    if settings.choose_unmatched == "arrival" and coverage_max < len(free) + locked_newcomers:
        # Not everyone can be matched: decide who waits blind to quality (see config).
        chosen = fair_selection(inst, seed)
        waiting = [n for n in free if n not in chosen]
    if not inst.newcomers:
        return RegionOutcome(region, [], 0, 0.0, 0, 0, "optimal", time.monotonic() - start)
    if waiting and len(inst.newcomers) <= TWO_STAGE_FROM:
        # Small regions: solve the fair problem directly (its LP converges in about 1 s).
        inst.eligible[waiting, :] = False
        two_stage = False
    else:
        two_stage = bool(waiting)
    greedy = greedy_region(inst)
    if report:
        report("greedy", inst.solution_quality(greedy), None)
    large = len(inst.newcomers) > TWO_STAGE_FROM
    cg_end = LARGE_CG_END if large else CG_END
    exact_end = cg_end if large else EXACT_END  # large: passes only after the set dive

    # The master starts empty (locked anchors have artificial columns): started from the
    # greedy's families, the LP sat at the greedy's degenerate vertex for 7-15 rounds (measured
    # on north-west and west-midlands, one core: 14 s of 43); the greedy stays a candidate.
    master = LPMaster(inst)

    best_known = inst.solution_quality(greedy)

    def cg_report(lp: float, bound: float | None) -> None:
        # Progress shows the best integer result so far against the proved bound.
        if report:
            report("column generation", best_known, bound)

    # Deterministic budgets (rounds) with the wall clock as a safety net.
    roundings: list[list[Family]] = []
    stats = generate_columns(
        inst,
        master,
        deadline=start + (STAGE_ONE_END if two_stage else cg_end) * time_limit_s,
        # Large one-stage regions: on a slow core the LP was still far from converged at 48%
        # (national run, west-midlands 11.8%); rounds go on while it climbs, to 62% at most.
        extend_to=start + CG_END * time_limit_s if large and not two_stage else None,
        max_rounds=200,
        report=cg_report,
        threads=workers,
        on_lp=None
        if waiting
        else lambda m: roundings.append(round_lp(inst, m.columns, m.primal())),  # noqa: E501
        coverage=coverage_max,
        # Large regions prove their bound after the set dive; the open problem's bound was
        # never the tighter one anyway (measured).
        prove=not large,
        hard_deadline=start + exact_end * time_limit_s,
    )  # leaves inst.W at the generation weight, which the LP's objective uses
    # Valid for every result matching coverage_max newcomers, whoever they are.
    bound = stats.bound - inst.w_spread * spread_lower_bound(inst, coverage_max)
    if two_stage:
        # Fair selection in a large region: columns were generated for the open problem (its
        # LP is far less degenerate than the one where exactly the chosen newcomers must be
        # placed, which stalled for 15+ rounds on north-west); now the waiting newcomers leave
        # every family, a few more rounds fill the gaps, and the open problem's bound holds.
        inst.eligible[waiting, :] = False
        waiting_set = set(waiting)
        for i, col in enumerate(master.columns):
            if waiting_set & set(col[2]):
                master.disable(i)
        inst.W = inst.W_full
        greedy = greedy_region(inst)
        for fam in greedy:
            if not inst.family_violations(fam):
                master.add(fam)
        more = generate_columns(
            inst,
            master,
            deadline=start + cg_end * time_limit_s,
            max_rounds=200,
            threads=workers,
            coverage=coverage_max,
            prove=False,  # the bound's passes come after the set dive
            extend_to=start + CG_END * time_limit_s,  # while the LP climbs (see above)
            hard_deadline=start + exact_end * time_limit_s,
            # Fair problem: its LPs may be rounded (every newcomer in them may be matched).
            on_lp=lambda m: roundings.append(round_lp(inst, m.columns, m.primal())),
        )
        bound = min(bound, more.bound - inst.w_spread * spread_lower_bound(inst, coverage_max))
    candidates: list[tuple[str, list[Family]]] = []
    if _locked_ok(inst, greedy):
        candidates.append(("greedy", greedy))
    _, pi, mu = master.solve()  # the last LP of the generation, read before any column is added
    lns_sets, lns_want = candidate_sets(inst, master.columns, pi, mu, per_anchor=10)
    if master.uses_artificial():
        names = ", ".join(
            inst.locked[inst.locked_of_anchor[a]].id for a in sorted(inst.locked_of_anchor)
        )
        raise NoSolution(
            f"a locked family in {region} cannot get a newcomer under the rules ({names}; rule 4)"
        )
    roundings.append(round_lp(inst, master.columns, master.primal()))
    for rounded in roundings:
        if _locked_ok(inst, rounded):
            candidates.append(("lp rounding", rounded))
    improved = improve(inst, greedy)
    if _locked_ok(inst, improved):
        candidates.append(("greedy + local search", improved))
    proof = None
    if large:
        # Exact passes of a single-region solve run in `workers` processes (threads gave
        # nothing: the GIL), and one of them runs the second set dive; started now so that
        # their start-up overlaps the dive; the workers copy the instance as it is now
        # (inst.W = w, final eligibility).
        pool = PricingPool(inst, workers) if workers > 1 and len(inst.anchors) >= 8 else None
        try:
            if pool is not None:
                pool.warm()
            proof = _large_region_search(
                inst,
                master,
                candidates,
                pool,
                start,
                time_limit_s,
                more if two_stage else stats,
                coverage_max,
            )
        finally:
            if pool is not None:
                pool.close()
        bound = min(bound, proof.bound - inst.w_spread * spread_lower_bound(inst, coverage_max))
    if not large and time.monotonic() < start + 0.85 * time_limit_s:
        dived = dive(inst, master, deadline=start + 0.85 * time_limit_s)
        if _locked_ok(inst, dived):
            candidates.append(("dive", improve(inst, dived)))
    inst.W = inst.W_full
    best_name, best = (
        max(candidates, key=lambda c: _key(inst, c[1])) if candidates else ("none", [])
    )
    if report:
        report("integer search", inst.solution_quality(best), bound)
    if not large:
        # CP-SAT over every generated column, hinted with the best so far (large regions:
        # no solution found in 2 s on north-west; the set dive and the passes use the time).
        for fam in best:
            master.add(fam)
        try:
            # Waiting newcomers are no longer eligible: drop their columns from the search.
            usable = [c for c in master.columns if all(inst.eligible[n, c[0]] for n in c[2])]
            ip = solve_integer_master(
                inst,
                usable,
                [inst.value(c) for c in usable],
                best,
                time_limit_s=max(0.2, min(deadline - time.monotonic(), 0.15 * time_limit_s)),
                deterministic_limit=max(1.0, 0.5 * time_limit_s),
                seed=seed,
                workers=workers,
            )
            if _locked_ok(inst, ip.families):
                candidates.append(("cp-sat", ip.families))
                polished = improve(inst, ip.families)
                if _locked_ok(inst, polished):
                    candidates.append(("cp-sat + local search", polished))
        except SolverFailure:
            pass  # the heuristic candidates stand
    if not candidates:
        raise NoSolution(f"no family arrangement in {region} keeps every locked family (rule 5)")
    best_name, best = max(candidates, key=lambda c: _key(inst, c[1]))
    lns_stats = None
    if (
        large  # small regions: the dive and CP-SAT do better
        and time.monotonic() < start + LNS_END * time_limit_s
        and _key(inst, best)[1] < bound
    ):
        improved, lns_stats = lns_search(
            inst,
            best,
            lns_sets,
            lns_want,
            deadline=start + LNS_END * time_limit_s,
            max_steps=max(10, 2 * len(inst.anchors)),
            seed=seed,
            workers=workers,
            target=float(np.floor(bound + 1e-6)),
        )
        if _locked_ok(inst, improved) and _key(inst, improved) > _key(inst, best):
            best_name, best = f"{best_name} + lns", improved
    matched, quality = _key(inst, best)
    # The bound is on the quality of results matching coverage_max newcomers (the most any
    # result can match); the LP ignores the spread penalty, so the least spread such a
    # result can have was subtracted. If we matched fewer, no quality bound is claimed.
    if matched < coverage_max:
        bound = max(bound, _trivial_quality_bound(inst))
    bound = float(np.floor(bound + 1e-6))
    status = "optimal" if matched == coverage_max and quality >= bound else "feasible"
    if report:
        report("done", quality, bound)
    return RegionOutcome(
        region=region,
        families=[_ids(inst, f) for f in best],
        quality=quality,
        bound=max(bound, float(quality)),
        matched=matched,
        coverage_max=coverage_max,
        status=status,
        seconds=time.monotonic() - start,
        stats={
            "picked": best_name,
            "rounds": stats.rounds,
            "columns": stats.columns,
            "lp_quality": round(stats.lp_value, 2),
            "greedy_quality": inst.solution_quality(greedy),
            "greedy_matched": sum(len(f[2]) for f in greedy),
            "waiting_by_arrival": len(waiting),
            "exact_passes": stats.exact_passes
            + (more.exact_passes if two_stage else 0)
            + (proof.exact_passes if proof else 0),
            "lns_steps": lns_stats.steps if lns_stats else 0,
            "lns_improved": lns_stats.improved if lns_stats else 0,
        },
    )


def _worker(args) -> RegionOutcome | str:
    cohort, region, settings, limit, seed, q = args

    def report(phase, obj, bound):
        q.put({"phase": phase, "objective": obj, "bound": bound, "region": region})

    try:
        return solve_region(
            cohort, region, settings, time_limit_s=limit, seed=seed, workers=1, report=report
        )
    except NoSolution as exc:
        return f"NoSolution:{exc}"


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
    # Time grows faster than size: a large region's LP needs more rounds *and* each round
    # prices more anchors against more newcomers, while small regions converge in seconds.
    weight = {r: sizes[r] ** SIZE_EXPONENT for r in regions}
    total = sum(weight.values()) or 1
    outcomes: dict[str, RegionOutcome] = {}

    def emit(event: dict) -> None:
        if progress:
            progress({**event, "elapsed": round(time.monotonic() - start, 2)})

    if len(regions) <= 1 or workers <= 1:
        for r in regions:
            # Regions run one after another: share the time limit by size.
            # Keep ~8% of the limit for reasons and metrics (exact passes never overrun:
            # see EXACT_END).
            share = 0.92 * (
                time_limit_s if len(regions) == 1 else max(1.0, time_limit_s * weight[r] / total)
            )

            def report(phase, obj, bound, r=r):
                emit({"phase": phase, "objective": obj, "bound": bound, "region": r})

            outcomes[r] = solve_region(
                cohort.subset(r),
                r,
                settings,
                time_limit_s=share,
                seed=seed,
                workers=workers,
                report=report,
            )
    else:
        ctx = mp.get_context("spawn")
        manager = ctx.Manager()
        q = manager.Queue()
        # Each worker process solves whole regions; a region's budget is its share of
        # (time limit x workers), capped at the time limit.
        budget = {
            r: 0.92 * min(time_limit_s, max(1.0, time_limit_s * workers * weight[r] / total * 0.9))
            for r in regions
        }
        order = sorted(regions, key=lambda r: (-sizes[r], r))
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                futures = {
                    r: pool.submit(_worker, (cohort.subset(r), r, settings, budget[r], seed, q))
                    for r in order
                }
                pending = set(futures)
                while pending:
                    try:
                        emit(q.get(timeout=0.5))
                    except queue.Empty:
                        pass
                    for r in list(pending):
                        if futures[r].done():
                            pending.discard(r)
                            out = futures[r].result()
                            if isinstance(out, str):
                                raise NoSolution(out.removeprefix("NoSolution:"))
                            outcomes[r] = out
                while True:
                    try:
                        emit(q.get_nowait())
                    except queue.Empty:
                        break
        finally:
            manager.shutdown()
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
