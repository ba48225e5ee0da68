"""A match run whose job died is failed by the scheduler, never by a page that shows it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from buddy import clock
from buddy.models import MatchRun
from buddy.services import runs
from tests.conftest import TEST_SETTINGS
from tests.factories import login
from tests.test_runs import NOW, REGION

# Ten minutes after NOW: past a 10-second run's limit and runs.STALE_AFTER, within a
# 10-minute run's.
LATER = "2027-07-01T09:10:00+01:00"


@pytest.fixture
def lead(factory):
    return factory.staff("lead", region=REGION, email="lead.wessex@example.org")


def queued(make_app, session, lead, *, kind: str = "families", limit: int = 10) -> MatchRun:
    """A run started at NOW whose job never ran (as when its process died)."""
    with make_app(BUDDY_NOW=NOW).app_context():
        return runs.start_run(session, lead=lead, region=REGION, kind=kind, time_limit_s=limit)


def as_stored(session, run_id: int) -> dict:
    session.expire_all()
    return session.get(MatchRun, run_id).model_dump()


def test_only_runs_past_their_limit_are_failed_and_once(make_app, session, lead):
    stale = queued(make_app, session, lead)
    alive = queued(make_app, session, lead, kind="ambassadors", limit=600)
    assert runs.fail_stale_runs(session, now=clock.parse(LATER)) == {"stale_runs_failed": 1}
    session.expire_all()
    assert session.get(MatchRun, stale.id).status == "failed"
    assert session.get(MatchRun, stale.id).error == runs.STOPPED
    assert session.get(MatchRun, alive.id).status == "queued"
    assert runs.fail_stale_runs(session, now=clock.parse(LATER)) == {"stale_runs_failed": 0}


def test_opening_the_run_pages_changes_nothing(make_app, session, lead):
    run = queued(make_app, session, lead)
    before = as_stored(session, run.id)
    client = make_app(BUDDY_NOW=LATER).test_client()
    login(client, "lead.wessex@example.org")
    for url in (f"/lead/runs/?region={REGION}", f"/lead/runs/{run.id}"):
        assert client.get(url).status_code == 200
    assert as_stored(session, run.id) == before
    assert before["status"] == "queued"


def test_the_scheduler_fails_a_stale_run(make_app, settings, session, lead):
    run = queued(make_app, session, lead)
    env = {**os.environ, **{k: str(v) for k, v in {**TEST_SETTINGS, **settings,
                                                   "BUDDY_NOW": LATER}.items()}}
    buddy = os.path.join(os.path.dirname(sys.executable), "buddy")
    process = subprocess.Popen([buddy, "scheduler", "--interval", "1"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while as_stored(session, run.id)["status"] != "failed" and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    stored = as_stored(session, run.id)
    assert stored["status"] == "failed" and stored["error"] == runs.STOPPED, output
    client = make_app(BUDDY_NOW=LATER).test_client()
    login(client, "lead.wessex@example.org")
    assert runs.STOPPED in client.get(f"/lead/runs/{run.id}").get_data(as_text=True)
