"""States are named once, in buddy/statuses.py, and the database holds exactly their values.

The source rule is checked by reading buddy/ as Python (an AST walk), so a bare "published"
compared with, assigned to or passed as a status fails here with its file and line; the
schema rule by reading the models' columns and indexes and the migrations' SQL; the binding
by writing members on the test's database (SQLite, or PostgreSQL with --db postgresql).
"""

from __future__ import annotations

import ast
import re
from enum import StrEnum
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel, select

from buddy import states, statuses
from buddy.messaging.models import Flag, Message
from buddy.models import AmbassadorPair, Family, Invitation, MatchRun, Person
from buddy.services import exports, flags, my_data
from buddy.statuses import (
    FamilyStatus,
    FlagStatus,
    InvitationStatus,
    MessageStatus,
    PairStatus,
    PersonStatus,
    RunStatus,
)

ROOT = Path(__file__).resolve().parents[1]
ENUMS = [v for v in vars(statuses).values()
         if isinstance(v, type) and issubclass(v, StrEnum) and v.__module__ == statuses.__name__]
VALUES = {member.value for enum in ENUMS for member in enum}
# Each table with a status column, and the enum of the values it holds.
COLUMNS = {Person: PersonStatus, MatchRun: RunStatus, Family: FamilyStatus,
           AmbassadorPair: PairStatus, Invitation: InvitationStatus, Message: MessageStatus,
           Flag: FlagStatus}
# SQL such as "status IN ('queued', 'running')" or "status = 'invited'".
SQL_STATUS = re.compile(r"status\s*(?:=|IN)\s*\(?((?:'[^']*'(?:\s*,\s*)?)+)", re.IGNORECASE)


def _is_status(node: ast.AST) -> bool:
    """`x.status` or a variable named `status`."""
    return (isinstance(node, ast.Attribute) and node.attr == "status") or (
        isinstance(node, ast.Name) and node.id == "status")


def _bare(node: ast.AST | None):
    """String constants in `node` (a literal, a tuple or list of them, a conditional) that
    are the value of some status."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in VALUES:
        yield node
    elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        for element in node.elts:
            yield from _bare(element)
    elif isinstance(node, ast.IfExp):
        yield from _bare(node.body)
        yield from _bare(node.orelse)


def _defaults(args: ast.arguments):
    positional = args.posonlyargs + args.args
    yield from zip(positional[len(positional) - len(args.defaults):], args.defaults,
                   strict=True)
    yield from ((a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
                if d is not None)


def bare_statuses(tree: ast.AST):
    """Every string constant that stands for a status where the code reads or writes one."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_status(side) for side in sides):
                for side in sides:
                    yield from _bare(side)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if _is_status(target):
                    yield from _bare(node.value)
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for name, value in zip(target.elts, node.value.elts, strict=False):
                        if _is_status(name):
                            yield from _bare(value)
        elif isinstance(node, ast.AnnAssign) and _is_status(node.target):
            yield from _bare(node.value)
            if isinstance(node.value, ast.Call):  # status: str = Field(default="...")
                for keyword in node.value.keywords:
                    if keyword.arg == "default":
                        yield from _bare(keyword.value)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "status":
                    yield from _bare(keyword.value)
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr in ("in_", "not_in")
                    and _is_status(func.value)):
                for arg in node.args:
                    yield from _bare(arg)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "status":
                    yield from _bare(value)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for arg, default in _defaults(node.args):
                if arg.arg == "status" or arg.arg.endswith("statuses"):
                    yield from _bare(default)


def test_the_rule_finds_bare_statuses():
    """The walk itself: each way of writing a status as a bare string is found."""
    code = """
if run.status == "draft" or family.status in ("published", "ended"): pass
person.status = "paused"
run.status, run.finished_at = "failed", now
status: str = Field(default="queued")
sa.update(Message).values(status="cancelled")
Family.status.not_in(["draft"])
row = {"status": "open"}
def queue(*, status="resolved", statuses=("invited",)): pass
x = "open" if status == "running" else "sent"
"""
    found = sorted(n.value for n in bare_statuses(ast.parse(code)))
    assert found == sorted(["draft", "published", "ended", "paused", "failed", "queued",
                            "cancelled", "draft", "open", "resolved", "invited", "running"])
    named = ("if run.status == RunStatus.DRAFT: pass\n"
             "kind = 'draft'\n"
             "label = {'status': 'Status'}\n")
    assert list(bare_statuses(ast.parse(named))) == []


