"""Fault drills on PostgreSQL: the outbox and the web app survive what production throws.

    python -m tests.perf.faults [--kills 20] [--messages 2000] [--parts 1,2,3,4]

Starts a throwaway PostgreSQL server (tests/postgres.py), the fake Twilio and SMTP servers
(tests/fakes.py) in this process, and runs four drills, each on its own database:

1. Dispatcher killed: `--messages` due messages (40% SMS, 20% WhatsApp, 40% email, to active
   members with confirmed emails in three time zones, the sending window open at `--now`);
   `--kills` times a `buddy dispatch` process runs for a random 0.1-2 s (counted from its
   first send, after its start-up) and its process group is SIGKILLed; then a last pass
   11 minutes later (rows left in `sending` become `uncertain`) sends the rest.
   Compares what the fakes received with the outbox: no duplicates, nothing lost (pending,
   stuck in `sending`, or marked sent and never received), and the `uncertain` rows listed.
   A row whose dispatcher died before the hand-over commit is queued again and sent once;
   after it the row is `uncertain` (RELIABILITY.md: never resent automatically). If the kill
   fell between that commit and the bytes reaching the provider, the row was not delivered:
   it is listed for a person to settle, the price of never sending anything twice.
2. PostgreSQL restarted under load: gunicorn serves the app, client threads call /healthz
   and a signed-in /account/ page, PostgreSQL is restarted (`pg_ctl restart -m fast`) and
   the requests must succeed again, without restarting gunicorn, within a few seconds.
3. SMTP down for 10 minutes: passes with `--now` stepping a minute at a time; emails go back
   to pending with backoff (not failed); SMTP comes back; every email is sent once.
4. Twilio answering 500 for a while (the fake's scripted answers), then 201: same checks.

Prints a report and exits non-zero on any duplicate, any loss, or no recovery. Loopback
only; every process and server it starts is stopped, on failure too. About 8 minutes on a
loaded 2-core machine (each `buddy dispatch` start-up takes 3-6 s there).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.fakes import FakeSMTP, FakeTwilio, free_port
from tests.perf.load import CSRF
from tests.perf.messaging import NOW, dispatcher_settings, fill, received_counts
from tests.postgres import PostgresServer

BUDDY = str(Path(sys.executable).with_name("buddy"))  # the console script
STUCK = timedelta(minutes=11)  # past dispatch.STUCK_AFTER: `sending` rows become `uncertain`
TEXTS = ("sms", "sms", "whatsapp")


def say(text: str = "") -> None:
    print(text, flush=True)


# --- Shared pieces ------------------------------------------------------------------------------

class Fakes:
    """FakeTwilio and FakeSMTP for one drill, with the dispatcher's environment."""

    def __init__(self, database_url: str):
        self.twilio = FakeTwilio().start()
        self.smtp = FakeSMTP()
        try:
            self.smtp.start()
        except BaseException:
            self.twilio.stop()
            raise
        settings = dispatcher_settings(database_url, self.twilio.url, self.smtp.port)
        self.env = {**os.environ, **{k: str(v) for k, v in settings.items()}}
        self.database_url = database_url

    def handed(self) -> int:
        """Requests and emails the fakes have received so far."""
        return len(self.twilio.received) + len(self.smtp.received)

    def stop(self) -> None:
        self.twilio.stop()
        self.smtp.stop()


def start_dispatcher(env: dict, now: datetime, log) -> subprocess.Popen:
    """`buddy dispatch --now ...` in its own process group (so a kill takes all of it)."""
    return subprocess.Popen([BUDDY, "dispatch", "--now", now.isoformat()], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(30)


def dispatch_pass(env: dict, now: datetime, log) -> None:
    """One whole `buddy dispatch --now` pass (killed if it takes over two minutes)."""
    process = start_dispatcher(env, now, log)
    try:
        process.wait(120)
    except subprocess.TimeoutExpired:
        say(f"  ! dispatch pass at {now:%H:%M} still running after 120 s: killed")
    finally:
        kill_group(process)


def outbox(database_url: str) -> list[dict]:
    from buddy.db import build_engine
    from buddy.messaging.models import Message

    engine = build_engine(database_url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(Message.id, Message.channel, Message.status, Message.attempts,
                          Message.last_error, Message.provider_id).order_by(Message.id))]
    finally:
        engine.dispose()


