"""Load test: a September peak against gunicorn on PostgreSQL, from a second process.

    python -m tests.perf.load [--pace peak|stress] [--users 200] [--seconds 120] [--warm-up 15]
                              [--workers N] [--threads N] [--access-log FILE]

Starts a throwaway PostgreSQL server, migrates it and loads the national demo data, starts
gunicorn (config/gunicorn.conf.py) on loopback, then runs simulated people in this process,
each a browser session of its own:
- newcomers sign up, look at their account, edit their profile and open their family page;
- members (newcomers and buddies of the demo data) sign in, then open their account, their
  family page and their profile form, and save it;
- DA leads sign in and open their dashboard, the help requests and the match runs;
- a tenth of the users only call /healthz, the bare endpoint of the same stack, for
  comparison in the same run.
Every person pauses after every page, as one reads a page or fills in a form, signs out at
the end of a visit and comes back as someone else. --pace sets the pauses (PACES): `peak` is
a September peak as people use the service (5-20 s to read a page; a minute or more to fill
in the sign-up form, which DESIGN.md says takes "a few minutes"), `stress` is 2-8 s on every
page, forms included: about 3.4 times the peak's requests for the same people. Prints
requests per second, p50/p95/p99 latency per kind of page and for all pages, every error
(an HTTP error, a dropped connection, or a form shown again with errors), and the CPU used by
gunicorn, PostgreSQL and this client. The first --warm-up seconds are not counted (workers
load templates and fill caches then), except their errors. Bounded in time; it stops by
itself. Exit status 1 if any request failed.
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
from html.parser import HTMLParser
from pathlib import Path

from tests.fakes import free_port
from tests.postgres import PostgresServer

PASSWORD = "load test password 2027"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BARE = "/healthz (bare)"
# Seconds a person stays on a page before the next request, by the kind of page just shown.
PACES = {
    # Sign-up is a page a question: 1-3 minutes over its 14 pages, 5-15 s each.
    "peak": {"read": (5.0, 20.0), "sign-in form": (5.0, 15.0), "sign-up form": (5.0, 15.0),
             "profile form": (20.0, 60.0)},
    "stress": {"read": (2.0, 8.0)},
}
TARGET_MS = 300  # the target: p95 under 300 ms for pages, with zero errors
PAGES = {"/": "home page", "/account/": "account", "/family/": "family page", "/lead/": "dashboard",
         "/login": "sign-in form", "/join/done": "signed-up page",
         "/join/check": "sign-up form"}  # where forms redirect (a question page: sign-up form)


class Recorder:
    """Latencies and errors of requests started after `record_from` (time.monotonic)."""

    def __init__(self, record_from: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.record_from = record_from
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    def add(self, kind: str, started: float, ms: float, error: str | None) -> None:
        if started < self.record_from and not error:
            return  # warming up: workers load templates and fill their caches
        with self.lock:
            self.times[kind].append(ms)
            if error:
                self.errors[f"{kind}: {error}"] += 1


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by Person.request, so that each request is timed on its own."""

    def redirect_request(self, *args, **kwargs):
        return None


