"""Solver-free checks of a result against the hard rules, and the metrics of spec/matching.md.

Deliberately independent of the solver code: it reads the cohort and the result dict only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from .config import family_settings
from .schema import Cohort, Person

STAGES3 = {"ST1", "ST2", "ST3"}


@dataclass(frozen=True)
class Problem:
    """One broken family rule: `code` and the ids for programs, `text` for the command line.

    Codes: regions, anchor, buddy_role, newcomer_role, extra_buddies, secondary,
    newcomer_count, capacity, avoid, same_gender (family_problems); locked_missing,
    locked_lost, locked_anchor (locked_problems). `people` are cohort ids; `numbers` are the
    counts the rule compares. The web app words them for a DA lead (buddy/services/edits.py).
    """

    code: str
    family: str | None
    text: str
    people: tuple[str, ...] = ()
    numbers: tuple[int, ...] = ()


@dataclass(frozen=True)
class Room:
    """Free places in a family under rules 3 and 4: newcomers, buddies, and how many of
    those buddies may work in secondary care (hospital)."""

    newcomers: int
    buddies: int
    secondary: int


def _settings(result: dict) -> tuple[int, int, int]:
    d = family_settings()
    s = result.get("settings") or {}
    return (
        int(s.get("max_newcomers", d.max_newcomers)),
        int(s.get("max_extra_buddies", d.max_extra_buddies)),
        int(s.get("max_secondary", d.max_secondary)),
    )


def validate(cohort: Cohort, result: Any) -> list[str]:
    """Every rule violation of a families or ambassadors result (empty when valid)."""
    if not isinstance(result, dict):
        return ["result: not an object"]
    if result.get("kind") == "ambassadors":
        return _validate_ambassadors(cohort, result)
    if result.get("kind") != "families":
        return [f"result.kind: {result.get('kind')!r} is not families or ambassadors"]
    fams = result.get("families")
    if not isinstance(fams, list):
        return ["result.families: not a list"]
    out: list[str] = []
    seen: dict[str, str] = {}
    ids: set[str] = set()
    by_id: dict[str, dict] = {}
    for i, fam in enumerate(fams):
        where = f"families[{i}]"
        if not isinstance(fam, dict):
            out.append(f"{where}: not an object")
            continue
        fid = fam.get("id")
        where = f"family {fid}"
        if fid in ids:
            out.append(f"{where}: id used twice")
        ids.add(fid)
        by_id[fid] = fam
        members = [fam.get("anchor"), *fam.get("buddies", []), *fam.get("newcomers", [])]
        unknown = [m for m in members if m not in cohort.by_id]  # type: ignore[attr-defined]
        if unknown:
            out.append(f"{where}: unknown people {', '.join(map(str, unknown))}")
            continue
        for m in members:
            if m in seen:
                out.append(f"{where}: {m} is also in family {seen[m]} (rule 5)")
            seen[m] = fid
        out += [p.text for p in family_problems(cohort, result, fam)]
    out += [p.text for p in locked_problems(cohort, by_id)]
    out += _check_unmatched(cohort, result, seen)
    return out


def family_room(cohort: Cohort, result: dict, fam: dict) -> Room:
    """The places `fam` has left under rules 3 and 4 (what one more member may take)."""
    max_n, max_extra, max_sec = _settings(result)
    supporters = [cohort.person(x) for x in [fam["anchor"], *fam.get("buddies", [])]]
    buddies = supporters[1:]
    newcomer_limit = min([max_n, *(b.capacity for b in supporters)])
    free_buddies = max(0, max_extra - len(buddies))
    return Room(
        newcomers=max(0, newcomer_limit - len(fam.get("newcomers", []))),
        buddies=free_buddies,
        secondary=min(free_buddies,
                      max(0, max_sec - sum(b.setting == "secondary" for b in buddies))),
    )


def family_problems(cohort: Cohort, result: dict, fam: dict) -> list[Problem]:
    """Rules 1-4 and 6 on one family (its members must be in the cohort)."""
    max_n, max_extra, max_sec = _settings(result)
    fid = fam.get("id")
    where = f"family {fid}"
    out = []

    def problem(code: str, text: str, people=(), numbers=()) -> None:
        out.append(Problem(code, fid, f"{where}: {text}", tuple(people), tuple(numbers)))

    anchor = cohort.person(fam["anchor"])
    buddies = [cohort.person(b) for b in fam.get("buddies", [])]
    news = [cohort.person(n) for n in fam.get("newcomers", [])]
    people = [anchor, *buddies, *news]
    regions = {p.region for p in people} | {fam.get("region")}
    if len(regions) != 1:
        problem("regions", f"members from regions {sorted(map(str, regions))} (rule 1)",
                [p.id for p in people if p.region != fam.get("region")])
    if anchor.role != "buddy" or not anchor.can_anchor:
        problem("anchor", f"anchor {anchor.id} is not a buddy who can anchor (rule 2)",
                [anchor.id])
    for b in buddies:
        if b.role != "buddy":
            problem("buddy_role", f"{b.id} is listed as a buddy but is a {b.role} (rule 2)",
                    [b.id])
    for n in news:
        if n.role != "newcomer":
            problem("newcomer_role",
                    f"{n.id} is listed as a newcomer but is a {n.role} (rule 4)", [n.id])
    if len(buddies) > max_extra:
        problem("extra_buddies",
                f"{len(buddies)} buddies besides the anchor, at most {max_extra} (rule 3)",
                numbers=[len(buddies), max_extra])
    if sum(b.setting == "secondary" for b in buddies) > max_sec:
        problem("secondary", f"more than {max_sec} extra buddy in secondary care (rule 3)",
                [b.id for b in buddies if b.setting == "secondary"], [max_sec])
    if not 1 <= len(news) <= max_n:
        problem("newcomer_count", f"{len(news)} newcomers, must be 1 to {max_n} (rule 4)",
                numbers=[len(news), max_n])
    for b in [anchor, *buddies]:
        if len(news) > b.capacity:
            problem("capacity",
                    f"{len(news)} newcomers exceed the capacity {b.capacity} of {b.id} (rule 4)",
                    [b.id], [len(news), b.capacity])
    for x in people:
        for y in people:
            if x.id < y.id and cohort.avoids(x.id, y.id):
                problem("avoid", f"avoid pair {x.id}, {y.id} shares a family (rule 6)",
                        [x.id, y.id])
    for n in news:
        if n.same_gender_anchor and (n.gender is None or n.gender != anchor.gender):
            problem("same_gender",
                    f"{n.id} asked for a same-gender anchor; {anchor.id} is not (rule 6)",
                    [n.id, anchor.id])
    return out


def locked_problems(cohort: Cohort, by_id: dict[str, dict]) -> list[Problem]:
    """Rule 5: each locked family is present under its id with all its members."""
    out = []
    for lf in cohort.locked:
        fam = by_id.get(lf.id)
        if fam is None:
            out.append(Problem("locked_missing", lf.id,
                               f"locked family {lf.id} is missing (rule 5)", tuple(lf.members)))
            continue
        members = {fam["anchor"], *fam.get("buddies", []), *fam.get("newcomers", [])}
        lost = [m for m in lf.members if m not in members]
        if lost:
            out.append(Problem("locked_lost", lf.id,
                               f"locked family {lf.id} lost {', '.join(lost)} (rule 5)",
                               tuple(lost)))
        anchor = cohort.locked_anchor(lf)
        if anchor is not None and fam["anchor"] != anchor:
            out.append(Problem("locked_anchor", lf.id,
                               f"locked family {lf.id} must be anchored by {anchor} (rule 5)",
                               (anchor,)))
    return out


def _check_unmatched(cohort: Cohort, result: dict, placed: dict[str, str]) -> list[str]:
    """Every newcomer is in a family or in `unmatched` with a reason, exactly once."""
    out = []
    listed = set()
    for entry in result.get("unmatched", []) or []:
        pid = entry.get("id") if isinstance(entry, dict) else None
        if pid not in cohort.by_id:  # type: ignore[attr-defined]
            out.append(f"unmatched: {pid!r} is not a person in the cohort")
            continue
        if pid in placed:
            out.append(f"unmatched: {pid} is also in family {placed[pid]}")
        if not entry.get("reason"):
            out.append(f"unmatched: {pid} has no reason")
        listed.add(pid)
    for p in cohort.role("newcomer"):
        if p.id not in placed and p.id not in listed:
            out.append(f"newcomer {p.id} is neither in a family nor in unmatched")
    return out


def _validate_ambassadors(cohort: Cohort, result: dict) -> list[str]:
    """Ambassador rules: one ambassador per newcomer who asked, capacity, avoid pairs."""
    out = []
    pairs = result.get("pairs")
    if not isinstance(pairs, list):
        return ["result.pairs: not a list"]
    got: dict[str, str] = {}
    for i, pair in enumerate(pairs):
        amb_id = pair.get("ambassador") if isinstance(pair, dict) else None
        if amb_id not in cohort.by_id or cohort.person(amb_id).role != "ambassador":  # type: ignore[attr-defined]
            out.append(f"pairs[{i}]: {amb_id!r} is not an ambassador in the cohort")
            continue
        amb = cohort.person(amb_id)
        news = pair.get("newcomers", [])
        if len(news) > amb.capacity:
            out.append(
                f"pairs[{i}]: {len(news)} newcomers exceed the capacity {amb.capacity} of {amb_id}"
            )
        for n_id in news:
            if n_id not in cohort.by_id or cohort.person(n_id).role != "newcomer":  # type: ignore[attr-defined]
                out.append(f"pairs[{i}]: {n_id!r} is not a newcomer in the cohort")
                continue
            if not cohort.person(n_id).wants_ambassador:
                out.append(f"pairs[{i}]: {n_id} did not ask for an ambassador")
            if n_id in got:
                out.append(f"pairs[{i}]: {n_id} already has ambassador {got[n_id]}")
            got[n_id] = amb_id
            if cohort.avoids(n_id, amb_id):
                out.append(f"pairs[{i}]: avoid pair {n_id}, {amb_id}")
    return out


# -- metrics -----------------------------------------------------------------------------


def _share(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def _newcomer_flags(cohort: Cohort, result: dict) -> dict[str, dict[str, bool]]:
    """Per matched newcomer: language, interest, scheme, country met."""
    flags = {}
    for fam in result.get("families", []):
        anchor = cohort.person(fam["anchor"])
        buddies = [anchor, *(cohort.person(b) for b in fam.get("buddies", []))]
        for n_id in fam.get("newcomers", []):
            n = cohort.person(n_id)
            flags[n_id] = {
                "language": any(n.languages & b.languages for b in buddies),
                "interest": any(n.interests & b.interests for b in buddies),
                "scheme": n.scheme is not None and n.scheme == anchor.scheme,
                "country": n.country is not None and any(n.country == b.country for b in buddies),
            }
    return flags


def _family_metrics(cohort: Cohort, result: dict, newcomers: list[Person]) -> dict[str, Any]:
    flags = _newcomer_flags(cohort, result)
    matched = [n for n in newcomers if n.id in flags]
    buddies_by_region = defaultdict(list)
    for b in cohort.role("buddy"):
        if b.capacity > 0:
            buddies_by_region[b.region].append(b)
    could_lang = [
        n for n in matched if any(n.languages & b.languages for b in buddies_by_region[n.region])
    ]
    return {
        "newcomers": len(newcomers),
        "matched": len(matched),
        "coverage": _share(len(matched), len(newcomers)),
        "language": _share(sum(flags[n.id]["language"] for n in could_lang), len(could_lang)),
        "interest": _share(sum(flags[n.id]["interest"] for n in matched), len(matched)),
        "scheme": _share(sum(flags[n.id]["scheme"] for n in matched), len(matched)),
        "country": _share(sum(flags[n.id]["country"] for n in matched), len(matched)),
    }


def _group_of_country(p: Person) -> str:
    if p.country is None:
        return "unknown"
    return p.country


def fairness(cohort: Cohort, result: dict, min_group: int = 10) -> dict[str, Any]:
    """Newcomer metrics per country of qualification and per language, with the largest gap.

    Groups smaller than `min_group` are pooled as "other" so that one person does not make a gap.
    """
    newcomers = cohort.role("newcomer")
    out: dict[str, Any] = {}
    for kind in ("country", "language"):
        groups: dict[str, list[Person]] = defaultdict(list)
        for n in newcomers:
            keys = (
                [_group_of_country(n)] if kind == "country" else (sorted(n.languages) or ["none"])
            )
            for k in keys:
                groups[k].append(n)
        pooled: dict[str, list[Person]] = defaultdict(list)
        for k, members in groups.items():
            pooled[k if len(members) >= min_group else "other"].extend(members)
        table = {k: _family_metrics(cohort, result, v) for k, v in sorted(pooled.items())}
        gaps = {}
        for metric in ("coverage", "language", "interest", "scheme", "country"):
            vals = {
                k: v[metric]
                for k, v in table.items()
                if v[metric] is not None and v["newcomers"] >= min_group
            }
            if len(vals) >= 2:
                hi, lo = max(vals, key=vals.get), min(vals, key=vals.get)
                gaps[metric] = {"gap": round(vals[hi] - vals[lo], 4), "best": hi, "worst": lo}
        out[kind] = {"groups": table, "largest_gap": gaps}
    return out


def metrics(cohort: Cohort, result: dict) -> dict[str, Any]:
    """The spec's metrics of a result (families or ambassadors), plus fairness for families."""
    if result.get("kind") == "ambassadors":
        return _ambassador_metrics(cohort, result)
    newcomers = cohort.role("newcomer")
    out = _family_metrics(cohort, result, newcomers)
    fams = result.get("families", [])
    three = hosp = 0
    sizes: dict[str, list[int]] = defaultdict(list)
    for fam in fams:
        people = [
            cohort.person(fam["anchor"]),
            *(cohort.person(x) for x in fam.get("buddies", []) + fam.get("newcomers", [])),
        ]
        three += STAGES3 <= {p.stage for p in people}
        hosp += any(
            cohort.person(b).setting == "secondary"
            for b in [fam["anchor"], *fam.get("buddies", [])]
        )
        sizes[fam.get("region")].append(len(fam.get("newcomers", [])))
    spreads = {r: max(v) - min(v) for r, v in sizes.items()}
    out.update(
        {
            "families": len(fams),
            "three_stages": _share(three, len(fams)),
            "hospital": _share(hosp, len(fams)),
            "size_spread": max(spreads.values()) if spreads else 0,
            "size_spread_by_region": dict(sorted(spreads.items())),
            "family_sizes": dict(
                sorted(Counter(len(f.get("newcomers", [])) for f in fams).items())
            ),
        }
    )
    out["fairness"] = fairness(cohort, result)
    return out


def _ambassador_metrics(cohort: Cohort, result: dict) -> dict[str, Any]:
    wanting = [n for n in cohort.role("newcomer") if n.wants_ambassador]
    pairs = [
        (cohort.person(p["ambassador"]), cohort.person(n))
        for p in result.get("pairs", [])
        for n in p["newcomers"]
    ]
    m = len(pairs)
    return {
        "newcomers": len(wanting),
        "matched": m,
        "coverage": _share(m, len(wanting)),
        "same_country": _share(
            sum(n.country is not None and a.country == n.country for a, n in pairs), m
        ),
        "language": _share(sum(bool(a.languages & n.languages) for a, n in pairs), m),
        "same_region": _share(
            sum(a.region is not None and a.region == n.region for a, n in pairs), m
        ),
    }
