"""Shared fixtures: the project's own pytest plugin (see `model_name.testing`), and isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["model_name.testing", "tests.servers"]

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