class FormReader(HTMLParser):
    """The current values of a page's form fields: text inputs, checked boxes, selected options."""

    def __init__(self) -> None:
        super().__init__()
        self.values: list[tuple[str, str]] = []
        self.select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") not in ("checkbox", "radio") or "checked" in a:
                self.values.append((name, a.get("value") or ""))
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and "selected" in a:
            self.values.append((self.select, a.get("value") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self.select = None


class Person:
    """One simulated person: their own cookies (a browser, roughly) and their own pauses."""

    def __init__(self, base: str, recorder: Recorder, rng: random.Random,
                 pauses: dict[str, tuple[float, float]], deadline: float) -> None:
        self.base, self.recorder, self.rng = base, recorder, rng
        self.pauses, self.deadline = pauses, deadline
        self.page = ""
        self.path = ""  # where the last redirect led
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(jar), NoRedirect())

    def request(self, kind: str, path: str, data: list | None = None) -> None:
        """One page: the request, the page a form redirects to (timed on its own), a pause."""
        if time.monotonic() >= self.deadline:
            raise TimeoutError  # the run is over: stop mid-visit
        location = self._fetch(kind, path, data)
        for _ in range(3):  # a sign-up's emailed link redirects on to its next page
            if not location:
                break
            self.path = urllib.parse.urlsplit(location).path
            location = self._fetch(PAGES.get(self.path, "sign-up form" if self.path.startswith(
                "/join/") else location), location, None)
        # A person reads the page, or fills in the form it shows, before the next request.
        pause = self.rng.uniform(*self.pauses.get(kind, self.pauses["read"]))
        time.sleep(max(0.0, min(pause, self.deadline - time.monotonic())))

    def _fetch(self, kind: str, path: str, data: list | None) -> str | None:
        """One HTTP request, timed and recorded; returns where a redirect points."""
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        start = time.monotonic()
        error, location, self.page = None, None, ""
        try:
            with self.opener.open(urllib.parse.urljoin(self.base, path), data=body,
                                  timeout=30) as response:
                self.page = response.read().decode()
        except urllib.error.HTTPError as exc:
            if exc.code in (302, 303):
                location = exc.headers["Location"]
            else:
                error = f"HTTP {exc.code}"
        except OSError as exc:
            error = type(exc).__name__
        if data is not None and "nhsuk-error-summary" in self.page:
            error = "form not accepted"  # a form shown again with its errors: nothing saved
        self.recorder.add(kind, start, (time.monotonic() - start) * 1000, error)
        return location

    def submit(self, kind: str, path: str, data: dict | list[tuple[str, str]]) -> None:
        """Post the form of the page just shown (with its CSRF token)."""
        token = CSRF.search(self.page)
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        self.request(kind, path, fields + [("csrf_token", token.group(1) if token else "")])

    def form_values(self) -> list[tuple[str, str]]:
        """What a browser would send for the form on the page just shown, as it stands."""
        reader = FormReader()
        reader.feed(self.page)
        return reader.values

    def sign_out(self) -> None:
        self.submit("sign-out", "/logout", {})


def newcomer_visit(p: Person, n: int) -> None:
    """Sign up page by page (each page reads only its own answers), then look around."""
    answers = {
        "full_name": f"Load Newcomer {n}", "email": f"load{n}@example.net",
        "channel": "email", "timezone": "Asia/Kolkata",
        "region": "london", "scheme": "london:barnet", "stage": "ST1", "arrival_day": "4",
        "arrival_month": "8", "arrival_year": "2027", "interests": ["paediatrics"]}
    p.request("sign-up form", "/join/newcomer")
    p.path = "/join/newcomer"
    for _ in range(20):
        if p.path == "/join/check":
            p.submit("sign-up", "/join/check", {"password": PASSWORD, "contact_consent": "y"})
            break
        p.submit("sign-up page", p.path, answers)
    p.request("account", "/account/")
    p.request("family page", "/family/")
    p.sign_out()


def member_visit(p: Person, email: str) -> None:
    p.request("sign-in form", "/login")
    p.submit("sign-in", "/login", {"email": email, "password": PASSWORD})
    p.request("account", "/account/")
    p.request("family page", "/family/")
    p.request("profile form", "/account/edit")
    # The form as shown, with new interests: what most edits change (not the name, whose
    # change re-plans the whole family's messages).
    values = [(k, v) for k, v in p.form_values() if k not in ("interests", "csrf_token")]
    p.submit("profile edit", "/account/edit", values + [("interests", "education")])
    p.request("family page", "/family/")
    p.sign_out()


def lead_visit(p: Person, region: str) -> None:
    p.request("sign-in form", "/login")
    p.submit("sign-in", "/login", {"email": f"lead.{region}@example.org", "password": PASSWORD})
    p.request("dashboard", "/lead/")
    p.request("help requests", "/lead/flags")
    p.request("match runs", "/lead/runs/")
    p.request("dashboard", "/lead/")
    p.sign_out()


def user_loop(kind: str, base: str, recorder: Recorder, deadline: float, seed: int,
              members: list[str], regions: list[str],
              pauses: dict[str, tuple[float, float]]) -> None:
    rng = random.Random(seed)
    # Users start spread over one reading pause, not all in the same instant.
    time.sleep(rng.uniform(0, pauses["read"][1]))
    n = seed * 100_000
    while time.monotonic() < deadline:
        p = Person(base, recorder, rng, pauses, deadline)
        try:
            if kind == "health":
                p.request(BARE, "/healthz")
            elif kind == "newcomer":
                n += 1
                newcomer_visit(p, n)
            elif kind == "lead":
                lead_visit(p, rng.choice(regions))
            else:
                member_visit(p, rng.choice(members))
        except TimeoutError:
            return
        except Exception as exc:  # noqa: BLE001 - a broken visit is reported, not lost
            recorder.add(f"{kind} visit", 0.0, 0.0, f"client {type(exc).__name__}: {exc}")
            raise


def prepare(server: PostgresServer) -> tuple[str, list[str], list[str]]:
    """Migrate, load demo data with the load-test password; return URL, member emails, regions."""
    import sqlalchemy as sa
    from sqlmodel import Session, select

    from buddy import create_app, demo, migrate, reference
    from buddy.models import Person as Member
    from buddy.models import User

    url = server.create_database("load")
    migrate.upgrade(url)
    app = create_app({"BUDDY_DATABASE_URL": url, "BUDDY_ENV": "test"})
    with app.app_context(), Session(app.extensions["buddy.engine"]) as session:
        demo.load(session=session, seed=2027, password=PASSWORD)
        # A live database has planner statistics; freshly loaded, it has none until
        # autovacuum gets round to it, and PostgreSQL's plans are then far from real ones.
        session.connection().execute(sa.text("ANALYZE"))
        session.commit()
        emails = session.exec(
            select(User.email).join(Member, Member.user_id == User.id)
            .where(Member.role.in_(["newcomer", "buddy"]), Member.status == "active")
            .order_by(User.id)).all()
    app.extensions["buddy.engine"].dispose()
    return url, list(emails), list(reference.regions())


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their children so far (from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, seen, todo = 0.0, set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue  # ended in the meantime
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        if pid in pids:  # and the processes it has reaped (restarted workers, ended backends)
            total += (int(fields[13]) + int(fields[14])) / ticks  # cutime, cstime
        todo.extend(int(c) for c in children)
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy so far, on all cores (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _row(kind: str, times: list[float]) -> str:
    times = sorted(times)
    return (f"{kind:<22}{len(times):>7}{statistics.median(times):>8.0f}"
            f"{percentile(times, 0.95):>8.0f}{percentile(times, 0.99):>8.0f}{times[-1]:>8.0f}")


def report(recorder: Recorder, seconds: float) -> bool:
    total = sum(len(v) for v in recorder.times.values())
    errors = sum(recorder.errors.values())
    print(f"\n{total} requests in {seconds:.0f} s: {total / seconds:.1f} requests/s, "
          f"{errors} errors")
    print(f"{'request':<22}{'count':>7}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}")
    for kind in sorted(recorder.times):
        print(_row(kind, recorder.times[kind]))
    pages = [ms for kind, times in recorder.times.items() if kind != BARE for ms in times]
    print(_row("all pages", pages))
    for error, count in sorted(recorder.errors.items()):
        print(f"error: {error} x{count}")
    slow = [kind for kind, times in sorted(recorder.times.items())
            if kind != BARE and percentile(sorted(times), 0.95) >= TARGET_MS]
    print(f"target (0 errors, p95 under {TARGET_MS} ms for every kind of page): "
          + ("met" if not errors and not slow else
             f"NOT met: {errors} errors; p95 {TARGET_MS} ms or more: {', '.join(slow) or 'none'}"))
    return errors == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pace", choices=sorted(PACES), default="peak",
                        help="pauses between pages (PACES): peak as people use it, or stress")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--warm-up", type=int, default=15,
                        help="seconds at the start not counted (errors always count)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: as deployed, "
                        "config/gunicorn.conf.py's 2 x cores + 1)")
    parser.add_argument("--threads", type=int, help="threads per gunicorn worker (default: "
                        "as deployed, 4)")
    parser.add_argument("--access-log", default="/dev/null",
                        help="gunicorn's access log, with each request's time in the worker "
                        "(microseconds, last field): to tell queueing from work")
    args = parser.parse_args(argv)

    server = PostgresServer().start()
    gunicorn = None
    try:
        print("preparing PostgreSQL and the national demo data...", file=sys.stderr)
        url, members, regions = prepare(server)
        port = free_port()
        env = {**os.environ, "BUDDY_DATABASE_URL": url, "BUDDY_ENV": "test",
               "BUDDY_SECRET_KEY": "load-test-secret-key-0123456789abcdef",
               "PORT": str(port)}
        if args.workers:
            env["WEB_CONCURRENCY"] = str(args.workers)
        if args.threads:
            env["BUDDY_THREADS"] = str(args.threads)
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
             "--access-logfile", args.access_log,
             "--access-logformat", '%(t)s %(p)s "%(r)s" %(s)s %(D)s', "buddy.wsgi:app"], env=env)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        record_from = time.monotonic() + args.warm_up
        recorder = Recorder(record_from)
        deadline = record_from + args.seconds
        mix = ["health"] + ["newcomer"] * 2 + ["member"] * 6 + ["lead"]
        threads = [threading.Thread(target=user_loop, daemon=True, args=(
            mix[i % len(mix)], base, recorder, deadline, i + 1, members, regions,
            PACES[args.pace]))
            for i in range(args.users)]
        print(f"{args.users} users at {args.pace} pace, {args.warm_up} s of warm-up, then "
              f"{args.seconds} s counted, against gunicorn ({args.workers or 'default'} "
              f"workers x {args.threads or 'default'} threads) on PostgreSQL...",
              file=sys.stderr)
        for t in threads:
            t.start()
        time.sleep(max(0.0, record_from - time.monotonic()))
        cpu_before = (cpu_seconds([gunicorn.pid]), cpu_seconds([server.pid()]),
                      sum(os.times()[:2]), machine_busy_seconds())
        for t in threads:
            t.join(timeout=args.seconds + 60)
        elapsed = time.monotonic() - record_from
        ok = report(recorder, elapsed)
        cpu_after = (cpu_seconds([gunicorn.pid]), cpu_seconds([server.pid()]),
                     sum(os.times()[:2]), machine_busy_seconds())
        used = [(after - before) / elapsed
                for before, after in zip(cpu_before, cpu_after, strict=True)]
        print(f"CPU cores busy on average: gunicorn {used[0]:.2f}, PostgreSQL {used[1]:.2f}, "
              f"this client {used[2]:.2f}, anything else {used[3] - sum(used[:3]):.2f} "
              f"(of {os.cpu_count()}); load average {os.getloadavg()[0]:.1f}")
    finally:
        if gunicorn is not None:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(timeout=30)
        server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
