"""Engine and per-request session.

The engine is built in `init_app` (never at import); each app context gets one Session,
cached on `g` and closed on teardown.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlmodel import Session


def build_engine(url: str) -> sa.Engine:
    """Return an engine for `url`, with SQLite set up for a web app and a dispatcher at once."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 15, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pool_pre_ping: after a PostgreSQL restart, a dead pooled connection is replaced
    # instead of failing the request that picked it up.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLite leaves foreign keys off per connection; WAL lets readers run beside one writer,
    # and busy_timeout waits for the writer instead of raising "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class ValueTooLong(ValueError):
    """A text longer than its column holds: PostgreSQL refuses it, SQLite would keep it."""

    def __init__(self, table: str, column: str, limit: int):
        self.table, self.column, self.limit = table, column, limit
        super().__init__(f"An answer is too long: {column.replace('_', ' ')} can be at most"
                         f" {limit:,} characters. Go back, shorten it and send it again")


def check_lengths(session, _context, _instances) -> None:
    """Before every flush, refuse a text longer than its VARCHAR column, on both databases.

    :raises ValueTooLong: naming the column and its limit.
    """
    for obj in (*session.new, *session.dirty):
        state = sa.inspect(obj)
        for attr in state.mapper.column_attrs:
            limit = getattr(attr.columns[0].type, "length", None)
            value = state.dict.get(attr.key)  # loaded values only: no query inside a flush
            if limit and isinstance(value, str) and len(value) > limit:
                raise ValueTooLong(state.mapper.local_table.name, attr.key, limit)


def init_app(app: Flask) -> None:
    app.extensions["buddy.engine"] = build_engine(app.config["BUDDY_DATABASE_URL"])
    app.teardown_appcontext(close_session)
    # On the Session class, so that jobs, the CLI and tests' own sessions check too.
    if not sa.event.contains(Session, "before_flush", check_lengths):
        sa.event.listen(Session, "before_flush", check_lengths)


def engine() -> sa.Engine:
    return current_app.extensions["buddy.engine"]


def get_session() -> Session:
    """The app context's Session, opened on first use."""
    if "db_session" not in g:
        g.db_session = Session(engine(), expire_on_commit=False)
    return g.db_session


def rollback_session() -> None:
    """Roll back the app context's Session, if it has one.

    Error pages call this first: after a failed flush the Session refuses every query
    (PendingRollbackError) until rolled back, and the page itself loads the signed-in user.
    """
    session = g.get("db_session")
    if session is not None:
        session.rollback()


def close_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()  # nothing uncommitted outlives the request, whatever happened
        session.close()


def database_answers() -> bool:
    """True when a trivial query succeeds."""
    try:
        with engine().connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        return False
