"""Plain-English reasons for matched newcomers; an actionable reason for unmatched ones."""

from __future__ import annotations

from .config import reference
from .instance import gender_ok
from .schema import Cohort, Person


def _names(kind: str, codes) -> str:
    ref = reference()
    table = {"lang": ref.languages, "interest": ref.interests, "country": ref.countries}[kind]
    return " and ".join(table.get(c, c) for c in sorted(codes))


def newcomer_reasons(cohort: Cohort, n: Person, anchor: Person, buddies: list[Person]) -> list[str]:
    """Why this newcomer is in this family, one short sentence per shared trait."""
    out = []
    for b in [anchor, *buddies]:
        common = n.languages & b.languages
        if common:
            out.append(f"speaks {_names('lang', common)}, like {b.id}")
            break
    if n.scheme is not None and n.scheme == anchor.scheme:
        scheme = reference().schemes(anchor.region or "").get(anchor.scheme, anchor.scheme)
        out.append(f"same scheme as {anchor.id} ({scheme})")
    for b in [anchor, *buddies]:
        common = n.interests & b.interests
        if common:
            out.append(f"interested in {_names('interest', common).lower()}, like {b.id}")
            break
    for b in [anchor, *buddies]:
        if n.country is not None and n.country == b.country:
            out.append(f"qualified in {_names('country', [n.country])}, like {b.id}")
            break
    if n.same_gender_anchor:
        out.append(f"asked for a same-gender anchor; {anchor.id} is the same gender")
    if not out:
        out.append(
            f"{anchor.id} anchors a family in "
            f"{reference().region_name(anchor.region or '')} with room;"
            " no buddy with room shares a language, interest, scheme or country"
        )
    return out


def unmatched_reason(cohort: Cohort, n: Person, families: list[dict], max_newcomers: int) -> str:
    """What a DA lead can do about a newcomer left without a family."""
    region = n.region or ""
    rname = reference().region_name(region)
    anchors = [
        p
        for p in cohort.people
        if p.role == "buddy" and p.region == region and p.can_anchor and p.capacity > 0
    ]
    if not anchors:
        return (
            f"no buddy who can anchor a family has signed up in {rname}; "
            "recruit ST3 or qualified GP anchors"
        )
    if n.same_gender_anchor and n.gender is None:
        return (
            "asked for a same-gender anchor but gave no gender; "
            "ask them to add it or drop the request"
        )
    same = [a for a in anchors if gender_ok(n, a)]
    if not same:
        return f"asked for a same-gender anchor; none in {rname}"
    size = {}
    in_family = {}
    for f in families:
        size[f["anchor"]] = len(f["newcomers"])
        members = [f["anchor"], *f.get("buddies", [])]
        for b in members:
            in_family[b] = f
    free = []
    for a in same:
        fam = in_family.get(a.id)
        if fam is None:
            free.append(a)
            continue
        if fam["anchor"] != a.id:
            continue
        limit = min(
            [max_newcomers, a.capacity]
            + [cohort.person(b).capacity for b in fam.get("buddies", [])]
        )
        if len(fam["newcomers"]) < limit:
            free.append(a)
    if not free:
        if n.same_gender_anchor:
            return f"asked for a same-gender anchor; none left with free capacity in {rname}"
        return f"no anchor with free capacity in {rname}; recruit anchors or raise capacities"
    if all(cohort.avoids(n.id, a.id) for a in free):
        return (
            f"every anchor with free capacity in {rname} is marked never together with them;"
            " check the never-together pairs"
        )
    return (
        f"anchors with room in {rname} could not take them without putting two people marked"
        " never together in one family or going over a buddy's capacity; review the"
        " never-together pairs or capacities"
    )
