"""`buddy dispatch --now` and the `buddy scheduler` process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import TEST_SETTINGS
from tests.messaging.conftest import rows


def test_dispatch_command_replays_a_moment(app, session, factory, fake_twilio):
    factory.newcomer()
    result = app.test_cli_runner().invoke(args=["dispatch", "--now", "2027-07-14T10:00:00+01:00"])
    assert result.exit_code == 0, result.output
    # (The hello survey asked when they joined, months before, has expired.)
    assert result.output.strip() == "Dispatch: 1 expired, 2 sent."
    assert len(fake_twilio.accepted()) == 1
    again = app.test_cli_runner().invoke(args=["dispatch", "--now", "2027-07-14T10:01:00"])
    assert again.output.strip() == "Dispatch: nothing due."
    bad = app.test_cli_runner().invoke(args=["dispatch", "--now", "tomorrow"])
    assert bad.exit_code == 2 and "ISO time" in bad.output


def test_scheduler_dispatches_every_interval_and_stops_cleanly(
        settings, channel_settings, session, factory, fake_smtp):
    person = factory.volunteer()  # the email confirmation is due at once
    env = {**os.environ, **{k: str(v) for k, v in {**TEST_SETTINGS, **settings,
                                                   **channel_settings}.items()}}
    buddy = os.path.join(os.path.dirname(sys.executable), "buddy")
    process = subprocess.Popen([buddy, "scheduler", "--interval", "1"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not fake_smtp.received and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert [m["to"] for m in fake_smtp.received] == [f"{person.full_name.split()[1]}"
                                                      and rows(session)[0].to_address]
    assert rows(session)[0].status == "sent"
    assert "dispatching every 1 s" in output