@dataclass
class Tally:
    """Outbox rows against what the fake providers kept."""

    rows: list[dict]
    received: Counter
    duplicates: dict[int, int] = field(default_factory=dict)
    lost: list[dict] = field(default_factory=list)  # not sent and never reached a provider
    phantom: list[dict] = field(default_factory=list)  # `sent` but no provider has it
    uncertain_received: list[dict] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    strangers: list[int] = field(default_factory=list)  # received ids not in the outbox

    def __post_init__(self) -> None:
        ids = {r["id"] for r in self.rows}
        self.statuses = Counter(r["status"] for r in self.rows)
        self.duplicates = {i: n for i, n in self.received.items() if n > 1}
        self.strangers = sorted(set(self.received) - ids)
        for row in self.rows:
            got = self.received.get(row["id"], 0)
            if row["status"] == "uncertain" and got:
                self.uncertain_received.append(row)
            elif row["status"] == "sent" and not got:
                self.phantom.append(row)
            elif row["status"] != "sent" and not got:
                self.lost.append(row)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.phantom or self.strangers)

    def print(self) -> None:
        say(f"  outbox: {len(self.rows)} rows, {dict(sorted(self.statuses.items()))}")
        say(f"  received by the fakes: {sum(self.received.values())} "
            f"({len(self.received)} distinct outbox ids)")
        say(f"  duplicates (an outbox row received twice or more): {len(self.duplicates)}"
            + (f" {sorted(self.duplicates.items())[:20]}" if self.duplicates else ""))
        lost = [f"{r['id']} ({r['status']})" for r in self.lost]
        say(f"  lost (not sent and never received): {len(self.lost)}"
            + (f" {lost[:20]}" if lost else ""))
        if self.phantom:
            say(f"  marked sent but never received: {len(self.phantom)} "
                f"{[r['id'] for r in self.phantom[:20]]}")
        if self.strangers:
            say(f"  received ids not in the outbox: {self.strangers[:20]}")


def attempts_line(rows: list[dict]) -> str:
    spread = Counter(r["attempts"] for r in rows)
    return ", ".join(f"{n} message{'s' if n != 1 else ''} x {a} tr{'ies' if a != 1 else 'y'}"
                     for a, n in sorted(spread.items()))


# --- 1. Dispatcher killed -------------------------------------------------------------------

