"""The services a job runs with: logging (loguru), alerts (plyer) and tracking (MLflow).

A service is a pydantic model that inherits its settings model, so every field is declared once
(in `model_name.settings`) and validated the same way wherever it comes from. Its state lives in
private attributes. `start()` and `stop()` are idempotent, `stop()` of a service that never started
does nothing, and a service is a context manager that starts on entry and stops on exit.

Importing this module is cheap: loguru, plyer and MLflow are imported inside the methods that
need them, so light commands (`--help`, `jobs`, `config show`) never pay for them.

The package's modules: `base` (Service; `start_all` and `stop_all`, the one start and stop rule),
`logger` (LoggerService), `alerts` (AlertsService), `tracking` (MlflowService), `tracking_state`
(MLflow's process-wide state, saved and restored), `studies` (StudyService, Optuna's storage),
`records` (RunConfig and what a run records) and `stores` (SQLite stores).
Import from the package: its modules are an implementation detail.

Example:
    >>> with LoggerService(sink="stdout", format="{message}") as service:
    ...     service.logger().info("hello")
    hello
"""

from model_name.errors import Terminated
from model_name.io.services.alerts import (
    NOTIFICATION_PROBE_SECONDS,
    AlertsService,
    notification_backend_problem,
)
from model_name.io.services.base import FailureReport, Service, start_all, stop_all
from model_name.io.services.channels import AlertText, Severity
from model_name.io.services.logger import LoggerService
from model_name.io.services.records import (
    GIT_TIMEOUT_SECONDS,
    PACKAGE,
    EndedRun,
    RunConfig,
    config_yaml,
    masked_command,
    run_record_tags,
)
from model_name.io.services.stores import initialize_sqlite_store
from model_name.io.services.studies import StudyService
from model_name.io.services.tracking import MLFLOW_BATCH_LIMIT, MlflowService, RunStatus
from model_name.io.services.tracking_state import MLFLOW_HTTP_DEFAULTS

__all__ = [
    "GIT_TIMEOUT_SECONDS",
    "MLFLOW_BATCH_LIMIT",
    "MLFLOW_HTTP_DEFAULTS",
    "NOTIFICATION_PROBE_SECONDS",
    "PACKAGE",
    "AlertText",
    "AlertsService",
    "EndedRun",
    "FailureReport",
    "LoggerService",
    "MlflowService",
    "RunConfig",
    "RunStatus",
    "Service",
    "Severity",
    "StudyService",
    "Terminated",
    "config_yaml",
    "initialize_sqlite_store",
    "masked_command",
    "notification_backend_problem",
    "run_record_tags",
    "start_all",
    "stop_all",
]
