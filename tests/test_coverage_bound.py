"""The 90% coverage bound holds the whole suite (`uv run pytest`), never a part of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.servers import without_coverage

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import pytest

def pytest_sessionstart(session):
    # every plugin is configured by now: say the bound, and stop before collecting the suite
    coverage = session.config.pluginmanager.get_plugin("_cov")
    print("BOUND", coverage.options.cov_fail_under if coverage else None, flush=True)
    pytest.exit("probed", returncode=0)
"""


def bound(tmp_path: Path, *arguments: str) -> str:
    (tmp_path / "bound_probe.py").write_text(PROBE)
    env = {**without_coverage(os.environ), "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "bound_probe", "-n0", "-q", *arguments],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("BOUND ")]
    assert lines, result.stdout + result.stderr
    return lines[0].removeprefix("BOUND ")


@pytest.mark.slow
def test_the_whole_suite_has_the_bound_and_one_file_has_none(tmp_path: Path) -> None:
    assert bound(tmp_path) == "90.0"  # `uv run pytest`
    assert bound(tmp_path, "tests/test_skips.py") == "0.0"
