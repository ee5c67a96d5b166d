"""Skips say the truth: the test, the missing program and the Debian package that provides it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers.programs import find_program

ROOT = Path(__file__).resolve().parent.parent

NEEDS_PROGRAMS = """
import pytest

from tests.helpers.programs import require_programs


@pytest.fixture
def daemon():
    require_programs("dunst", "no-such-program")


def test_needs_a_daemon(daemon):
    pass


def test_needs_runuser():
    require_programs("runuser")
"""


def run_pytest(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (folder / "test_needs.py").write_text(NEEDS_PROGRAMS)
    (folder / "pytest.ini").write_text("[pytest]\n")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", "-p", "no:randomly", "test_needs.py"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_skip_names_the_test_the_program_and_its_package_at_the_test(tmp_path: Path) -> None:
    # given a test whose fixture needs programs not found (a PATH with none), and one needing runuser
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": "/nonexistent", "CI": ""}

    # when pytest runs it
    result = run_pytest(tmp_path, env)

    # then the skip is reported at the test, naming it, each program and the Debian package
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert skipped == [
        "SKIPPED [1] test_needs.py:12: test_needs.py::test_needs_a_daemon: "
        "dunst not found: install the Debian package dunst; no-such-program not found: install it"
    ], result.stdout
    # and runuser, in util-linux's /usr/sbin, is found though /usr/sbin is not on PATH
    assert "1 passed, 1 skipped" in result.stdout


def test_runuser_is_found_in_usr_sbin_and_named_with_util_linux() -> None:
    from tests.helpers.programs import DEBIAN_PACKAGES

    assert DEBIAN_PACKAGES["runuser"] == "util-linux"
    assert find_program("runuser") in ("/usr/sbin/runuser", "/sbin/runuser", None)
