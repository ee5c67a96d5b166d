"""Shared fixtures: the project's own pytest plugin (see `model_name.testing`), and isolation."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = [
    "model_name.testing",
    "tests.helpers.servers",
    "tests.helpers.notifications",
    "tests.helpers.http_server",
    "tests.helpers.smtp_server",
    "tests.helpers.postgres",
    "tests.helpers.dask_cluster",
    "tests.helpers.coverage_bound",
]

# Before any fixture imports mlflow: the session's own MLflow calls stay on 127.0.0.1 too.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run every test in an empty folder with none of the user's MLflow or model_name variables.

    MLflow writes `mlflow.db` and `mlruns/` in the current folder by default, and the command line
    reads `./containers.yaml`: a test must neither litter the repository nor depend on it.
    MLflow's telemetry stays off, here and in the processes a test starts: tests talk to
    127.0.0.1 only (MLflow 3 otherwise calls config.mlflow-telemetry.io).
    """
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("MODEL_NAME_", "MLFLOW_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return tmp_path


@pytest.fixture
def job_log(isolated: Path) -> Path:
    """Where a job started by a test writes its log: `job.log` in the test's folder."""
    return isolated / "job.log"


@pytest.fixture(autouse=True)
def no_secret_remembered_across_tests() -> Iterator[None]:
    """Forget the secrets a command remembered: they are process-wide, and tests share a process.

    A secret remembered by one test would be masked in the next one's output.
    """
    from model_name.redaction import forget_secrets

    yield
    forget_secrets()


@pytest.fixture(autouse=True)
def no_mlflow_state_left_behind() -> Iterator[None]:
    """Fail a test that leaves an MLflow service running: an active run or MLflow's URIs set.

    A service left running is stopped later by the garbage collector, in the middle of whatever
    test runs then, and MLflow's process-wide URIs point every later client at its store.
    """
    yield
    if "mlflow" not in sys.modules:
        return
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    left = {
        "an active run": mlflow.active_run(),
        "the tracking URI": tracking_utils._tracking_uri,
        "the registry URI": registry_utils._registry_uri,
    }
    left = {what: value for what, value in left.items() if value is not None}
    if left:
        for _ in range(8):  # end them, so the next tests start clean
            if mlflow.active_run() is None:
                break
            mlflow.end_run()
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        pytest.fail(f"the test left MLflow state behind (a service not stopped?): {left}")
