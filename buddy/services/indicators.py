"""The programme's indicators: one function per figure, the same for every region.

The dashboard, the national table and the CSV exports all read these functions, so a figure
means the same everywhere. DEFINITIONS is printed under the national table.

Every figure can be read for one intake (`YYYY-MM`, buddy/intakes.py), so a region compares
this year with last year: the newcomers' figures (INTAKE_FIGURES) count that intake's
newcomers only; the others (volunteers, spare capacity, flags) are the region as it is now.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, func, select

import matching
from buddy import clock, intakes, states
from buddy.messaging.models import CheckIn, Flag
from buddy.models import Family, FamilyMember, Person, QualitySnapshot
from buddy.services.cohorts import family_cohort, key, published_families
from buddy.statuses import MATCHED_FAMILY_STATUSES, FamilyStatus, FlagStatus

CHECK_IN_DAYS = (7, 28, 56, 91)
ENGAGED_FROM_DAY = 56
UPCOMING_DAYS = 60
SMALL = 5  # cells below this are shown as "<5" outside their region
SUPPRESSED = "<5"
# Shown for a count of 5 or more hidden so that a count below 5 cannot be worked out from
# a total: it says nothing about its size.
HIDDEN = "hidden"

PIPELINE = ("signed_up", "matched", "arrived", "first_check_in_answered", "engaged_8_weeks")
# The figures that belong to an intake: the national time series shows these.
INTAKE_FIGURES = PIPELINE
DEFINITIONS = {
    "signed_up": "Newcomers who have signed up, whatever their status now (those who "
                 "have since become volunteers included).",
    "approved_volunteers": "Buddies and ambassadors approved by the DA lead and active now "
                           "(whatever the intake).",
    # The five steps of PIPELINE nest: each counts some of the newcomers of the step before,
    # so no figure can be larger than the one above it.
    "matched": "Signed up and in a buddy family: a published family, running or ended, "
               "whatever match run made it. A match run's page counts the same newcomers.",
    "arrived": "In a family, and their arrival or start date has passed.",
    "first_check_in_answered": "Arrived, and answered their first check-in (a week after "
                               "arrival).",
    "engaged_8_weeks": "Answered the first check-in, and answered a check-in again 8 weeks or "
                       "more after arrival (day 56 or 91). Someone who missed the first "
                       "check-in is not counted here; the check-ins table counts every answer.",
    "spare_capacity": "Newcomers that active buddies could still take now: each buddy's "
                      "capacity less the newcomers in their running family (whatever the "
                      "intake).",
    "arrivals_without_family": f"Active newcomers arriving in the next {UPCOMING_DAYS} days "
                               "who are not in a published family.",
    "open_flags": "Flags (a call asked for, an unclear reply, a failed message) not yet "
                  "contacted or resolved (whatever the intake).",
}


def _of_intake(intake):
    """People of `intake` (a value or a bind parameter), as a subquery of ids."""
    return select(Person.id).where(Person.intake == intake)


def _placed(region: str, intake=None, statuses: tuple[str, ...] = (FamilyStatus.PUBLISHED,)):
    """Newcomers (of `intake`, when given) in a family of `region` with one of `statuses`,
    as a subquery."""
    query = (select(FamilyMember.person_id).join(Family, Family.id == FamilyMember.family_id)
             .where(Family.region == region, Family.status.in_(statuses),
                    FamilyMember.place == "newcomer"))
    if intake is not None:
        query = query.where(FamilyMember.person_id.in_(_of_intake(intake)))
    return query


# Each figure of DEFINITIONS is one function returning its SQL expression, so that summary()
# reads a region's whole row in one query, built once with the region, dates and intake as
# parameters (measured: 15 round trips made the dashboard the slowest page under load, and
# building the statement anew cost more CPU than running it). `intake` is None for every
# intake; figures that are not about an intake's newcomers take no notice of it.

def _newcomers(region: str, intake=None):
    # A newcomer who became a volunteer keeps her intake (only newcomers are given one) and
    # stays in its figures: a past intake's row must not shrink as its alumni volunteer.
    query = select(func.count()).select_from(Person).where(Person.region == region)
    if intake is None:
        return query.where(sa.or_(Person.role == "newcomer", Person.intake.is_not(None)))
    return query.where(Person.intake == intake)


def signed_up(region: str, today: date, intake=None):
    return _newcomers(region, intake).scalar_subquery()


def has_family(region: str, intake=None):
    """Who "has a family": newcomers (of `intake`, when given) in a published family of
    `region`, running or ended, whatever run made it, as a subquery of person ids.

    The one definition: the dashboard's "In a family", the national table, the CSVs and a
    match run's page (intake_coverage) all count these newcomers. Ended families count:
    last year's intake was matched, even though its families have ended.
    """
    return _placed(region, intake, MATCHED_FAMILY_STATUSES)


def _answered_ids(region: str, days: tuple[int, ...]):
    """Newcomers who answered a check-in of one of these days, as a subquery of ids."""
    return (select(CheckIn.person_id).where(
        CheckIn.region == region, CheckIn.day.in_(days), CheckIn.answer.is_not(None))
        .distinct().subquery())


def _pipeline(region: str, today: date, intake, step: int, count: bool = True):
    """The newcomers at `step` of PIPELINE (0: signed up): each step is the step before with
    one more condition, so a step never counts more newcomers than the one above it.

    Their number as a scalar subquery, or (`count` False) a select of their ids."""
    query = _newcomers(region, intake)
    if not count:
        query = query.with_only_columns(Person.id)
    if step >= 1:
        # Joined, not "IN": on a database without planner statistics PostgreSQL ran the IN
        # as a nested loop, 5 times slower (measured).
        placed = has_family(region, intake).distinct().subquery()
        query = query.join(placed, placed.c.person_id == Person.id)
    if step >= 2:
        query = query.where(Person.arrival_date <= today)
    if step >= 3:
        first = _answered_ids(region, (7,))
        query = query.join(first, first.c.person_id == Person.id)
    if step >= 4:
        later = _answered_ids(region, (56, 91))
        query = query.join(later, later.c.person_id == Person.id)
    return query.scalar_subquery() if count else query


def people_at(figure: str, region: str, today: date, intake: str | None = None):
    """The newcomers a PIPELINE figure counts, as a select of ids (the same definition:
    outcomes and the analysts' file read "engaged at 8 weeks" from here)."""
    return _pipeline(region, today, intake, PIPELINE.index(figure), count=False)


def matched(region: str, today: date, intake=None):
    return _pipeline(region, today, intake, 1)


def arrived(region: str, today: date, intake=None):
    return _pipeline(region, today, intake, 2)


def first_check_in_answered(region: str, today: date, intake=None):
    return _pipeline(region, today, intake, 3)


def engaged_8_weeks(region: str, today: date, intake=None):
    return _pipeline(region, today, intake, 4)


def approved_volunteers(region: str, today: date, intake=None):
    return (select(func.count()).select_from(Person).where(
        Person.region == region, Person.role.in_(["buddy", "ambassador"]),
        states.matchable()).scalar_subquery())


def spare_capacity(region: str, today: date, intake=None):
    """Sum over active buddies of capacity less the newcomers in their published family."""
    newcomers = (
        select(FamilyMember.family_id, func.count().label("n"))
        .where(FamilyMember.place == "newcomer").group_by(FamilyMember.family_id).subquery()
    )
    taken = (
        select(FamilyMember.person_id, newcomers.c.n)
        .join(Family, Family.id == FamilyMember.family_id)
        .join(newcomers, newcomers.c.family_id == FamilyMember.family_id)
        .where(Family.region == region, Family.status == FamilyStatus.PUBLISHED,
               FamilyMember.place != "newcomer").subquery()
    )
    spare = func.coalesce(Person.capacity, 0) - func.coalesce(taken.c.n, 0)
    return func.coalesce(
        select(func.sum(sa.case((spare > 0, spare), else_=0)))
        .select_from(Person).outerjoin(taken, taken.c.person_id == Person.id)
        .where(Person.region == region, Person.role == "buddy", states.matchable())
        .scalar_subquery(), 0)


def _arriving_without_family(region: str, today: date, until: date, intake=None):
    where = (Person.region == region, Person.role == "newcomer", states.matchable(),
             Person.arrival_date >= today, Person.arrival_date <= until,
             Person.id.not_in(_placed(region)))
    return where if intake is None else (*where, Person.intake == intake)


def arrivals_without_family_count(region: str, today: date, intake=None):
    until = sa.bindparam("until", type_=sa.Date)  # today + UPCOMING_DAYS, given by summary()
    return (select(func.count()).select_from(Person)
            .where(*_arriving_without_family(region, today, until, intake)).scalar_subquery())


def open_flags(region: str, today: date, intake=None):
    return (select(func.count()).select_from(Flag)
            .where(Flag.region == region, Flag.status == FlagStatus.OPEN).scalar_subquery())


FIGURES = {
    "signed_up": signed_up, "matched": matched, "arrived": arrived,
    "first_check_in_answered": first_check_in_answered, "engaged_8_weeks": engaged_8_weeks,
    "approved_volunteers": approved_volunteers, "spare_capacity": spare_capacity,
    "arrivals_without_family": arrivals_without_family_count, "open_flags": open_flags,
}


def arrivals_without_family(session: Session, region: str, today: date,
                            intake: str | None = None) -> list[Person]:
    """Active newcomers (of `intake`, when given) arriving within UPCOMING_DAYS without a
    running family, soonest first."""
    until = today + timedelta(days=UPCOMING_DAYS)
    return list(session.exec(
        select(Person).where(*_arriving_without_family(region, today, until, intake))
        .order_by(Person.arrival_date, Person.id)).all())


def intake_coverage(session: Session, *, region: str, intake: str,
                    placed_by_draft: Iterable[int] = ()) -> dict[str, int]:
    """The newcomers of `intake` by has_family(), as a match run's page shows them: signed up
    (as on the dashboard), with a family (those a draft would add, `placed_by_draft`, too),
    waiting (active without one) and away (paused, left or volunteering now)."""
    of_intake = set(session.exec(select(Person.id).where(
        Person.region == region, Person.intake == intake)).all())
    already = set(session.exec(has_family(region, intake)).all()) & of_intake
    from_draft = (set(placed_by_draft) & of_intake) - already
    active = set(session.exec(select(Person.id).where(
        Person.region == region, Person.intake == intake, Person.role == "newcomer",
        states.matchable())).all())
    with_family = already | from_draft
    waiting = len(active - with_family)
    return {"signed_up": len(of_intake), "with_family": len(with_family),
            "already": len(already), "from_draft": len(from_draft), "waiting": waiting,
            "away": len(of_intake) - len(with_family) - waiting}


def check_in_response(session: Session, region: str, intake: str | None = None
                      ) -> dict[int, dict[str, int]]:
    """For each check-in day: how many (of `intake`'s newcomers, when given) were sent and
    how many answered."""
    query = (select(CheckIn.day, func.count(), func.count(CheckIn.answer))
             .where(CheckIn.region == region, CheckIn.sent_at.is_not(None)))
    if intake is not None:
        query = query.where(CheckIn.person_id.in_(_of_intake(intake)))
    rows = session.exec(query.group_by(CheckIn.day)).all()
    found = {day: {"sent": sent, "answered": answered} for day, sent, answered in rows}
    return {day: found.get(day, {"sent": 0, "answered": 0}) for day in CHECK_IN_DAYS}


def weekly_activity(session: Session, region: str, today: date, weeks: int = 26
                    ) -> list[tuple[date, int, int]]:
    """(week start, sign-ups, newcomers matched) for the last `weeks` weeks."""
    start = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    since = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    signups = session.exec(select(Person.created_at).where(
        Person.region == region, Person.role == "newcomer", Person.created_at >= since)).all()
    matches = session.exec(
        select(Family.published_at).join(FamilyMember, FamilyMember.family_id == Family.id)
        .where(Family.region == region, Family.status == FamilyStatus.PUBLISHED,
               FamilyMember.place == "newcomer", Family.published_at >= since)).all()

    def week(moment: datetime) -> date:
        day = moment.astimezone(UTC).date()
        return day - timedelta(days=day.weekday())

    s, m = Counter(week(t) for t in signups), Counter(week(t) for t in matches if t)
    return [(start + timedelta(weeks=i), s[start + timedelta(weeks=i)],
             m[start + timedelta(weeks=i)]) for i in range(weeks)]


QUALITY_REFRESH = timedelta(minutes=5)


def quality_by_group(session: Session, region: str) -> dict | None:
    """The optimiser's metrics of the published families, per group of newcomers.

    The heaviest figure on the dashboard (it reads every newcomer and buddy of the region),
    shared by all workers in QualitySnapshot: worked out again at once when a family is
    published or changed, and at most every QUALITY_REFRESH for sign-ups and profile edits,
    which move it only a little. Measured under load: recomputed per worker on every change
    of a person, it cost 300-600 ms on nearly every dashboard.
    """
    count, published_at = session.exec(
        select(func.count(FamilyMember.id), func.max(Family.published_at))
        .join(Family, Family.id == FamilyMember.family_id)
        .where(Family.region == region, Family.status == FamilyStatus.PUBLISHED)).one()
    version = f"{count}@{published_at.isoformat() if published_at else '-'}"
    now = clock.now()
    snapshot = session.get(QualitySnapshot, region)
    if (snapshot is not None and snapshot.version == version
            and now - snapshot.computed_at < QUALITY_REFRESH):
        return snapshot.value
    value = _quality_by_group(session, region)
    # Two workers may work it out at once: the later write wins, both are right.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    row = {"region": region, "version": version, "computed_at": now, "value": value}
    session.execute(insert(QualitySnapshot).values(**row).on_conflict_do_update(
        index_elements=["region"], set_={k: v for k, v in row.items() if k != "region"}))
    session.commit()
    return value


def _quality_by_group(session: Session, region: str) -> dict | None:
    families = published_families(session, region)
    if not families:
        return None
    cohort_data = family_cohort(session, region, published=families)
    cohort = matching.load_cohort({**cohort_data, "locked": []})
    known = {p["id"] for p in cohort_data["people"]}
    result = {"version": 1, "kind": "families", "families": [], "unmatched": []}
    for family, members in families:
        anchor = next((key(p) for m, p in members if m.place == "anchor"), None)
        if anchor is None or anchor not in known:
            continue
        result["families"].append({
            "id": family.code, "region": region, "anchor": anchor,
            "buddies": [key(p) for m, p in members if m.place == "buddy" and key(p) in known],
            "newcomers": [key(p) for m, p in members if m.place == "newcomer"
                          and key(p) in known]})
    return matching.metrics(cohort, result)["fairness"]


@functools.cache
def _summary_query(per_intake: bool) -> sa.Select:
    # Two statements rather than "intake IS NULL OR ...": each keeps a plan that uses the
    # intake index, and PostgreSQL need not guess the type of a NULL parameter.
    region, today = sa.bindparam("region", type_=sa.String), sa.bindparam("today", type_=sa.Date)
    intake = sa.bindparam("intake", type_=sa.String) if per_intake else None
    return select(*(figure(region, today, intake).label(name)
                    for name, figure in FIGURES.items()))


def summary(session: Session, region: str, today: date, intake: str | None = None
            ) -> dict[str, int]:
    """The indicators table row of one region (the figures in DEFINITIONS), in one query;
    with `intake`, the newcomers' figures count that intake's newcomers only."""
    values = {"region": region, "today": today, "until": today + timedelta(days=UPCOMING_DAYS)}
    if intake is not None:
        values["intake"] = intake
    row = session.execute(_summary_query(intake is not None), values).one()
    return {name: int(value or 0) for name, value in row._mapping.items()}


def suppress(value: int) -> int | str:
    """Small numbers are hidden outside their region so that no one can be identified."""
    return SUPPRESSED if value < SMALL else value


def protect(values: Mapping[Hashable, int], groups: Iterable[tuple[Hashable, list]] = (),
            *, zeros: bool = True, hidden: Iterable[Hashable] = (),
            hide_only: Iterable[Hashable] | None = None) -> dict[Hashable, int | str]:
    """The figures as shown: below SMALL "<5", and more hidden ("hidden") until no count
    below SMALL can be worked out from what is shown.

    `groups` are (total, members): the figure `total` is the sum of the figures `members`.
    With `zeros` False a 0 may be worked out: right for counts of people by region, where
    "no one in this region" says nothing about anyone; not for answers, where the zeros
    beside a total say what everyone answered. `hidden`: figures hidden already (as another
    page shows them); `hide_only`: the only figures that may be hidden more (a national
    table hides its all-regions figures, since each region's own page shows the region's).
    """
    groups = [(total, list(members)) for total, members in groups]
    primary = {k for k, v in values.items() if v < SMALL}
    extra = set(hidden) - primary
    hidden = primary | extra
    guarded = primary if zeros else {k for k in primary if values[k]}
    allowed = set(values) if hide_only is None else set(hide_only)
    while (leak := _leak(values, groups, primary, guarded, hidden)) is not None:
        total, members = leak
        candidates = [k for k in members if k not in hidden and k in allowed] or (
            [total] if total not in hidden and total in allowed else [])
        if not candidates:
            # Every figure of the group is hidden already: widen to the groups it touches.
            touched = {total, *members}
            candidates = [k for t, ms in groups if touched & {t, *ms}
                          for k in (t, *ms) if k not in hidden and k in allowed]
        if not candidates:
            break
        hidden.add(min(candidates, key=lambda k: values[k]))
    return {k: SUPPRESSED if k in primary else HIDDEN if k in hidden else v
            for k, v in values.items()}


def _leak(values, groups, primary, guarded, hidden):
    """A group through which a count of `guarded` (some of `primary`, the counts below
    SMALL) can be worked out, or None."""
    known = {k for k in values if k not in hidden}
    # A group with one unknown figure gives it away, and what it gives may open another.
    changed = True
    while changed:
        changed = False
        for total, members in groups:
            unknown = [k for k in (total, *members) if k not in known]
            if len(unknown) == 1:
                known.add(unknown[0])
                changed = True
    for total, members in groups:
        if guarded & known & {total, *members}:
            return total, members
        unknown = [k for k in members if k not in known]
        if total in known and unknown and all(k in primary for k in unknown) \
                and guarded & set(unknown):
            # Each is 0 to 4: a hidden sum of 0 (or of 4 each) says what every one is.
            rest = values[total] - sum(values[k] for k in members if k in known)
            if rest in (0, (SMALL - 1) * len(unknown)):
                return total, members
    return None


def national(session: Session, regions: list[str], today: date,
             intake: str | None = None) -> dict[str, dict]:
    """The indicators of every region (for `intake`, when given), small numbers suppressed;
    for INTAKE_FIGURES, also no region's "<5" can be worked out from series()' total."""
    return _national(session, regions, today, intake)[0]


def _national(session: Session, regions: list[str], today: date, intake: str | None
              ) -> tuple[dict[str, dict], dict[str, int | str]]:
    """(every region's row, all regions' INTAKE_FIGURES), protected together: the national
    page shows both, and the total less the other regions would say a hidden region's."""
    rows = {region: summary(session, region, today, intake) for region in regions}
    shown = {region: {k: suppress(v) for k, v in row.items()} for region, row in rows.items()}
    totals = {}
    for figure in INTAKE_FIGURES:
        values = {region: rows[region][figure] for region in regions}
        values[None] = sum(values.values())
        seen = protect(values, [(None, list(regions))], zeros=False)
        for region in regions:
            shown[region][figure] = seen[region]
        totals[figure] = seen[None]
    return shown, totals


def series(session: Session, regions: list[str], today: date, intake_list: list[str]
           ) -> dict[str, dict[str, int | str]]:
    """The national time series: for each intake, INTAKE_FIGURES summed over `regions`,
    small numbers suppressed (totals below 5 could still point at someone), hidden with the
    regions' figures of national() so that no region's can be worked out."""
    return national_with_series(session, regions, today, intake_list)[1]


def national_with_series(session: Session, regions: list[str], today: date,
                         intake_list: list[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(national() for the last intake of `intake_list`, series() of them all): the admin's
    page shows both, and each intake's region summaries are worked out once."""
    worked = {intake: _national(session, regions, today, intake) for intake in intake_list}
    return worked[intake_list[-1]][0], {intake: totals for intake, (_, totals) in worked.items()}


def intake_choices(today: date, region: str | None = None, count: int = 4) -> list[str]:
    """The intakes a reader can choose, newest first: the next one and `count` before it."""
    following = intakes.next_intake(today, region)
    return [following, *intakes.previous(following, region, count)]


def current_intake(today: date, region: str | None = None) -> str:
    """The intake figures are read for by default: that of a newcomer arriving today."""
    return intakes.intake_of(today, region)


def oldest_open_flag_age(session: Session, region: str, now: datetime) -> timedelta | None:
    oldest = session.scalar(select(sa.func.min(Flag.created_at)).where(
        Flag.region == region, Flag.status == FlagStatus.OPEN))
    if oldest is None:
        return None
    if oldest.tzinfo is None:  # SQLite through a bare aggregate returns a naive value
        oldest = oldest.replace(tzinfo=UTC)
    return now - oldest
