"""Every configurable field of the services, declared once, with its type, default and bounds.

The services in `model_name.io.services` inherit these models, so a field is declared in one place
and validated the same way whether it comes from `containers.yaml`, the environment, a `--set`
flag or Python code. `AppSettings` is the whole application's configuration;
`model_name.sources` builds it from its layers and says where each value came from.

Example:
    >>> LoggerSettings(level="debug").level
    'DEBUG'
"""

from __future__ import annotations

import re
from typing import Any, Literal

import pydantic as pdt
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]

DEFAULT_LOG_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}</cyan>:<cyan>{function}</cyan>:<cyan>{line}</cyan> - <level>{message}</level>"
)
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

SECRET_KEY = re.compile(r"(password|passwd|token|secret|credential|api_?key)", re.IGNORECASE)
"""What the last part of a secret setting's key path says (`tracking_token`, a job's `api_key`)."""


def is_secret_key(path: str | tuple[str, ...]) -> bool:
    """Say whether a setting holds a secret, by its key path (`mlflow.tracking_token`).

    A secret's value is taken as plain text, never parsed as YAML, never quoted in an error
    message, and masked wherever a command line is recorded.

    Example:
        >>> is_secret_key("mlflow.tracking_token"), is_secret_key(("secrets", "url"))
        (True, False)
    """
    parts = path.split(".") if isinstance(path, str) else path
    return bool(parts) and SECRET_KEY.search(parts[-1]) is not None