def drill_kills(server: PostgresServer, kills: int, messages: int, rng: random.Random,
                logdir: Path) -> bool:
    say(f"\n1. Dispatcher SIGKILLed {kills} times while sending {messages} messages")
    url = server.create_database("faults_kills")
    from buddy import migrate

    migrate.upgrade(url)
    ids = fill(url, messages, now=NOW, members=True)
    say(f"  queued {len(ids)} due messages at {NOW:%Y-%m-%d %H:%M} UTC (40% SMS, 20% WhatsApp, "
        "40% email; members in London, Kolkata, Berlin, window open)")
    fakes = Fakes(url)
    running: subprocess.Popen | None = None
    try:
        with open(logdir / "kills.log", "ab") as log:
            left_sending = 0
            started = time.monotonic()
            for n in range(1, kills + 1):
                # The random 0.1-2 s counts from the first message the new dispatcher hands
                # to a provider: starting `buddy` (imports, create_app) takes 1-3 s on this
                # machine, so timing from the process start would mostly kill it before
                # it had claimed anything, which tests nothing.
                before = fakes.handed()
                launched = time.monotonic()
                running = start_dispatcher(fakes.env, NOW, log)
                while (fakes.handed() == before and running.poll() is None
                       and time.monotonic() - launched < 60):
                    time.sleep(0.005)
                warmup = time.monotonic() - launched
                alive = rng.uniform(0.1, 2.0)
                time.sleep(alive)
                finished = running.poll() is not None
                kill_group(running)
                running = None
                rows = outbox(url)
                sending = sum(r["status"] == "sending" for r in rows)
                sent = sum(r["status"] == "sent" for r in rows)
                caught = sending - left_sending
                left_sending = sending
                say(f"  kill {n:2}: {alive:.2f} s after its first send ({warmup:.1f} s start-up)"
                    + (" (it had already finished)" if finished else "")
                    + f"; sent so far {sent}, rows left in `sending` {sending}"
                    + (" (+1: killed mid-message)" if caught > 0 else ""))
            killed_for = time.monotonic() - started
            final = NOW + STUCK
            say(f"  last pass with --now {final:%H:%M} (11 minutes later: stuck rows become "
                "uncertain) runs to the end...")
            t0 = time.monotonic()
            dispatch_pass(fakes.env, final, log)
            say(f"  last pass took {time.monotonic() - t0:.1f} s (kill phase {killed_for:.1f} s)")
        tally = Tally(outbox(url), received_counts(fakes.twilio, fakes.smtp))
    finally:
        if running is not None:
            kill_group(running)
        fakes.stop()
    tally.print()
    uncertain = [r for r in tally.rows if r["status"] == "uncertain"]
    stranded = [r for r in uncertain if not tally.received.get(r["id"])]
    say(f"  uncertain rows: {len(uncertain)} (a dispatcher was killed between claiming the row "
        "and recording the outcome; never resent automatically)")
    for row in uncertain:
        got = tally.received.get(row["id"], 0)
        say(f"    message {row['id']} ({row['channel']}): received {got}x by the fake "
            + ("(the provider had accepted it: delivered once)" if got else
               "(killed before the provider had it: NOT delivered)"))
    silent = [r for r in tally.lost if r["status"] != "uncertain"] + tally.phantom
    stuck = tally.statuses.get("pending", 0) + tally.statuses.get("sending", 0)
    ok = not tally.duplicates and not silent and not tally.strangers and not stuck
    say(f"  => {'PASS' if ok else 'FAIL'}: duplicates {len(tally.duplicates)}, lost "
        f"{len(silent)}, uncertain {len(uncertain)} listed ({len(uncertain) - len(stranded)} "
        f"delivered once, {len(stranded)} not delivered: killed after the hand-over commit, "
        "before the provider had it; shown on /messages/problems, never resent)")
    return ok


# --- 2. PostgreSQL restarted under load ----------------------------------------------------

