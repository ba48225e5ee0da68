"""Background jobs. Each takes an id, opens its own app context and calls a service.

Match runs are CPU-heavy, so each runs in its own process (`python -m buddy.jobs run-match
ID`): web workers stay responsive, and regions run in parallel. The web process only starts
it and forgets it; the run's row is the truth (a job that dies is marked failed later).

A job writes its log lines (JSON, buddy.logs) to the standard error it inherits from the
web worker that started it, so they reach the same place as the worker's: systemd's
journal in production, the terminal under `make run`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

from flask import current_app

# Settings a job process must share with the app that launched it.
# BUDDY_NOW too: a run started under a fixed clock (development, tests) keeps it.
SHARED_SETTINGS = ("BUDDY_ENV", "BUDDY_DATABASE_URL", "BUDDY_SECRET_KEY", "BUDDY_PUBLIC_URL",
                   "BUDDY_SENTRY_DSN", "BUDDY_NOW")
log = logging.getLogger("buddy.jobs")


def launch_match_run(run_id: int) -> None:
    """Start the job process for a queued run and return at once."""
    env = {**os.environ, **{k: str(current_app.config[k]) for k in SHARED_SETTINGS}}
    command = [sys.executable, "-m", "buddy.jobs", "run-match", str(run_id)]
    # A thread waits for the child so that it is reaped; the child has its own session so
    # that a web worker restart does not kill a run half way. Its standard error is the
    # worker's (not redirected): that is where its log lines go.
    threading.Thread(
        target=subprocess.run, args=(command,),
        kwargs={"env": env, "start_new_session": True, "stdin": subprocess.DEVNULL,
                "stdout": subprocess.DEVNULL, "check": False},
        daemon=True, name=f"match-run-{run_id}",
    ).start()


def run_match(run_id: int) -> int:
    """Execute a queued run in this process; returns an exit status."""
    from buddy import create_app, logs
    from buddy.db import get_session
    from buddy.services import NotFound, runs
    from buddy.statuses import RunStatus

    app = create_app()
    logs.setup_process(app.config)
    started = time.perf_counter()
    with app.app_context():
        try:
            run = runs.execute_run(get_session(), run_id)
        except NotFound:
            log.warning("match_run", extra={"run_id": run_id, "status": "not_queued"})
            return 1
        except Exception:  # logged with its traceback; the run is marked failed later
            log.exception("match_run", extra={"run_id": run_id, "status": "crashed"})
            return 1
        finally:
            app.extensions["buddy.engine"].dispose()
    log.info("match_run", extra={
        "run_id": run_id, "region": run.region, "kind": run.kind, "status": run.status,
        "ms": round((time.perf_counter() - started) * 1000)})
    return 0 if run.status == RunStatus.DRAFT else 3


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "run-match" or not sys.argv[2].isdigit():
        sys.exit("usage: python -m buddy.jobs run-match RUN_ID")
    sys.exit(run_match(int(sys.argv[2])))
