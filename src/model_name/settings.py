"""Every configurable field of the services, declared once, with its type, default and bounds.

The services in `model_name.io.services` inherit these models, so a field is declared in one place
and validated the same way whether it comes from `containers.yaml`, the environment, a `--set`
flag or Python code. `AppSettings` is the whole application's configuration, read from the layers
of `model_name.sources`.

Example:
    >>> LoggerSettings(level="debug").level
    'DEBUG'
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

import pydantic as pdt
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from model_name.pipeline_settings import PipelineSettings, default_pipelines

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]

DEFAULT_LOG_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}</cyan>:<cyan>{function}</cyan>:<cyan>{line}</cyan> - <level>{message}</level>"
)
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"

# MLflow's own limits (mlflow/utils/validation.py, MLflow 3): a value beyond them passes here
# and fails later, with a run or a store already created, so the settings refuse it first.
MAX_EXPERIMENT_NAME_LENGTH = 500
"""MLflow's `MAX_EXPERIMENT_NAME_LENGTH`."""
MAX_MODEL_NAME_LENGTH = 256
"""The length of MLflow's `registered_models.name` column."""
MAX_PARAM_VALUE_LENGTH = 6000
"""MLflow's `MAX_PARAM_VAL_LENGTH`: a job's parameters are logged as run params."""
MAX_TAG_VALUE_LENGTH = 8000
"""MLflow's `MAX_TAG_VAL_LENGTH` (run names and descriptions are tags too)."""
MAX_ENTITY_KEY_LENGTH = 250
"""MLflow's `MAX_ENTITY_KEY_LENGTH`: the longest param, tag or metric key."""
MAX_URI_LENGTH = 4096
"""A tracking or registry URI: a bound of ours (the whole file may hold 1 MiB)."""

CHANNEL_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
"""The shape of a notification URL (`scheme://...`, no blanks); Apprise checks the rest."""


def _check_channel(url: pdt.SecretStr) -> pdt.SecretStr:
    if not CHANNEL_URL.fullmatch(url.get_secret_value().strip()):
        # Never the URL itself in the message: it is a secret.
        raise ValueError(
            "not a notification URL: expected scheme://... (slack://..., mailto://..., json://...)"
        )
    return url


ChannelUrl = Annotated[pdt.SecretStr, pdt.AfterValidator(_check_channel)]
"""A notification URL of `alerts.channels`: a secret, shaped `scheme://...`."""


