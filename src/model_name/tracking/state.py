"""MLflow's process-wide state, which `MlflowService` changes at start and puts back at stop.

MLflow keeps its tracking URI, registry URI and active experiment in module globals, writes its
settings into `os.environ` (`MLFLOW_*`), and keeps a stack of active runs: a job must leave none
of them changed for the next job in the process or for its child processes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

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


def end_runs_above(run_id: str | None) -> None:
    """End, FAILED, the active runs opened after `run_id` (all of them for None) and left open."""
    import mlflow

    while (active := mlflow.active_run()) is not None and active.info.run_id != run_id:
        from loguru import logger

        logger.warning("MLflow run {} was left open; ending it FAILED", active.info.run_id)
        mlflow.end_run("FAILED")  # pops the run even when the store refuses the update


def mlflow_environ() -> dict[str, str]:
    """Return the `MLFLOW_*` variables of the environment now."""
    return {name: value for name, value in os.environ.items() if name.startswith("MLFLOW_")}


def mlflow_globals() -> dict[str, Any]:
    """Return MLflow's process-wide tracking URI, registry URI and active experiment."""
    from mlflow.tracking import fluent
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    return {
        "tracking_uri": getattr(tracking_utils, "_tracking_uri", None),
        "registry_uri": getattr(registry_utils, "_registry_uri", None),
        "experiment_id": getattr(fluent, "_active_experiment_id", None),
    }


def restore_mlflow_globals(state: Mapping[str, Any]) -> None:
    """Put back what `mlflow_globals` returned."""
    import mlflow
    from mlflow.tracking import fluent

    mlflow.set_tracking_uri(state["tracking_uri"])
    mlflow.set_registry_uri(state["registry_uri"])
    fluent._active_experiment_id = state["experiment_id"]


def pop_active_run() -> None:
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


def export_credentials(username: str | None, password: str | None, token: str | None) -> None:
    """Put an MLflow server's credentials where MLflow reads them (`MLFLOW_TRACKING_*`)."""
    for name, value in (("USERNAME", username), ("PASSWORD", password), ("TOKEN", token)):
        if value is not None:
            os.environ[f"MLFLOW_TRACKING_{name}"] = value


class SavedState:
    """MLflow's process-wide state as it was before a service changed it, to be put back.

    Built before the change: it keeps the `MLFLOW_*` variables then; `keep_globals()` keeps
    the URIs and experiment before they are set, and `autolog` says autologging was configured.
    """

    def __init__(self) -> None:
        self.environ = mlflow_environ()
        self.globals: dict[str, Any] = {}
        self.autolog = False

    def keep_globals(self) -> None:
        """Keep MLflow's URIs and active experiment as they are now."""
        self.globals = mlflow_globals()

    def restore(self) -> None:
        """Turn autologging off, and put back the URIs, experiment and `MLFLOW_*` variables."""
        if self.autolog:
            import mlflow

            self.autolog = False
            try:
                mlflow.autolog(disable=True)
            except Exception as error:
                from loguru import logger

                logger.warning("MLflow: could not turn autologging off: {}", error)
        if self.globals:
            restore_mlflow_globals(self.globals)
            self.globals = {}
        for name in set(mlflow_environ()) - set(self.environ):
            del os.environ[name]
        os.environ.update(self.environ)
