"""Background jobs. Each takes an id, opens its own app context and calls a service.

Match runs are CPU-heavy, so each runs in its own process (`python -m buddy.jobs run-match
ID`): web workers stay responsive, and regions run in parallel. The web process only starts
it and forgets it; the run's row is the truth (a job that dies is marked failed later).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from flask import current_app

# Settings a job process must share with the app that launched it.
SHARED_SETTINGS = ("BUDDY_ENV", "BUDDY_DATABASE_URL", "BUDDY_SECRET_KEY", "BUDDY_PUBLIC_URL")


def launch_match_run(run_id: int) -> None:
    """Start the job process for a queued run and return at once."""
    env = {**os.environ, **{k: str(current_app.config[k]) for k in SHARED_SETTINGS}}
    command = [sys.executable, "-m", "buddy.jobs", "run-match", str(run_id)]
    # A thread waits for the child so that it is reaped; the child has its own session so
    # that a web worker restart does not kill a run half way.
    threading.Thread(
        target=subprocess.run, args=(command,),
        kwargs={"env": env, "start_new_session": True, "stdin": subprocess.DEVNULL,
                "stdout": subprocess.DEVNULL, "check": False},
        daemon=True, name=f"match-run-{run_id}",
    ).start()


def run_match(run_id: int) -> int:
    """Execute a queued run in this process; returns an exit status."""
    from buddy import create_app
    from buddy.db import get_session
    from buddy.services import NotFound, runs

    app = create_app()
    with app.app_context():
        try:
            run = runs.execute_run(get_session(), run_id)
        except NotFound:
            print(f"run {run_id} is not queued", file=sys.stderr)
            return 1
        finally:
            app.extensions["buddy.engine"].dispose()
    return 0 if run.status == "draft" else 3


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "run-match" or not sys.argv[2].isdigit():
        sys.exit("usage: python -m buddy.jobs run-match RUN_ID")
    sys.exit(run_match(int(sys.argv[2])))
