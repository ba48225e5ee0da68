"""`python -m matching` exit statuses and outputs, run as a subprocess."""

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import buddy, cohort, newcomer

ROOT = Path(__file__).resolve().parents[2]


def run(*args, timeout=60):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-W", "error", "-m", "matching", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_families_to_stdout_and_validate(tmp_path):
    data = cohort([newcomer("n-1"), newcomer("n-2"), buddy("b-1")])
    path = write(tmp_path, "c.json", data)
    proc = run("families", path, "--time-limit", "2", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["kind"] == "families" and result["families"][0]["anchor"] == "b-1"
    assert "finished" in proc.stderr  # progress goes to standard error
    res = write(tmp_path, "r.json", result)
    proc = run("validate", path, res)
    assert proc.returncode == 0 and json.loads(proc.stdout)["metrics"]["coverage"] == 1.0


def test_families_out_file(tmp_path):
    path = write(tmp_path, "c.json", cohort([newcomer("n-1"), buddy("b-1")]))
    out = tmp_path / "r.json"
    proc = run("families", path, "--time-limit", "2", "--out", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["status"] == "optimal"


def test_invalid_cohort_exit_2(tmp_path):
    data = cohort([newcomer("n-1", languages=["Arabic"])])
    proc = run("families", write(tmp_path, "c.json", data))
    assert proc.returncode == 2
    assert 'people[0].languages[0]: "Arabic" is not an ISO 639-1 code' in proc.stderr
    assert "Traceback" not in proc.stderr


def test_not_json_and_missing_file_exit_2(tmp_path):
    proc = run("families", write(tmp_path, "c.json", "{nope"))
    assert proc.returncode == 2 and "not valid JSON" in proc.stderr
    proc = run("ambassadors", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_no_solution_exit_3(tmp_path):
    data = cohort(
        [newcomer("n-1"), buddy("b-1")],
        locked=[{"family": "x", "members": ["b-1", "n-1"]}],
        avoid=[["n-1", "b-1"]],
    )
    proc = run("families", write(tmp_path, "c.json", data))
    assert proc.returncode == 3 and "rule 6" in proc.stderr


def test_ambassadors_command(tmp_path):
    data = cohort(
        [newcomer("n-1", wants_ambassador=True), {"id": "a-1", "role": "ambassador", "capacity": 1}]
    )
    proc = run("ambassadors", write(tmp_path, "c.json", data))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["pairs"][0]["newcomers"] == ["n-1"]


def test_validate_reports_violations_exit_1(tmp_path):
    data = cohort([newcomer("n-1"), buddy("b-1", capacity=0)])
    bad = {
        "kind": "families",
        "families": [
            {"id": "f", "region": "wessex", "anchor": "b-1", "buddies": [], "newcomers": ["n-1"]}
        ],
        "unmatched": [],
    }
    proc = run("validate", write(tmp_path, "c.json", data), write(tmp_path, "r.json", bad))
    assert proc.returncode == 1 and "capacity" in proc.stderr
