"""Dashboard and survey results benchmark: prints figures (speed is measured here, not in
timed tests).

    python -m tests.perf.dashboard [--postgresql] [--requests N]

Loads the national demo data into a fresh database (a temporary SQLite file, or with
--postgresql a throwaway PostgreSQL server), signs in as each region's DA lead and times the
dashboard page and the survey results of the latest intake with answers, then the admin's
national views and the analysts' file, and the daily job's survey step over the demo.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.postgres import PostgresServer

DEMO_PASSWORD = "bench password 2027"


def _app(database_url: str):
    from buddy import create_app, migrate

    migrate.upgrade(database_url)
    return create_app({"BUDDY_DATABASE_URL": database_url, "BUDDY_ENV": "test",
                       "WTF_CSRF_ENABLED": False, "BUDDY_ARGON2_TIME_COST": 1,
                       "BUDDY_ARGON2_MEMORY_KIB": 8, "BUDDY_ARGON2_PARALLELISM": 1})


def _times(client, url: str, n: int) -> list[float]:
    """The first request (cold: empty per-worker cache) and then `n` more, in ms."""
    out = []
    for _ in range(n + 1):
        start = time.perf_counter()
        response = client.get(url)
        out.append((time.perf_counter() - start) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
    return out


def dashboard(postgresql: bool, requests: int) -> None:
    from buddy import demo, reference
    from buddy.db import get_session

    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if postgresql:
            server = PostgresServer().start()
            url = server.create_database("bench")
        else:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        app = _app(url)
        with app.app_context():
            counts = demo.load(session=get_session(), seed=2027, password=DEMO_PASSWORD)
        print(f"database: {url.split(':')[0]}; demo data: " +
              ", ".join(f"{v} {k}" for k, v in counts.items()))
        print(f"{'page':<34}{'first ms':>9}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}")
        every = []
        for region in reference.regions():
            client = app.test_client()
            client.post("/login", data={"email": f"lead.{region}@example.org",
                                        "password": DEMO_PASSWORD})
            times = _times(client, "/lead/", requests)
            every += times[1:]
            _row(f"dashboard {region}", times)
        _row("dashboard, all regions (warm)", [0.0, *every])
        admin = app.test_client()
        admin.post("/login", data={"email": "admin@example.org", "password": DEMO_PASSWORD})
        _row("national indicators (admin)", _times(admin, "/admin/indicators", requests))
        _results(app, admin, requests)
        app.extensions["buddy.engine"].dispose()
        if server:
            server.stop()


def _results(app, admin, requests: int) -> None:
    """Survey results for the intake the demo asked most about, every region's lead,
    the admin's side-by-side page and analysts' file, then the survey step of buddy daily."""
    import sqlalchemy as sa

    from buddy import clock, reference
    from buddy.db import get_session
    from buddy.models import SurveyRequest
    from buddy.services import surveys

    with app.app_context():
        intake = get_session().execute(
            sa.select(SurveyRequest.intake).group_by(SurveyRequest.intake)
            .order_by(sa.func.count().desc())).scalars().first()
    print(f"survey results of the intake with the most surveys: {intake}")
    every = []
    for region in reference.regions():
        client = app.test_client()
        client.post("/login", data={"email": f"lead.{region}@example.org",
                                    "password": DEMO_PASSWORD})
        every += _times(client, f"/lead/results?intake={intake}", requests)[1:]
    _row("survey results, all regions (warm)", [0.0, *every])
    _row("survey results, every region (admin)",
         _times(admin, f"/admin/results?intake={intake}", requests))
    _row("analysts' file (admin, CSV)",
         _times(admin, f"/admin/analysts.csv?intake={intake}", max(1, requests // 5)))
    with app.app_context():
        session = get_session()
        start = time.perf_counter()
        counts = surveys.daily(session, now=clock.now())
        took = (time.perf_counter() - start) * 1000
        print(f"buddy daily, survey step: {took:.0f} ms ({dict(counts) or 'nothing due'})")


def _row(label: str, times: list[float]) -> None:
    first, warm = times[0], sorted(times[1:])
    p95 = warm[min(len(warm) - 1, int(len(warm) * 0.95))]
    shown = f"{first:>9.0f}" if first else f"{'':>9}"
    print(f"{label:<34}{shown}{statistics.median(warm):>8.0f}{p95:>8.0f}{warm[-1]:>8.0f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.dashboard", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgresql", action="store_true",
                        help="use a throwaway PostgreSQL server instead of SQLite")
    parser.add_argument("--requests", type=int, default=20, help="requests per region")
    args = parser.parse_args(argv)
    dashboard(args.postgresql, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