class Settings(pdt.BaseModel):
    """Base of every settings model: unknown keys are errors, values are checked on assignment."""

    model_config = pdt.ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class LoggerSettings(Settings):
    """Where and how the application logs.

    Attributes:
        sink: `stderr`, `stdout`, or the path of a file (its folder is created).
        level: the lowest level written, case-insensitive (`debug` means `DEBUG`).
        format: a loguru format string.
        colorize: colour the output; `None` colours only a terminal.
        serialize: write one JSON object a line instead of the format.
        backtrace: show the whole stack of an exception, beyond the catching frame.
        diagnose: show variable values in tracebacks; off by default because values may be secrets.
        catch: keep the application running if the sink itself fails.
    """

    sink: str = "stderr"
    level: LogLevel = "INFO"
    format: str = DEFAULT_LOG_FORMAT
    colorize: bool | None = None
    serialize: bool = False
    backtrace: bool = True
    diagnose: bool = False
    catch: bool = True

    @pdt.field_validator("level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @pdt.field_validator("sink")
    @classmethod
    def _non_empty_sink(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("sink must be 'stderr', 'stdout' or a file path, not empty")
        return value


class AlertsSettings(Settings):
    """Desktop notifications for the events of a job.

    Attributes:
        enable: send desktop notifications; when off, alerts are written to the log instead.
        app_name: the application name the notification shows.
        timeout: seconds a notification stays on screen; `None` keeps plyer's default (10 s).
            Only plyer's D-Bus backend (python-dbus) honours it; its `notify-send` backend asks
            for notifications that stay until dismissed.
    """

    enable: bool = True
    app_name: str = pdt.Field(default="model_name", min_length=1)
    timeout: int | None = pdt.Field(default=None, ge=0, le=3600)


class MlflowSettings(Settings):
    """Where and how runs, metrics and models are tracked.

    Attributes:
        tracking_uri: the tracking store: `sqlite:///mlflow.db` (the default, a file in the current
            folder that a plain `mlflow ui` opens) or the `http(s)://` address of an MLflow server.
        registry_uri: the model registry; `None` means the tracking store.
        experiment_name: the experiment the runs go to (created when missing).
        registry_name: the name models are registered under.
        tracking_username: basic-auth user for an MLflow server.
        tracking_password: basic-auth password for an MLflow server (a secret: never printed).
        tracking_token: bearer token for an MLflow server (a secret: never printed).
        autolog_disable: turn MLflow's autologging off.
        autolog_disable_for_unsupported_versions: skip autologging for untested library versions.
        autolog_exclusive: let autologging log only to runs it created itself.
        autolog_log_input_examples: log an input example with autologged models.
        autolog_log_model_signatures: log signatures with autologged models.
        autolog_log_models: let autologging log models (the jobs log theirs explicitly).
        autolog_log_datasets: log dataset information with autologged runs.
        autolog_silent: silence MLflow's own autologging messages.
        metrics_flush_size: `MlflowService.log_metrics` buffers metric points and sends them in
            batches; the buffer is sent when it holds this many points (and always when the run
            ends).
        metrics_flush_seconds: the buffer is also sent by the first `log_metrics` call made this
            many seconds after the oldest point waiting in it, so a long run's metrics show up
            while it runs.
        heartbeat_seconds: every run opened by `run_context` records its host, process id and
            process start time, and its heartbeat (tag `model_name.heartbeat`) is refreshed this
            often until it ends.
        reap_stale_runs: `start()` ends, KILLED, the experiment's RUNNING runs whose process is
            gone (same host) or whose heartbeat is older than the grace (see `runs reap`).
        reap_grace_seconds: how old a heartbeat may be before its run counts as dead; None means
            four heartbeats (`4 * heartbeat_seconds`).
        reap_seconds: the most time `start()` spends reaping (it reaps the rest next time).
        outbox: send metric points, params, tags, the run's artifacts `config.yaml` and
            `logs/run.log`, and its end status through a durable local outbox and a background
            sender, so the job never waits on the network and nothing is lost when the server
            is away; off, they are sent from the job's thread, as MLflow does.
        outbox_dir: the outbox's folder (`outbox.db`, SQLite in WAL mode, and artifact copies).
        drain_seconds: at `stop()`, how long to wait for the outbox to be sent; what is left
            stays on disk for `model_name runs sync` or the next job.
        mode: `online` tracks into `tracking_uri`; `offline` into a local SQLite store and
            artifact folder under `offline_dir`, never touching the network; `auto` is online
            when the server answers at start, offline otherwise (and says so in the log).
            `model_name runs sync` uploads offline runs to the server later.
        offline_dir: the offline store's folder (`mlflow.db` and `artifacts/`).
    """

    tracking_uri: str = pdt.Field(default=DEFAULT_TRACKING_URI, min_length=1)
    registry_uri: str | None = None
    experiment_name: str = pdt.Field(default="model_name", min_length=1)
    registry_name: str = pdt.Field(default="model_name", min_length=1)
    tracking_username: str | None = None
    tracking_password: pdt.SecretStr | None = None
    tracking_token: pdt.SecretStr | None = None
    autolog_disable: bool = False
    autolog_disable_for_unsupported_versions: bool = False
    autolog_exclusive: bool = False
    autolog_log_input_examples: bool = False
    autolog_log_model_signatures: bool = True
    autolog_log_models: bool = False
    autolog_log_datasets: bool = False
    autolog_silent: bool = False
    metrics_flush_size: int = pdt.Field(default=1000, ge=1)
    metrics_flush_seconds: float = pdt.Field(default=5.0, gt=0)
    heartbeat_seconds: float = pdt.Field(default=30.0, gt=0, le=86_400)
    reap_stale_runs: bool = True
    reap_grace_seconds: float | None = pdt.Field(default=None, gt=0)
    reap_seconds: float = pdt.Field(default=2.0, gt=0, le=3600)
    outbox: bool = True
    outbox_dir: str = pdt.Field(default=".model_name/outbox", min_length=1)
    drain_seconds: float = pdt.Field(default=60.0, ge=0, le=86_400)
    mode: Literal["online", "offline", "auto"] = "online"
    offline_dir: str = pdt.Field(default=".model_name/offline", min_length=1)

    def grace_seconds(self) -> float:
        """Return how old a heartbeat may be before its run counts as dead."""
        if self.reap_grace_seconds is not None:
            return self.reap_grace_seconds
        return 4 * self.heartbeat_seconds


class AppSettings(BaseSettings):
    """The whole configuration: one section per service, and one per job under `jobs`.

    Used alone, it reads `MODEL_NAME_<SECTION>__<KEY>` variables like any pydantic-settings model;
    the command line builds it with `model_name.sources.load_settings`, which adds the file and
    `--set` layers and remembers where every value came from.

    Example:
        >>> AppSettings(mlflow={"experiment_name": "demo"}).mlflow.experiment_name
        'demo'
    """

    model_config = SettingsConfigDict(
        env_prefix="MODEL_NAME_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    logger: LoggerSettings = pdt.Field(default_factory=LoggerSettings)
    alerts: AlertsSettings = pdt.Field(default_factory=AlertsSettings)
    mlflow: MlflowSettings = pdt.Field(default_factory=MlflowSettings)
    jobs: dict[str, dict[str, Any]] = pdt.Field(default_factory=dict)