class Client:
    """One browser: its own cookies, a request that says whether the page really worked."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        try:
            with self.opener.open(self.base + path, data=body, timeout=10) as response:
                return response.status, urllib.parse.urlsplit(response.url).path, \
                    response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, path, ""

    def sign_up(self) -> None:
        from tests.factories import newcomer_form

        status, path, page = self.get("/join/newcomer")
        form = newcomer_form(channel="email", phone=None, phone_country=None,
                             timezone="Europe/London")
        for _ in range(20):  # a page a question, then "check your answers"
            token = CSRF.search(page)
            status, path, page = self.get(path, {**form, "csrf_token": token.group(
                1) if token else ""})
            if status != 200 or not path.startswith("/join/") or path == "/join/done":
                break
        status, path, _ = self.get("/account/")
        if status != 200 or path != "/account/":
            raise RuntimeError(f"sign-up did not sign in: /account/ gave {status} at {path}")


def check(client: Client, kind: str) -> str | None:
    """None when the request worked, else what went wrong."""
    try:
        if kind == "healthz":
            status, _, text = client.get("/healthz")
            if status != 200:
                return f"HTTP {status}"
            return None if json.loads(text).get("database") is True else "database: false"
        status, path, _ = client.get("/account/")
        if status != 200:
            return f"HTTP {status}"
        return None if path == "/account/" else f"redirected to {path}"
    except (OSError, ValueError) as exc:
        return type(exc).__name__


def drill_postgres_restart(server: PostgresServer, logdir: Path) -> bool:
    say("\n2. PostgreSQL restarted (pg_ctl restart -m fast) under load, gunicorn left running")
    from buddy import migrate

    url = server.create_database("faults_web")
    migrate.upgrade(url)
    port = free_port()
    env = {**os.environ, "BUDDY_DATABASE_URL": url, "BUDDY_ENV": "test",
           "BUDDY_SECRET_KEY": "faults-secret-key-0123456789abcdef-faults",
           "PORT": str(port), "WEB_CONCURRENCY": "2", "BUDDY_BIND": "127.0.0.1"}
    base = f"http://127.0.0.1:{port}"
    gunicorn = None
    events: list[tuple[float, float, str, str | None]] = []  # start, end, kind, error
    lock = threading.Lock()
    stop = threading.Event()
    try:
        with open(logdir / "gunicorn.log", "ab") as log:
            gunicorn = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
                 "--access-logfile", "/dev/null", "buddy.wsgi:app"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or gunicorn.poll() is not None:
                    raise RuntimeError("gunicorn did not start; see gunicorn.log") from None
                time.sleep(0.2)
        clients = []
        for kind in ("healthz", "healthz", "account", "account"):
            client = Client(base)
            if kind == "account":
                client.sign_up()
            clients.append((client, kind))

        def loop(client: Client, kind: str) -> None:
            while not stop.is_set():
                start = time.monotonic()
                error = check(client, kind)
                with lock:
                    events.append((start, time.monotonic(), kind, error))
                time.sleep(0.05)

        threads = [threading.Thread(target=loop, args=pair, daemon=True) for pair in clients]
        for t in threads:
            t.start()
        time.sleep(3)
        say("  4 client threads (2 x /healthz, 2 x signed-in /account/) for 3 s, then restart")
        restart_start = time.monotonic()
        server.restart()
        restart_end = time.monotonic()
        time.sleep(12)
        stop.set()
        for t in threads:
            t.join(15)
    finally:
        stop.set()
        if gunicorn is not None:
            if gunicorn.poll() is None:
                os.killpg(gunicorn.pid, signal.SIGTERM)
            try:
                gunicorn.wait(30)
            except subprocess.TimeoutExpired:
                kill_group(gunicorn)
    say(f"  pg_ctl restart -m fast took {restart_end - restart_start:.2f} s")
    ok = True
    for kind in ("healthz", "account"):
        mine = sorted(e for e in events if e[2] == kind)
        before = [e for e in mine if e[1] < restart_start]
        after = [e for e in mine if e[1] >= restart_start]
        errors = [e for e in after if e[3]]
        # Recovered at the first request (ending after the restart began) from which every
        # later request succeeded.
        recovered_at = None
        for i, e in enumerate(after):
            if all(x[3] is None for x in after[i:]):
                recovered_at = e[1]
                break
        say(f"  {kind}: {len(before)} requests before the restart "
            f"({sum(1 for e in before if e[3])} errors), {len(after)} from it on, "
            f"{len(errors)} errors:")
        for when, _, _, error in errors:
            say(f"    {when - restart_start:+6.2f} s  {error}")
        if recovered_at is None or not after or after[-1][3]:
            say("    NEVER RECOVERED")
            ok = False
        else:
            say(f"    every request succeeding again {recovered_at - restart_start:.2f} s after "
                f"the restart began (pg_ctl returned at {restart_end - restart_start:.2f} s); "
                f"{sum(1 for e in after if e[1] >= recovered_at)} successes since")
        if any(e[3] for e in before):
            ok = False
    say("  => PASS: requests succeed again without restarting gunicorn" if ok else
        "  => FAIL")
    return ok


# --- 3 and 4. A provider down, then back --------------------------------------------------------

def drill_provider_down(server: PostgresServer, which: str, count: int, twilio_errors: int,
                        logdir: Path) -> bool:
    if which == "smtp":
        say(f"\n3. SMTP down for 10 minutes: {count} emails, a pass every simulated minute")
    else:
        say(f"\n4. Twilio answering 500 to the next {twilio_errors} requests, then 201: "
            f"{count} texts (SMS and WhatsApp), a pass every simulated minute")
    from buddy import migrate

    url = server.create_database(f"faults_{which}")
    migrate.upgrade(url)
    start = NOW.replace(hour=10)  # London 11:00, Berlin 12:00, Kolkata 15:30: hours of window
    fill(url, count, now=start, members=True, channels=("email",) if which == "smtp" else TEXTS)
    fakes = Fakes(url)
    ok = True
    try:
        with open(logdir / f"{which}.log", "ab") as log:
            if which == "smtp":
                fakes.smtp.stop()
                say("  FakeSMTP stopped (connections refused)")
            else:
                fakes.twilio.script = ["error"] * twilio_errors
            minute = 0
            while True:
                now = start + timedelta(minutes=minute)
                if which == "smtp" and minute == 10:
                    fakes.smtp.start()
                    say("  minute 10: FakeSMTP started again")
                dispatch_pass(fakes.env, now, log)
                rows = outbox(url)
                statuses = Counter(r["status"] for r in rows)
                say(f"  minute {minute:3}: {dict(sorted(statuses.items()))}"
                    + (f"; Twilio 500s left {len(fakes.twilio.script)}" if which != "smtp"
                       else ""))
                if which == "smtp" and minute < 10 and (statuses.get("sent") or
                                                         statuses.get("failed")):
                    say("  ! an email was sent or failed while SMTP was down")
                    ok = False
                if ((which != "smtp" or minute >= 10) and not statuses.get("pending")
                        and not statuses.get("sending")):
                    break
                if minute >= 120:
                    say("  ! still pending after 120 simulated minutes")
                    ok = False
                    break
                minute += 1
        tally = Tally(outbox(url), received_counts(fakes.twilio, fakes.smtp))
        errors_answered = sum(1 for r in fakes.twilio.received if r["mode"] == "error")
    finally:
        fakes.stop()
    tally.print()
    say(f"  attempts per message: {attempts_line(tally.rows)}")
    if which != "smtp":
        say(f"  Twilio requests: {len(fakes.twilio.received)} "
            f"({errors_answered} answered 500, {len(fakes.twilio.accepted())} answered 201)")
    ok = ok and tally.ok and tally.statuses == Counter({"sent": count})
    say(f"  => {'PASS' if ok else 'FAIL'}: all {count} sent once after {minute} simulated "
        f"minutes; duplicates {len(tally.duplicates)}, lost {len(tally.lost) + len(tally.phantom)}")
    return ok


# --- Main -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.perf.faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--retry-messages", type=int, default=200,
                        help="messages in drills 3 and 4")
    parser.add_argument("--twilio-errors", type=int, default=500,
                        help="requests the fake Twilio answers 500 in drill 4")
    parser.add_argument("--parts", default="1,2,3,4")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    parts = {int(p) for p in args.parts.split(",") if p.strip()}
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    random.seed(seed)

    results: dict[int, bool] = {}
    started = time.monotonic()
    say(f"fault drills on PostgreSQL (seed {seed}; rerun with --seed {seed} for the same kills)")
    with tempfile.TemporaryDirectory(prefix="buddy-faults-") as tmp:
        logdir = Path(tmp)
        server = PostgresServer()
        try:
            server.start()
            drills = {
                1: lambda: drill_kills(server, args.kills, args.messages, rng, logdir),
                2: lambda: drill_postgres_restart(server, logdir),
                3: lambda: drill_provider_down(server, "smtp", args.retry_messages, 0, logdir),
                4: lambda: drill_provider_down(server, "twilio", args.retry_messages,
                                               args.twilio_errors, logdir),
            }
            for number in sorted(parts):
                try:
                    results[number] = drills[number]()
                except Exception as exc:  # noqa: BLE001 - reported, and the run fails
                    say(f"  => FAIL: {type(exc).__name__}: {exc}")
                    results[number] = False
        finally:
            server.stop()
            if not all(results.values()):
                for log in sorted(logdir.glob("*.log")):
                    tail = log.read_bytes()[-1500:].decode(errors="replace")
                    say(f"\n--- last lines of {log.name} ---\n{tail}")
    say(f"\nsummary ({time.monotonic() - started:.0f} s): "
        + ", ".join(f"{n}: {'PASS' if ok else 'FAIL'}" for n, ok in sorted(results.items())))
    return 0 if results and all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