def test_no_bare_status_strings_in_buddy():
    """Code under buddy/ names states by their enum or group (buddy/statuses.py)."""
    found = []
    for path in sorted((ROOT / "buddy").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
                  for node in sorted(bare_statuses(tree), key=lambda n: n.lineno)]
    assert found == [], "use buddy.statuses instead of:\n" + "\n".join(found)


def test_every_status_column_has_its_enum():
    """Each status column is listed with its enum, its default is a member, every value fits."""
    tables = {t.name for t in SQLModel.metadata.tables.values() if "status" in t.c}
    assert tables == {model.__tablename__ for model in COLUMNS}
    for model, enum in COLUMNS.items():
        column = model.__table__.c.status
        assert column.default is not None and column.default.arg in list(enum), model
        assert max(len(member) for member in enum) <= column.type.length, model


def test_values_are_lower_case_words_and_members_equal_them():
    """What the database holds is the value: a member is that string everywhere."""
    for enum in ENUMS:
        for member in enum:
            assert re.fullmatch(r"[a-z_]+", member.value), member
            assert member == member.value and str(member) == member.value
            assert f"{member}" == member.value and hash(member) == hash(member.value)


def _sql_values(text: str) -> set[str]:
    return {v for match in SQL_STATUS.finditer(text) for v in re.findall(r"'([^']*)'",
                                                                           match.group(1))}


def test_index_conditions_name_the_groups():
    """The partial indexes' SQL is the group code asks about, in the models and migrations."""
    for model, name, wanted in [(MatchRun, "uq_match_runs_active", statuses.OPEN_RUN_STATUSES),
                                (Invitation, "uq_invitations_open_email",
                                 (InvitationStatus.INVITED,))]:
        index = next(i for i in model.__table__.indexes if i.name == name)
        for dialect in ("sqlite", "postgresql"):
            where = index.dialect_options[dialect]["where"]
            assert _sql_values(str(where)) == set(wanted), (name, dialect)
    migrations = "\n".join(p.read_text(encoding="utf-8")
                           for p in sorted((ROOT / "migrations" / "versions").glob("*.py")))
    assert _sql_values(migrations), "the pattern found no status SQL in the migrations"
    assert _sql_values(migrations) <= VALUES


def test_groups_hold_members_of_one_enum():
    """Each named group is a tuple of members of a single enum, with no repeats."""
    groups = {k: v for k, v in vars(statuses).items() if k.endswith("_STATUSES")}
    assert groups
    for name, group in groups.items():
        assert isinstance(group, tuple) and len(set(group)) == len(group) > 1, name
        assert len({type(member) for member in group}) == 1, name
        assert type(group[0]) in ENUMS, name


def test_words_cover_every_state():
    """Every state a person, message or flag can be in has its words, and nothing else does."""
    assert set(exports.STATUSES) == set(my_data.STATUSES) == set(states.STATUS_WORDS) == set(
        PersonStatus)
    assert set(exports.FLAG_STATUSES) == set(my_data.FLAG_STATUSES) == set(FlagStatus)
    assert set(flags.ACTIONS.values()) == set(FlagStatus)
    assert set(my_data.MESSAGE_STATUSES) == set(MessageStatus)


def test_members_are_stored_as_their_values(factory, session):
    """The driver binds a member as its plain string: in a row, a comparison, `in_`, an UPDATE."""
    person = factory.newcomer()
    person.status = PersonStatus.PAUSED
    session.add(person)
    session.add(Flag(person_id=person.id, region=person.region, reason="help",
                     status=FlagStatus.CONTACTED))
    session.commit()

    def stored(table: str) -> list:
        return list(session.execute(sa.text(f"SELECT status FROM {table} WHERE person_id = :p"
                                            if table == "flags" else
                                            f"SELECT status FROM {table} WHERE id = :p"),
                                    {"p": person.id}).scalars())

    assert stored("people") == ["paused"] and type(stored("people")[0]) is str
    assert stored("flags") == ["contacted"]
    assert session.exec(select(Person.id).where(Person.status == PersonStatus.PAUSED)).all() \
        == [person.id]
    assert session.exec(select(Person.id).where(
        Person.status.in_((PersonStatus.PAUSED, PersonStatus.WITHDRAWN)))).all() == [person.id]
    session.execute(sa.update(Flag).where(Flag.status == FlagStatus.CONTACTED)
                    .values(status=FlagStatus.RESOLVED))
    session.commit()
    assert stored("flags") == ["resolved"]
    session.refresh(person)
    assert person.status == "paused" and type(person.status) is str
