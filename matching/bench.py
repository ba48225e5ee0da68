"""`python -m matching bench`: the solver against the greedy baseline on seeded synthetic cohorts.

Prints Markdown tables (paste-able into the README): time, matched vs the max-flow coverage
bound, objective, bound, gap and every metric, then fairness per newcomer group.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any

from .config import FAMILY_WEIGHT_KEYS, family_settings
from .greedy import greedy_region
from .instance import RegionInstance
from .schema import Cohort, load_cohort
from .solve import RegionOutcome, build_result, check_locked_regions, solve_families
from .synthetic import national_cohort, region_cohort
from .validate import validate

METRICS = ("coverage", *FAMILY_WEIGHT_KEYS)  # the result's metrics: coverage, then one per weight


def greedy_families(cohort: Cohort) -> dict[str, Any]:
    """The greedy baseline as a result dict (bound: none; its gap uses the solver's bound)."""
    settings = family_settings()
    check_locked_regions(cohort)
    start = time.monotonic()
    outcomes = []
    for region in cohort.regions():
        t0 = time.monotonic()
        sub = cohort.subset(region)
        inst = RegionInstance(sub, region, settings)
        fams = greedy_region(inst)
        matched, q = inst.score(fams)
        ids = [inst.ids(f) for f in fams]
        outcomes.append(
            RegionOutcome(region, ids, q, float(q), matched, 0, "feasible", time.monotonic() - t0)
        )
    result = build_result(cohort, settings, outcomes, time.monotonic() - start)
    result["status"] = "heuristic"
    return result


def _gap(obj: float, bound: float) -> str:
    if bound <= 0:
        return "0.00%"
    return f"{100.0 * (bound - obj) / bound:.2f}%"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _compare(
    name: str,
    cohort: Cohort,
    time_limit: float,
    workers: int,
    seed: int,
    out,
    with_quality_variant: bool = True,
) -> dict[str, Any]:
    t0 = time.monotonic()
    greedy = greedy_families(cohort)
    g_time = time.monotonic() - t0

    def progress(ev: dict) -> None:
        if ev.get("phase") in ("done", "finished"):
            print(
                f"  {ev['elapsed']:7.1f}s {ev['phase']} {ev.get('region') or ''} "
                f"objective {ev.get('objective')} bound {ev.get('bound')}",
                file=sys.stderr,
                flush=True,
            )

    t0 = time.monotonic()
    solver = solve_families(
        cohort, time_limit_s=time_limit, seed=seed, workers=workers, progress=progress
    )
    s_time = time.monotonic() - t0
    runs = [
        ("greedy (coordinator)", greedy, g_time),
        (f"solver ({family_settings().choose_unmatched})", solver, s_time),
    ]
    if with_quality_variant and family_settings().choose_unmatched != "quality":
        t0 = time.monotonic()
        alt = solve_families(
            cohort,
            time_limit_s=time_limit,
            seed=seed,
            workers=workers,
            progress=progress,
            settings=replace(family_settings(), choose_unmatched="quality"),
        )
        runs.append(("solver (quality)", alt, time.monotonic() - t0))
    for label, res, _ in runs:
        problems = validate(cohort, res)
        if problems:
            raise AssertionError(f"{label} result breaks rules: {problems[:3]}")
    # The greedy's gap is measured against the widest valid bound (any choice of who waits).
    widest = max(r["bound"] for _, r, _ in runs[1:])
    newcomers = solver["metrics"]["newcomers"]
    print(
        f"\n### {name}: {newcomers} newcomers, {len(cohort.role('buddy'))} buddies, "
        f"{len(cohort.regions())} region(s), time limit {time_limit:g} s, "
        f"seed {seed}, workers {workers}\n",
        file=out,
    )
    print(f"Coverage maximum (max-flow bound): **{solver['coverage_max']}** newcomers.\n", file=out)
    head = ["method", "time s", "matched", "objective", "bound", "gap", "status", *METRICS]
    print("| " + " | ".join(head) + " |", file=out)
    print("|" + "---|" * len(head), file=out)
    for label, res, secs in runs:
        m = res["metrics"]
        bound = widest if res is greedy else res["bound"]
        row = [
            label,
            f"{secs:.1f}",
            f"{m['matched']}/{solver['coverage_max']}",
            str(res["objective"]),
            str(bound),
            _gap(res["objective"], bound),
            res["status"],
            *(_fmt(m.get(k)) for k in METRICS),
        ]
        print("| " + " | ".join(row) + " |", file=out)
    if len(solver["regions"]) > 1:
        print("\nPer region (solver):\n", file=out)
        print(
            "| region | newcomers | matched | coverage max | objective | bound | gap | status "
            "| time s | greedy objective |",
            file=out,
        )
        print("|---|---|---|---|---|---|---|---|---|---|", file=out)
        for r, info in solver["regions"].items():
            g = greedy["regions"][r]
            n_r = sum(1 for p in cohort.role("newcomer") if p.region == r)
            print(
                f"| {r} | {n_r} | {info['matched']} | {info['coverage_max']} | "
                f"{info['objective']} | {info['bound']} | "
                f"{_gap(info['objective'], info['bound'])} | "
                f"{info['status']} | {info['seconds']:.1f} | {g['objective']} |",
                file=out,
            )
    print(
        "\nFairness: largest gap between newcomer groups (groups of 10 or more), "
        "best / worst group:\n",
        file=out,
    )
    print("| grouping | metric | " + " | ".join(label for label, _, _ in runs) + " |", file=out)
    print("|---|---|" + "---|" * len(runs), file=out)
    for kind in ("country", "language"):
        for metric in ("coverage", "language", "interest", "scheme", "country"):
            cells = []
            for _, res, _ in runs:
                g = res["metrics"]["fairness"][kind]["largest_gap"].get(metric)
                cells.append(f"{g['gap']:.3f} ({g['best']} / {g['worst']})" if g else "-")
            print(f"| {kind} | {metric} | " + " | ".join(cells) + " |", file=out)
    return {"greedy": greedy, "solver": solver, "greedy_s": g_time, "solver_s": s_time}


def run_bench(
    *,
    size: str = "region",
    seed: int = 0,
    time_limit_s: float | None = None,
    workers: int = 2,
    out=None,
) -> None:
    """Run the benchmark for `size` ("region": small and large; "national") and print tables."""
    out = out or sys.stdout
    print(
        f"# matching bench ({size}), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", file=out
    )
    if size == "region":
        small = load_cohort(region_cohort("thames-valley", seed, newcomers=60))
        _compare(
            "small region (thames-valley, 60 newcomers)",
            small,
            time_limit_s or 5.0,
            workers,
            seed,
            out,
        )
        large = load_cohort(region_cohort("north-west", seed))
        _compare("large region (north-west)", large, time_limit_s or 60.0, workers, seed, out)
    else:
        nat = load_cohort(national_cohort(seed))
        _compare(
            "national cohort (11 regions)",
            nat,
            time_limit_s or 300.0,
            workers,
            seed,
            out,
            with_quality_variant=False,
        )
