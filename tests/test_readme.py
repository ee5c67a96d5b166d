"""The README's "Write your own job" snippets, run as written in a project of their own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.servers import without_coverage

README = Path(__file__).resolve().parent.parent / "README.md"

CONFTEST = """\
pytest_plugins = ["model_name.testing"]

# Step 2 of the README, which a project does in src/model_name/jobs/__init__.py.
from model_name.jobs import JOBS
from report import ReportJob

JOBS[ReportJob.KIND] = ReportJob
"""


def snippet(name: str) -> str:
    """Return the code block that follows `<!-- readme-test: NAME -->` in the README."""
    found = re.search(
        rf"<!-- readme-test: {name} -->\n```python\n(.*?)```", README.read_text(), re.DOTALL
    )
    assert found, f"README has no readme-test block named {name}"
    return found.group(1)


@pytest.mark.slow
def test_the_readme_job_and_its_test_pass_as_written(tmp_path: Path) -> None:
    # given a project with the README's job, its registration, and its test
    (tmp_path / "report.py").write_text(snippet("job"))
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_report.py").write_text(snippet("test"))

    # when pytest runs there, as the user would run it
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "."],
        cwd=tmp_path,
        env={**without_coverage(os.environ), "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # then the README's test passes
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.slow
def test_the_readme_entry_point_runs_a_job_injected_by_the_wiring(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    # given the README's own entry point as a user's script, in a folder without configuration
    (tmp_path / "nightly.py").write_text(snippet("entrypoint"))

    # when it runs
    result = subprocess.run(
        [sys.executable, "nightly.py"],
        cwd=tmp_path,
        env={**without_coverage(os.environ), "MODEL_NAME_ALERTS__ENABLE": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # then the injected training ran in the container's services, and its run is in the store
    assert result.returncode == 0, result.stdout + result.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs(
        [experiment.experiment_id for experiment in client.search_experiments()]
    )
    assert (run.info.run_name, run.info.status) == ("training", "FINISHED")
