"""Large-neighbourhood search over buddy sets, after column generation.

LP rounding and the dives fix buddy sets from fractional LPs. Here a few related anchors at
a time give up their families: their extra buddies and newcomers, with every newcomer nobody
matched, are free again, and CP-SAT chooses
each freed anchor's buddy set among its candidate sets (the current one, none, and the sets
of its best generated columns) and places the free newcomers exactly. The rest of the region
stays as it is. Coverage comes first (the neighbourhood never matches fewer newcomers), then
quality including the region's size spread; a neighbourhood result is kept when it is at
least as good (equal results let the search move on plateaus).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from .instance import ALL_STAGES, Family, RegionInstance
from .model import cp_solver

BuddySet = tuple[int, ...]  # extra buddies of an anchor (sorted)


@dataclass
class Neighbourhood:
    """One CP-SAT subproblem: freed anchors, their candidate sets and the free newcomers."""

    anchors: list[int]
    sets: dict[int, list[BuddySet]]
    newcomers: list[int]
    fixed: list[Family]  # families that stay as they are
    matched_before: int  # newcomers matched by the freed families


@dataclass
class LNSStats:
    steps: int = 0
    improved: int = 0
    seconds: float = 0.0
    history: list = field(default_factory=list)


def candidate_sets(
    inst: RegionInstance,
    columns: list[Family],
    pi: np.ndarray,
    mu: np.ndarray,
    per_anchor: int,
) -> tuple[dict[int, list[BuddySet]], dict[int, set[int]]]:
    """Each anchor's most promising buddy sets, and the newcomers of its best columns.

    Reduced costs at the final LP duals rank them: a set in the LP's support, or close to
    entering it, is one an optimal solution is likely to use.
    """
    best: dict[int, dict[BuddySet, float]] = {}
    ranked: dict[int, list[tuple[float, Family]]] = {}
    for fam in columns:
        a, extras, news = fam
        rc = inst.value(fam) - float(pi[list(news)].sum()) - float(mu[[a, *extras]].sum())
        seen = best.setdefault(a, {})
        if rc > seen.get(extras, -np.inf):
            seen[extras] = rc
        ranked.setdefault(a, []).append((rc, fam))
    sets = {
        a: [s for s, _ in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))[:per_anchor]]
        for a, d in best.items()
    }
    want_n = {
        a: {n for _, f in sorted(cols, key=lambda c: (-c[0], c[1]))[:per_anchor] for n in f[2]}
        for a, cols in ranked.items()
    }
    return sets, want_n


def pick_neighbourhood(
    inst: RegionInstance,
    families: list[Family],
    sets: dict[int, list[BuddySet]],
    want_n: dict[int, set[int]],
    rng: random.Random,
    size: int,
) -> Neighbourhood:
    """A seed anchor, then anchors that trade buddies with the chosen ones.

    An anchor is related when its family holds a buddy that a chosen anchor's candidate sets
    want, or when its own candidate sets want a buddy that a chosen family would release:
    only then can the subproblem change buddy sets at all.
    """
    by_anchor = {f[0]: f for f in families}
    as_extra = {b for f in families for b in f[1]}
    # Anchors that may be freed: not locked, not serving as an extra in another family.
    pool = [a for a in inst.anchors if a not in inst.locked_of_anchor and a not in as_extra]
    if not pool:
        return Neighbourhood([], {}, [], list(families), 0)
    # People as ("b", buddy) and ("n", newcomer): newcomers count too, since most of what
    # rounding loses is newcomers in the wrong anchor's scheme (capacity spent elsewhere).
    wants = {
        a: {("b", b) for s in sets.get(a, ()) for b in s} | {("n", n) for n in want_n.get(a, ())}
        for a in pool
    }
    holds = {
        a: {("b", b) for b in by_anchor[a][1]} | {("n", n) for n in by_anchor[a][2]}
        if a in by_anchor
        else set()
        for a in pool
    }
    chosen = [rng.choice(pool)]
    wanted, released = set(wants[chosen[0]]), set(holds[chosen[0]])
    while len(chosen) < min(size, len(pool)):
        rest = [a for a in pool if a not in chosen]
        score = {a: len(holds[a] & wanted) + len(wants[a] & released) for a in rest}
        scored = sorted(rest, key=lambda a: (-score[a], a))
        # A little randomness among the most related keeps neighbourhoods varied.
        top = [a for a in scored[:3] if score[a] > 0] or rest
        pick = rng.choice(top)
        chosen.append(pick)
        wanted |= wants[pick]
        released |= holds[pick]
    freed = set(chosen)
    fixed = [f for f in families if f[0] not in freed]
    used_b = {b for f in fixed for b in (f[0], *f[1])}
    free_b = {
        b
        for b in range(len(inst.buddies))
        if b not in used_b and b not in freed and inst.owner_b[b] < 0
    }
    cand: dict[int, list[BuddySet]] = {}
    for a in sorted(freed):
        options = [()]
        if a in by_anchor:
            options.append(by_anchor[a][1])
        options += list(sets.get(a, ()))
        cand[a] = list(dict.fromkeys(s for s in options if all(b in free_b for b in s)))
    matched_n = {n for f in fixed for n in f[2]}
    freed_n = [n for a in freed if a in by_anchor for n in by_anchor[a][2]]
    waiting = [
        n
        for n in range(len(inst.newcomers))
        if n not in matched_n and inst.owner_n[n] < 0 and inst.eligible[n, sorted(freed)].any()
    ]
    newcomers = sorted(set(freed_n) | set(waiting))
    return Neighbourhood(sorted(freed), cand, newcomers, fixed, len(freed_n))


# -- the subproblem: one function per constraint -----------------------------------------


def add_one_set_per_anchor(model: cp_model.CpModel, y: dict) -> None:
    """Rule 2: an anchor leads at most one family (one buddy set, or none)."""
    by_a: dict[int, list] = {}
    for (a, _), var in y.items():
        by_a.setdefault(a, []).append(var)
    for a in sorted(by_a):
        model.AddAtMostOne(by_a[a])


def add_buddy_once(model: cp_model.CpModel, y: dict) -> None:
    """Rule 5: each free buddy joins at most one of the chosen sets."""
    by_b: dict[int, list] = {}
    for (_, s), var in y.items():
        for b in s:
            by_b.setdefault(b, []).append(var)
    for b in sorted(by_b):
        if len(by_b[b]) > 1:
            model.AddAtMostOne(by_b[b])


def add_newcomer_once(model: cp_model.CpModel, z: dict, everyone: bool) -> None:
    """Rule 5: each free newcomer is placed in at most one family.

    With `everyone` (the freed families matched every free newcomer), exactly one: coverage
    must not drop, and stating it per newcomer gives CP-SAT a much tighter model.
    """
    by_n: dict[int, list] = {}
    for (n, _, _), var in z.items():
        by_n.setdefault(n, []).append(var)
    for n in sorted(by_n):
        if everyone:
            model.AddExactlyOne(by_n[n])
        else:
            model.AddAtMostOne(by_n[n])


def add_family_size(model: cp_model.CpModel, inst: RegionInstance, y: dict, z: dict) -> dict:
    """Rule 4: a chosen set's family has 1..capacity newcomers; none if the set is not chosen.

    Returns the newcomers placed per (anchor, set), as linear expressions.
    """
    placed: dict[tuple[int, BuddySet], list] = {key: [] for key in y}
    for (_, a, s), var in z.items():
        placed[(a, s)].append(var)
    for (a, s), var in y.items():
        limit = min(int(inst.cap[b]) for b in (a, *s))
        model.Add(sum(placed[(a, s)]) <= limit * var)
        model.Add(sum(placed[(a, s)]) >= var)
    return placed


def add_newcomer_avoid(model: cp_model.CpModel, inst: RegionInstance, z: dict) -> None:
    """Rule 6: two newcomers who must not meet are never placed in the same family."""
    by_family: dict[tuple[int, BuddySet], dict[int, object]] = {}
    for (n, a, s), var in z.items():
        by_family.setdefault((a, s), {})[n] = var
    for key in sorted(by_family):
        there = by_family[key]
        for n in sorted(there):
            for m in sorted(inst.nn_avoid.get(n, ())):
                if m > n and m in there:
                    model.AddBoolOr([there[n].Not(), there[m].Not()])


def add_coverage_kept(model: cp_model.CpModel, z: dict, matched_before: int) -> None:
    """Coverage first: the neighbourhood matches at least as many newcomers as before."""
    model.Add(sum(z.values()) >= matched_before)


def add_three_stages(
    model: cp_model.CpModel, inst: RegionInstance, y: dict, z: dict
) -> list[tuple[int, object, tuple[int, BuddySet]]]:
    """Three-stage bonus of a chosen set: ST1, ST2, ST3 among its buddies and placed newcomers.

    Returns (points, indicator, (anchor, set)); an indicator is true only if the stages are.
    """
    terms = []
    if not inst.w_three:
        return terms
    by_family: dict[tuple[int, BuddySet], list[tuple[int, object]]] = {}
    for (n, a, s), var in z.items():
        by_family.setdefault((a, s), []).append((n, var))
    for (a, s), var in sorted(y.items()):
        missing = ALL_STAGES - {inst.bstage[b] for b in (a, *s)}
        if not missing:
            terms.append((inst.w_three, var, (a, s)))  # a chosen family has a newcomer
            continue
        placed = by_family.get((a, s), [])
        if not all(any(inst.nstage[n] == st for n, _ in placed) for st in missing):
            continue
        t = model.NewBoolVar("")
        model.AddImplication(t, var)
        for st in sorted(missing):
            model.AddBoolOr([t.Not(), *(v for n, v in placed if inst.nstage[n] == st)])
        terms.append((inst.w_three, t, (a, s)))
    return terms


def add_size_spread(
    model: cp_model.CpModel, inst: RegionInstance, y: dict, placed: dict, fixed: list[Family]
):
    """Largest minus smallest family size over the whole region; returns the spread variable."""
    kmax = inst.settings.max_newcomers
    smin = model.NewIntVar(1, kmax, "smin")
    smax = model.NewIntVar(1, kmax, "smax")
    model.Add(smin <= smax)
    if fixed:
        model.Add(smin <= min(len(f[2]) for f in fixed))
        model.Add(smax >= max(len(f[2]) for f in fixed))
    for key, var in y.items():
        size = sum(placed[key])
        # A chosen family's size pins the smallest size below it and the largest above it.
        model.Add(smin <= size).OnlyEnforceIf(var)
        model.Add(smax >= size).OnlyEnforceIf(var)
    spread = model.NewIntVar(0, kmax - 1, "spread")
    model.Add(spread == smax - smin)
    return spread, smin, smax


def _hint_current(model, inst, current, y, z, stage_terms, spread_vars) -> None:
    """A complete hint: the current families (CP-SAT often drops a partial one)."""
    now = {f[0]: f for f in current}
    for (a, s), var in y.items():
        model.AddHint(var, a in now and now[a][1] == s)
    for (n, a, s), var in z.items():
        model.AddHint(var, a in now and now[a][1] == s and n in now[a][2])
    for _, t, (a, s) in stage_terms:
        if t is not y[(a, s)]:
            fam = now.get(a)
            has = (
                fam is not None
                and fam[1] == s
                and ALL_STAGES
                <= {inst.bstage[a], *(inst.bstage[b] for b in s), *(inst.nstage[n] for n in fam[2])}
            )
            model.AddHint(t, bool(has))
    sizes = [len(f[2]) for f in current]
    spread, smin, smax = spread_vars
    model.AddHint(smin, min(sizes) if sizes else 1)
    model.AddHint(smax, max(sizes) if sizes else 1)
    model.AddHint(spread, (max(sizes) - min(sizes)) if sizes else 0)


def solve_neighbourhood(
    inst: RegionInstance,
    hood: Neighbourhood,
    current: list[Family],
    *,
    time_limit_s: float,
    deterministic_limit: float,
    seed: int,
    workers: int,
) -> list[Family] | None:
    """Best families for the neighbourhood with the rest fixed; None if CP-SAT found none."""
    model = cp_model.CpModel()
    y: dict[tuple[int, BuddySet], cp_model.IntVar] = {}
    z: dict[tuple[int, int, BuddySet], cp_model.IntVar] = {}
    points: list[tuple[int, object]] = []
    for a in hood.anchors:
        for s in hood.sets[a]:
            y[(a, s)] = var = model.NewBoolVar("")
            if inst.secondary[a] or any(inst.secondary[b] for b in s):
                points.append((inst.w_hosp, var))
            for n in hood.newcomers:
                if not inst.eligible[n, a] or any(inst.nb_avoid[n, b] for b in s):
                    continue
                z[(n, a, s)] = zv = model.NewBoolVar("")
                model.AddImplication(zv, var)
                points.append((inst.newcomer_points(n, a, s), zv))
    everyone = hood.matched_before == len(hood.newcomers)
    add_one_set_per_anchor(model, y)
    add_buddy_once(model, y)
    add_newcomer_once(model, z, everyone)
    placed = add_family_size(model, inst, y, z)
    add_newcomer_avoid(model, inst, z)
    add_coverage_kept(model, z, hood.matched_before)
    stage_terms = add_three_stages(model, inst, y, z)
    spread, smin, smax = add_size_spread(model, inst, y, placed, hood.fixed)
    terms = points + [(w, t) for w, t, _ in stage_terms]
    quality = sum(p * v for p, v in terms if p) - inst.w_spread * spread
    if everyone:
        model.Maximize(quality)
    else:
        # Lexicographic: one more matched newcomer outweighs all points of the neighbourhood.
        weight = sum(p for p, _ in terms) + inst.w_spread * inst.settings.max_newcomers + 1
        model.Maximize(weight * sum(z.values()) + quality)
    _hint_current(model, inst, current, y, z, stage_terms, (spread, smin, smax))
    solver = cp_solver(max(0.05, time_limit_s), max(0.05, deterministic_limit), seed, workers)
    # Full linearisation: with the default level the bound of a large region's neighbourhood
    # stays far above the hinted solution; with 2 the subproblems close within a step.
    solver.parameters.linearization_level = 2
    status = solver.Solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None  # UNKNOWN in the time given (or INFEASIBLE, which the hint rules out)
    chosen: dict[tuple[int, BuddySet], list[int]] = {
        key: [] for key, var in y.items() if solver.Value(var)
    }
    for (n, a, s), var in z.items():
        if solver.Value(var):
            chosen[(a, s)].append(n)
    out = list(hood.fixed) + [(a, s, tuple(sorted(news))) for (a, s), news in chosen.items()]
    return sorted(out)


def search(
    inst: RegionInstance,
    families: list[Family],
    sets: dict[int, list[BuddySet]],
    want_n: dict[int, set[int]],
    *,
    deadline: float,
    max_steps: int,
    seed: int,
    workers: int,
    target: float | None = None,
    size: int = 15,
    step_limit_s: float = 2.0,
    step_deterministic: float = 1.0,
    patience: int = 12,
) -> tuple[list[Family], LNSStats]:
    """Improve `families` neighbourhood by neighbourhood until max_steps, the deadline or target.

    `sets` and `want_n` come from `candidate_sets` (at the generation weight and final duals).

    Deterministic for a seed when it ends by max_steps, target or `patience` steps without
    improvement (each step has a deterministic CP-SAT limit); the wall clock is a safety net.
    """
    start = time.monotonic()
    stats = LNSStats()
    rng = random.Random(f"lns:{seed}")

    best = sorted(families)
    best_key = inst.score(best)
    since = 0  # steps since the last improvement
    for step in range(max_steps):
        left = deadline - time.monotonic()
        if left < 0.1 or (target is not None and best_key[1] >= target) or since >= patience:
            break
        hood = pick_neighbourhood(inst, best, sets, want_n, rng, size)
        if not hood.anchors:
            break
        stats.steps += 1
        cand = solve_neighbourhood(
            inst,
            hood,
            best,
            time_limit_s=min(step_limit_s, left),
            deterministic_limit=step_deterministic,
            seed=seed + step,
            workers=workers,
        )
        since += 1
        if cand is None or any(inst.family_violations(f) for f in cand):
            continue
        cand_key = inst.score(cand)
        if cand_key >= best_key:
            if cand_key > best_key:
                stats.improved += 1
                stats.history.append((round(time.monotonic() - start, 2), cand_key[1]))
                since = 0
            best, best_key = cand, cand_key
    stats.seconds = time.monotonic() - start
    return best, stats
