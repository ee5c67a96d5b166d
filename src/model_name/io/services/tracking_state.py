"""MLflow's process-wide state, which `MlflowService` changes at start and puts back at stop.

MLflow keeps its tracking URI, registry URI and active experiment in module globals, writes its
settings into `os.environ` (`MLFLOW_*`), and keeps a stack of active runs: a job must leave none
of them changed for the next job in the process or for its child processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from model_name.io.services.base import _loguru

MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
"""How hard MLflow's HTTP client tries a tracking server, unless these variables are set already.

MLflow's own defaults (7 retries, backoff factor 2, 120 s timeout) make a job wait about four
minutes before it learns that the server is down, at start or in the middle of a run. These make
a dead server an error within seconds (retries after 0, 2 and 4 s: about 7 s a call), while still
riding out a server restart of a few seconds. `MlflowService.start()` sets each one that the user
did not set; `stop()` removes them again.
"""


def _end_runs_above(run_id: str | None) -> None:
    """End, FAILED, the active runs opened after `run_id` (all of them for None) and left open."""
    import mlflow

    while (active := mlflow.active_run()) is not None and active.info.run_id != run_id:
        _loguru().warning("MLflow run {} was left open; ending it FAILED", active.info.run_id)
        mlflow.end_run("FAILED")  # pops the run even when the store refuses the update


def _mlflow_environ() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name.startswith("MLFLOW_")}


def _mlflow_globals() -> dict[str, Any]:
    """Return MLflow's process-wide tracking URI, registry URI and active experiment."""
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    return {
        "tracking_uri": getattr(tracking_utils, "_tracking_uri", None),
        "registry_uri": getattr(registry_utils, "_registry_uri", None),
        "experiment_id": getattr(fluent, "_active_experiment_id", None),
    }


def _restore_mlflow_globals(state: Mapping[str, Any]) -> None:
    import mlflow
    from mlflow.tracking import fluent

    mlflow.set_tracking_uri(state["tracking_uri"])
    mlflow.set_registry_uri(state["registry_uri"])
    fluent._active_experiment_id = state["experiment_id"]


def _pop_active_run() -> None:
    """Take the active run off MLflow's stack without telling the store (the outbox will).

    What `mlflow.end_run` does, minus its `set_terminated` call: that one needs the network.
    """
    from mlflow.environment_variables import MLFLOW_RUN_ID
    from mlflow.tracking import fluent

    stack = fluent._active_run_stack.get()  # type: ignore[no-untyped-call]
    if not stack:
        return
    MLFLOW_RUN_ID.unset()  # type: ignore[no-untyped-call]
    run = stack.pop()
    fluent._last_active_run_id.set(run.info.run_id)  # type: ignore[no-untyped-call]
    monitor = fluent.run_id_to_system_metrics_monitor.pop(run.info.run_id, None)
    if monitor is not None:
        monitor.finish()
