"""The services a job runs with: logging (loguru), alerts (plyer) and tracking (MLflow).

A service is a pydantic model that inherits its settings model, so every field is declared once
(in `model_name.settings`) and validated the same way wherever it comes from. Its state lives in
private attributes. `start()` and `stop()` are idempotent, `stop()` of a service that never started
does nothing, and a service is a context manager that starts on entry and stops on exit.

Importing this module is cheap: loguru, plyer and MLflow are imported inside the methods that
need them, so light commands (`--help`, `jobs`, `config show`) never pay for them.

The package's modules: `base` (Service; `start_all` and `stop_all`, the one start and stop rule),
`logger` (LoggerService), `alerts` (AlertsService) and `channels` (its chat, e-mail and webhook
channels, and `AlertText`, an alert's body), `tracking` (MlflowService) and `studies`
(StudyService, Optuna's storage). The machinery the MLflow service holds (outbox, sender,
heartbeat, reaper, offline mode, SQLite stores, run records) is the package
`model_name.tracking`; `RunConfig`, `EndedRun` and the run record's helpers are re-exported here
because a job uses them with the service.

Outside this package, import from the package (`from model_name.io.services import
MlflowService`), never from its modules: `tests/test_imports.py` holds the code to it.

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
from model_name.io.services.logger import PROGRESS_LINE, LoggerService
from model_name.io.services.studies import StudyService
from model_name.io.services.tracking import MlflowService, RunStatus
from model_name.tracking.records import (
    EndedRun,
    RunConfig,
    config_yaml,
    masked_command,
    run_record_tags,
)

__all__ = [
    "NOTIFICATION_PROBE_SECONDS",
    "PROGRESS_LINE",
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
    "masked_command",
    "notification_backend_problem",
    "run_record_tags",
    "start_all",
    "stop_all",
]
