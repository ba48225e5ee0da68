"""The database a benchmark runs on: the empty one `--database-url` names, or a temporary
SQLite file that is removed afterwards; migrated to the latest revision either way."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def add_option(parser: argparse.ArgumentParser) -> None:
    """The `--database-url` option every benchmark takes."""
    parser.add_argument("--database-url", default="",
                        help="an empty database to use (default: a temporary SQLite file)")


@contextmanager
def bench_database(database_url: str = "") -> Iterator[str]:
    """Yield the URL of a migrated database for one benchmark run."""
    from buddy import migrate

    with tempfile.TemporaryDirectory(prefix="buddy-bench-") as tmp:
        url = database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        migrate.upgrade(url)
        yield url


def backend(database_url: str) -> str:
    """"sqlite" or "postgresql", for the figures' first line."""
    return database_url.split(":", 1)[0].split("+", 1)[0]