class Settings(pdt.BaseModel):
    """Base of every settings model: unknown keys are errors, values are checked on assignment."""

    model_config = pdt.ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    config_section: ClassVar[str | None] = None
    """The configuration section the model is, where its renamed keys are looked up (`mlflow`)."""

    @pdt.model_validator(mode="before")
    @classmethod
    def _renamed_arguments(cls, data: Any) -> Any:
        """Take a renamed key under its old name for one release, with a warning.

        The configuration's layers do the same (`model_name.renamed_keys`); this is for settings
        and services built in Python: `MlflowService(reap_stale_runs=False)`.
        """
        if cls.config_section is None or not isinstance(data, dict):
            return data
        from model_name.renamed_keys import rename_old_arguments

        return rename_old_arguments(cls.config_section, cls.__name__, data)


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
        traceback: on a terminal sink (`stderr`, `stdout`), print a failure's whole traceback;
            by default it shows the error's line (and a bug's few lines of where), the whole
            traceback staying in a file sink and the run's `logs/run.log`. Level DEBUG implies it.
    """

    sink: str = "stderr"
    level: LogLevel = "INFO"
    format: str = DEFAULT_LOG_FORMAT
    colorize: bool | None = None
    serialize: bool = False
    backtrace: bool = True
    diagnose: bool = False
    catch: bool = True
    traceback: bool = False

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
    """Desktop notifications and notification channels (chat, e-mail, webhooks) for a job.

    Attributes:
        enable: send desktop notifications; when off, alerts are written to the log instead.
        app_name: the application name the notification shows.
        timeout: seconds a notification stays on screen; `None` keeps plyer's default (10 s).
            Only plyer's D-Bus backend (python-dbus) honours it; its `notify-send` backend asks
            for notifications that stay until dismissed.
        channels: Apprise notification URLs (`slack://...`, `mailto://...`, `json://...`), each
            sent every alert, whatever `enable` says. Secrets: they embed tokens, so they are
            masked wherever the configuration is shown or recorded. From the environment or a
            `--set` flag, several URLs are separated by blanks.
        channels_timeout_seconds: the most that sending to all channels together may add to a
            job, per alert; a channel that has not answered by then is logged as failed. (Not
            `timeout`, which is how long a desktop notification stays on screen.)
    """

    # An error must not quote a channel URL: it is a secret.
    model_config = pdt.ConfigDict(hide_input_in_errors=True)
    config_section: ClassVar[str | None] = "alerts"

    enable: bool = True
    app_name: str = pdt.Field(default="model_name", min_length=1)
    timeout: int | None = pdt.Field(default=None, ge=0, le=3600)
    channels: list[ChannelUrl] = pdt.Field(default_factory=list)
    channels_timeout_seconds: float = pdt.Field(default=10.0, gt=0, le=600)

    @pdt.field_validator("channels", mode="before")
    @classmethod
    def _split_channels(cls, value: Any) -> Any:
        # A secret is read as plain text from the environment and flags: blanks separate URLs.
        if isinstance(value, str | pdt.SecretStr):
            text = value.get_secret_value() if isinstance(value, pdt.SecretStr) else value
            return text.split()
        return value


class AutologSettings(Settings):
    """The options of MLflow's autologging (`mlflow.autolog(...)`), each passed on as is.

    Attributes:
        disable: turn MLflow's autologging off.
        disable_for_unsupported_versions: skip autologging for untested library versions.
        exclusive: let autologging log only to runs it created itself.
        log_input_examples: log an input example with autologged models.
        log_model_signatures: log signatures with autologged models.
        log_models: let autologging log models (the jobs log theirs explicitly).
        log_datasets: log dataset information with autologged runs.
        silent: silence MLflow's own autologging messages.
    """

    disable: bool = False
    disable_for_unsupported_versions: bool = False
    exclusive: bool = False
    log_input_examples: bool = False
    log_model_signatures: bool = True
    log_models: bool = False
    log_datasets: bool = False
    silent: bool = False


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
        autolog: the options `start()` passes to `mlflow.autolog()` (`AutologSettings`).
        metrics_flush_size: `MlflowService.log_metrics` buffers metric points and sends them in
            batches; the buffer is sent when it holds this many points (and always when the run
            ends).
        metrics_flush_seconds: the buffer is also sent by the first `log_metrics` call made this
            many seconds after the oldest point waiting in it, so a long run's metrics show up
            while it runs.
        heartbeat_seconds: every run opened by `run_context` records its host, process id and
            process start time, and its heartbeat (tag `model_name.heartbeat`) is refreshed this
            often until it ends.
        reaping: whether `start()` ends, KILLED, the experiment's RUNNING runs whose process is
            gone (same host) or whose heartbeat is older than the grace period (see `runs reap`).
        grace_period_seconds: how old a heartbeat may be before its run counts as dead; None
            means four heartbeats (`4 * heartbeat_seconds`). The same idea, and name, as
            `optuna.grace_period_seconds` for trials.
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

    config_section: ClassVar[str | None] = "mlflow"

    tracking_uri: str = pdt.Field(
        default=DEFAULT_TRACKING_URI, min_length=1, max_length=MAX_URI_LENGTH
    )
    registry_uri: str | None = pdt.Field(default=None, min_length=1, max_length=MAX_URI_LENGTH)
    experiment_name: str = pdt.Field(
        default="model_name", min_length=1, max_length=MAX_EXPERIMENT_NAME_LENGTH
    )
    registry_name: str = pdt.Field(
        default="model_name",
        min_length=1,
        max_length=MAX_MODEL_NAME_LENGTH,
    )
    tracking_username: str | None = None
    tracking_password: pdt.SecretStr | None = None
    tracking_token: pdt.SecretStr | None = None
    autolog: AutologSettings = pdt.Field(default_factory=AutologSettings)
    metrics_flush_size: int = pdt.Field(default=1000, ge=1)
    metrics_flush_seconds: float = pdt.Field(default=5.0, gt=0)
    heartbeat_seconds: float = pdt.Field(default=30.0, gt=0, le=86_400)
    reaping: bool = True
    grace_period_seconds: float | None = pdt.Field(default=None, gt=0)
    reap_seconds: float = pdt.Field(default=2.0, gt=0, le=3600)
    outbox: bool = True
    outbox_dir: str = pdt.Field(default=".model_name/outbox", min_length=1)
    drain_seconds: float = pdt.Field(default=60.0, ge=0, le=86_400)
    mode: Literal["online", "offline", "auto"] = "online"
    offline_dir: str = pdt.Field(default=".model_name/offline", min_length=1)

    def grace_seconds(self) -> float:
        """Return how old a heartbeat may be before its run counts as dead."""
        if self.grace_period_seconds is not None:
            return self.grace_period_seconds
        return 4 * self.heartbeat_seconds

    @pdt.field_validator("registry_name")
    @classmethod
    def _model_name_mlflow_accepts(cls, value: str) -> str:
        # MLflow refuses them only when the model is registered, after the whole training
        if not value.strip() or "/" in value or ":" in value:
            raise ValueError("a registered model's name must not be blank nor hold '/' or ':'")
        return value


DEFAULT_STUDY_STORAGE = "optuna.journal"


class StudySettings(Settings):
    """Where Optuna studies live, shared by every worker of a tuning job.

    Attributes:
        storage: a file path (the default, `optuna.journal` in the current folder: Optuna's
            journal file, which several processes on one machine may share safely, under a
            lock file next to it), or a database URL that workers on any machine share:
            `postgresql://user:PASSWORD@host:5432/db`, `mysql+pymysql://...`, `sqlite:///f.db`.
            The password of a URL is a secret: it is masked wherever the URL is shown.
        heartbeat_seconds: how often a worker records that its running trial is alive (Optuna's
            heartbeat with a database; the tuning job's own in a journal file).
        grace_period_seconds: a running trial whose heartbeat is older than this is failed and
            retried by another worker; `None` is Optuna's default, twice the heartbeat.
        retries: how many times a trial whose worker died is run again.
        connect_timeout_seconds: how long to wait for a database server before giving up.
    """

    storage: str = pdt.Field(default=DEFAULT_STUDY_STORAGE, min_length=1)
    heartbeat_seconds: int = pdt.Field(default=60, ge=1, le=3600)
    grace_period_seconds: int | None = pdt.Field(default=None, ge=1, le=86400)
    retries: int = pdt.Field(default=3, ge=0, le=100)
    connect_timeout_seconds: int = pdt.Field(default=10, ge=1, le=600)

    @pdt.model_validator(mode="after")
    def _grace_after_heartbeat(self) -> StudySettings:
        if self.grace_period_seconds is not None and (
            self.grace_period_seconds <= self.heartbeat_seconds
        ):
            raise ValueError("grace_period_seconds must be longer than heartbeat_seconds")
        return self

    def is_database(self) -> bool:
        """Whether `storage` is a database URL (`scheme://...`) rather than a journal file."""
        return "://" in self.storage


class AppSettings(BaseSettings):
    """The whole configuration: one section per service, one per job, and the pipelines.

    Jobs' sections are under `jobs`, pipelines under `pipelines` (`model_name.pipeline_settings`).

    Its sources are the configuration's layers (`model_name.sources`), highest first: `--set`
    flags, `MODEL_NAME_<SECTION>__<KEY>` variables, the configuration files, MLflow's own
    variables, then these defaults. Keyword arguments given in Python come above them all.
    `AppSettings()` alone reads `./containers.yaml` and the environment, as the command line does;
    `model_name.configuration.load_configuration` also validates each job's section with the
    job's model and says where every value came from.

    Example:
        >>> AppSettings(mlflow={"experiment_name": "demo"}).mlflow.experiment_name
        'demo'
    """

    model_config = SettingsConfigDict(
        extra="forbid",
        validate_default=True,
        hide_input_in_errors=True,  # values may be secrets (alerts.channels, tokens)
    )

    logger: LoggerSettings = pdt.Field(default_factory=LoggerSettings)
    alerts: AlertsSettings = pdt.Field(default_factory=AlertsSettings)
    mlflow: MlflowSettings = pdt.Field(default_factory=MlflowSettings)
    optuna: StudySettings = pdt.Field(default_factory=StudySettings)
    jobs: dict[str, Any] = pdt.Field(default_factory=dict)
    pipelines: dict[str, PipelineSettings] = pdt.Field(default_factory=default_pipelines)

    @pdt.field_validator("jobs", mode="before")
    @classmethod
    def _jobs_by_name(cls, value: Any) -> Any:
        """Refuse a `jobs` that is not a mapping; each section is checked by its job's model."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise PydanticCustomError("jobs", "should map job names to their settings")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read the configuration's layers instead of pydantic-settings' own variables."""
        from model_name.sources import layer_sources  # sources imports this module

        return (init_settings, *layer_sources(settings_cls))
