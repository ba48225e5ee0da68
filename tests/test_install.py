"""Installs are reproducible: the lock files hold every dependency of pyproject.toml, and
the system-package check says what to install when it cannot install it itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / lock).read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ", 1)[0].split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_lock_files_pin_every_dependency_of_pyproject():
    """A dependency added to pyproject.toml without `make lock` fails here, not in production."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    tools = [Requirement(r) for r in project["optional-dependencies"]["test"]]
    runtime_pins, test_pins = _pins("requirements.lock"), _pins("requirements-test.lock")
    for lock, pins, wanted in (("requirements.lock", runtime_pins, runtime),
                               ("requirements-test.lock", test_pins, runtime + tools)):
        for requirement in wanted:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{requirement} is not in {lock}: run make lock"
            assert requirement.specifier.contains(pins[name], prereleases=True), \
                f"{lock} pins {name}=={pins[name]}, outside {requirement}: run make lock"
    # Production installs no test tools, and both files agree on what they share.
    assert not {canonicalize_name(r.name) for r in tools} & set(runtime_pins)
    assert all(test_pins[name] == version for name, version in runtime_pins.items())
    # Every pin carries its hashes: pip checks what it downloads (--require-hashes).
    for lock, pins in (("requirements.lock", runtime_pins),
                       ("requirements-test.lock", test_pins)):
        text = (ROOT / lock).read_text()
        assert all(f"{name}=={version} \\\n    --hash=sha256:" in text.lower()
                   for name, version in pins.items())


def test_system_deps_says_what_to_install_when_it_cannot():
    """Not root, none of the tools on the PATH and no PostgreSQL or fonts under the fixed
    paths: nothing is installed, and the message says what to run."""
    tools = Path(tempfile.mkdtemp(prefix="system-deps-"))  # empty: no tool, no apt-get
    tools.chmod(0o755)  # the test runs the script as nobody when it runs as root
    as_nobody = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    command = [*as_nobody, "/usr/bin/env", f"PATH={tools}", "SYSDEPS_PREFIX=/nonexistent",
               "/bin/bash", str(ROOT / ".ci" / "system-deps")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    for needed in ("PostgreSQL server binaries (initdb, pg_ctl)", "Chromium",
                   "Liberation fonts", "Node.js with npm", "dnf install postgresql-server"):
        assert needed in done.stderr, done.stderr

    # With apt-get there, but no root to run it: the exact command.
    (tools / "apt-get").symlink_to(shutil.which("true"))
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    shutil.rmtree(tools)
    assert done.returncode == 1
    assert "sudo apt-get install postgresql chromium fonts-liberation nodejs npm" in done.stderr
