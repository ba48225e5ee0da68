"""Load test: a September peak against gunicorn on PostgreSQL, from a second process.

    python -m tests.perf.load [--users 200] [--seconds 60] [--workers 4]

Starts a throwaway PostgreSQL server, migrates it and loads the national demo data, starts
gunicorn (config/gunicorn.conf.py) on loopback, then runs simulated people in this process:
newcomers signing up, members signing in, editing their profile and opening their family
page, DA leads opening their dashboard. A tenth of the users only call /healthz, the bare
endpoint of the same stack, for comparison in the same run. Each user pauses 2-8 s between
journeys (--think-min, --think-max), as a person reads or fills in a form. Prints requests
per second, p50/p95/p99 latency per kind of page, and every error. Bounded in time; it stops
by itself.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict

from buddy.messaging.fakes import free_port
from tests.postgres import PostgresServer

PASSWORD = "load test password 2027"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def add(self, kind: str, ms: float, error: str | None) -> None:
        with self.lock:
            self.times[kind].append(ms)
            if error:
                self.errors[f"{kind}: {error}"] += 1


class Person:
    """One simulated user with their own cookies (a browser, roughly)."""

    def __init__(self, base: str, recorder: Recorder) -> None:
        self.base, self.recorder = base, recorder
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def request(self, kind: str, path: str, data: dict | None = None) -> str:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        start = time.perf_counter()
        error, text = None, ""
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
        except OSError as exc:
            error = type(exc).__name__
        self.recorder.add(kind, (time.perf_counter() - start) * 1000, error)
        return text

    def form(self, kind: str, path: str, data: dict) -> str:
        page = self.request(f"{kind} (form)", path)
        token = CSRF.search(page)
        return self.request(kind, path, {**data, "csrf_token": token.group(1) if token else ""})


def newcomer_journey(p: Person, n: int) -> None:
    p.form("sign-up", "/join/newcomer", {
        "full_name": f"Load Newcomer {n}", "email": f"load{n}@example.net",
        "password": PASSWORD, "channel": "email", "timezone": "Asia/Kolkata",
        "region": "london", "scheme": "london:barnet", "stage": "ST1", "arrival_day": "4",
        "arrival_month": "8", "arrival_year": "2027", "interests": ["paediatrics"],
        "contact_consent": "y"})
    p.request("account", "/account/")


def member_journey(p: Person, member: tuple[str, str]) -> None:
    email, region = member
    p.form("sign-in", "/login", {"email": email, "password": PASSWORD})
    p.request("account", "/account/")
    p.form("profile edit", "/account/edit", {
        "full_name": "Load Tested Member", "channel": "email", "timezone": "Europe/London",
        "region": region, "scheme": "", "stage": "ST1", "arrival_day": "4",
        "arrival_month": "8", "arrival_year": "2027", "interests": ["education"]})
    p.request("family page", "/family/")


def lead_journey(p: Person, region: str) -> None:
    p.form("sign-in", "/login", {"email": f"lead.{region}@example.org", "password": PASSWORD})
    p.request("dashboard", "/lead/")
    p.request("match runs", "/lead/runs/")


def user_loop(kind: str, base: str, recorder: Recorder, deadline: float, seed: int,
              members: list[tuple[str, str]], regions: list[str],
              think: tuple[float, float]) -> None:
    rng = random.Random(seed)
    n = seed * 100_000
    while time.monotonic() < deadline:
        p = Person(base, recorder)
        if kind == "health":
            p.request("/healthz (bare)", "/healthz")
        elif kind == "newcomer":
            n += 1
            newcomer_journey(p, n)
        elif kind == "lead":
            lead_journey(p, rng.choice(regions))
        else:
            member_journey(p, rng.choice(members))
        time.sleep(rng.uniform(*think))  # a person reads the page or fills in the form


def prepare(server: PostgresServer) -> tuple[str, list[tuple[str, str]], list[str]]:
    """Migrate, load demo data with the load-test password; return URL, members, regions."""
    from sqlmodel import Session, select

    from buddy import create_app, demo, migrate, reference
    from buddy.models import Person as Member
    from buddy.models import User

    url = server.create_database("load")
    migrate.upgrade(url)
    app = create_app({"BUDDY_DATABASE_URL": url, "BUDDY_ENV": "test"})
    with app.app_context(), Session(app.extensions["buddy.engine"]) as session:
        demo.load(session=session, seed=2027, password=PASSWORD)
        newcomers = session.exec(
            select(User.email, Member.region).join(Member, Member.user_id == User.id)
            .where(Member.role == "newcomer", Member.status == "active").limit(500)).all()
    app.extensions["buddy.engine"].dispose()
    return url, [tuple(row) for row in newcomers], list(reference.regions())


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def report(recorder: Recorder, seconds: float) -> bool:
    total = sum(len(v) for v in recorder.times.values())
    errors = sum(recorder.errors.values())
    print(f"\n{total} requests in {seconds:.0f} s: {total / seconds:.1f} requests/s, "
          f"{errors} errors")
    print(f"{'request':<26}{'count':>7}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}")
    for kind in sorted(recorder.times):
        times = sorted(recorder.times[kind])
        print(f"{kind:<26}{len(times):>7}{statistics.median(times):>8.0f}"
              f"{percentile(times, 0.95):>8.0f}{percentile(times, 0.99):>8.0f}{times[-1]:>8.0f}")
    for error, count in sorted(recorder.errors.items()):
        print(f"error: {error} x{count}")
    return errors == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--think-min", type=float, default=2.0,
                        help="shortest pause between a user's journeys, seconds")
    parser.add_argument("--think-max", type=float, default=8.0,
                        help="longest pause between a user's journeys, seconds")
    args = parser.parse_args(argv)

    server = PostgresServer().start()
    gunicorn = None
    try:
        print("preparing PostgreSQL and the national demo data...", file=sys.stderr)
        url, members, regions = prepare(server)
        port = free_port()
        env = {**os.environ, "BUDDY_DATABASE_URL": url, "BUDDY_ENV": "test",
               "BUDDY_SECRET_KEY": "load-test-secret-key-0123456789abcdef",
               "PORT": str(port), "WEB_CONCURRENCY": str(args.workers)}
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
             "--access-logfile", "/dev/null", "buddy.wsgi:app"], env=env)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        recorder = Recorder()
        deadline = time.monotonic() + args.seconds
        mix = (["health"] * 1 + ["newcomer"] * 2 + ["member"] * 5 + ["lead"] * 2)
        threads = [threading.Thread(target=user_loop, daemon=True, args=(
            mix[i % len(mix)], base, recorder, deadline, i + 1, members, regions,
            (args.think_min, args.think_max)))
            for i in range(args.users)]
        print(f"{args.users} users for {args.seconds} s against gunicorn "
              f"({args.workers} workers x 4 threads) on PostgreSQL...", file=sys.stderr)
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 60)
        ok = report(recorder, time.monotonic() - started)
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(timeout=30)
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
