"""Benchmark: read, preview and import a trainee list of N rows (5,000 by default).

    python -m tests.perf.imports [--rows 5000] [--database-url URL]

Makes a list as a region's spreadsheet would give it (UTF-8 with a byte-order mark,
semicolons, accented names, a mobile number for one row in three, a bad date every 50 rows
and a repeated person every 100), then times, on a fresh database (a temporary SQLite file
unless --database-url names an empty one):
- the services: reading the file, checking it against the database, importing it (one
  transaction: the invitations, their outbox rows, the audit event);
- the lead's pages through the test client: upload, preview, confirm (another list of the
  same size, so that nobody is skipped as already invited).
Prints the figures; docs/benchmarks.md keeps them.
"""

from __future__ import annotations

import argparse
import io
import sys
import time

import sqlalchemy as sa

from tests.perf import database

NOW = "2027-05-03T10:00:00+01:00"
FIRST = ("Zoë", "José", "Priya", "Adebayo", "Mohammed", "Siobhán", "Chukwuemeka", "Anna")
LAST = ("Ndiaye", "Álvarez", "Raman", "Okafor", "Al-Sayed", "Ó Briain", "Obi", "Kowalska")
SCHEMES = ("Poole", "Bournemouth", "Dorchester", "Isle of Wight")


def make_list(rows: int, *, prefix: str = "t") -> bytes:
    """A trainee list of `rows` rows as Excel saves "CSV UTF-8" with semicolons."""
    import phonenumbers

    mobile = phonenumbers.example_number_for_type("GB", phonenumbers.PhoneNumberType.MOBILE)
    base = phonenumbers.format_number(mobile, phonenumbers.PhoneNumberFormat.E164)
    lines = ["Name;E-mail address;Start date;Scheme;Mobile;GMC number"]
    for n in range(rows):
        person = n - 1 if n % 100 == 98 else n  # a repeated person every 100 rows
        name = f"{FIRST[person % len(FIRST)]} {LAST[(person // 8) % len(LAST)]} {person}"
        day = "31/02/2027" if n % 50 == 49 else f"{1 + person % 28:02d}/08/2027"
        phone = f"{base[:-4]}{person % 10000:04d}" if person % 3 == 0 else ""
        gmc = f"{(7 if prefix == 't' else 6) * 1000000 + person}" if person % 2 == 0 else ""
        lines.append(f"{name};{prefix}{person}@example.org;{day};"
                     f"{SCHEMES[person % len(SCHEMES)]};{phone};{gmc}")
    return b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _timed(what: str, figures: list[tuple[str, float]], fn):
    started = time.perf_counter()
    result = fn()
    figures.append((what, time.perf_counter() - started))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    database.add_option(parser)
    args = parser.parse_args(argv)
    data = make_list(args.rows)
    with database.bench_database(args.database_url) as database_url:
        figures, parsed, checked, counts = _measure(database_url, data, args.rows)

    services = sum(seconds for what, seconds in figures if not what.startswith("page"))
    pages = sum(seconds for what, seconds in figures if what.startswith("page"))
    print(f"{args.rows} rows ({len(data) / 1024:.0f} KiB), {database.backend(database_url)}: "
          f"{len(checked.to_invite)} to invite, {len(checked.skipped)} skipped, "
          f"{len(parsed.bad_rows)} rows with problems")
    for what, seconds in figures:
        print(f"  {what:32} {seconds * 1000:8.0f} ms")
    print(f"  {'services in all':32} {services * 1000:8.0f} ms")
    print(f"  {'pages in all':32} {pages * 1000:8.0f} ms")
    print(f"invitations {counts[0]}, outbox rows {counts[1]}")
    return 0


def _measure(database_url: str, data: bytes, rows: int):
    """Time the services, then the pages, on `database_url`: (figures, the parsed list, the
    checked list, (invitations, outbox rows))."""
    from sqlmodel import Session

    from buddy import create_app
    from buddy.messaging.models import Message
    from buddy.models import Invitation
    from buddy.services import accounts, invitations, trainee_lists

    app = create_app({
        "BUDDY_ENV": "test", "BUDDY_DATABASE_URL": database_url, "BUDDY_NOW": NOW,
        "BUDDY_SECRET_KEY": "bench-secret-key-bench-secret-key-0123456789",
        "BUDDY_PUBLIC_URL": "http://localhost", "WTF_CSRF_ENABLED": False,
        "BUDDY_ARGON2_TIME_COST": 1, "BUDDY_ARGON2_MEMORY_KIB": 8,
        "BUDDY_ARGON2_PARALLELISM": 1})
    figures: list[tuple[str, float]] = []
    try:
        with app.app_context(), Session(app.extensions["buddy.engine"],
                                        expire_on_commit=False) as session:
            lead = accounts.create_staff(session=session, actor=None,
                                         email="lead@example.org", full_name="Bench Lead",
                                         role="lead", region="wessex",
                                         password="bench password 123")
            parsed = _timed("read the file", figures,
                            lambda: trainee_lists.read(data, region="wessex"))
            checked = _timed("check it against the database", figures,
                             lambda: trainee_lists.check(session, parsed=parsed,
                                                         region="wessex"))

            def run_import():
                invitations.import_rows(session, trainees=checked.to_invite, region="wessex",
                                        role="newcomer", actor=lead, source="bench")
                session.commit()

            _timed("import (one transaction)", figures, run_import)

            client = app.test_client()
            client.post("/login", data={"email": "lead@example.org",
                                        "password": "bench password 123"})
            page_data = make_list(rows, prefix="p")
            response = _timed("page: upload", figures, lambda: client.post(
                "/lead/invitations/", content_type="multipart/form-data",
                data={"role": "newcomer", "file": (io.BytesIO(page_data), "list.csv")}))
            assert response.status_code == 302, response.status_code
            preview = _timed("page: preview", figures, lambda: client.get(response.location))
            assert preview.status_code == 200, preview.status_code
            done = _timed("page: confirm", figures, lambda: client.post(response.location))
            assert done.status_code == 302, done.status_code
            counts = (session.scalar(sa.select(sa.func.count()).select_from(Invitation)),
                      session.scalar(sa.select(sa.func.count()).select_from(Message)))
    finally:
        app.extensions["buddy.engine"].dispose()
    return figures, parsed, checked, counts


if __name__ == "__main__":
    sys.exit(main())
