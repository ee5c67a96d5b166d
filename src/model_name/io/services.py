"""The services a job runs with: logging (loguru), alerts (plyer) and tracking (MLflow).

A service is a pydantic model that inherits its settings model, so every field is declared once
(in `model_name.settings`) and validated the same way wherever it comes from. Its state lives in
private attributes. `start()` and `stop()` are idempotent, `stop()` of a service that never started
does nothing, and a service is a context manager that starts on entry and stops on exit.

Importing this module is cheap: loguru, plyer and MLflow are imported inside the methods that
need them, so light commands (`--help`, `jobs`, `config show`) never pay for them.

Example:
    >>> with LoggerService(sink="stdout", format="{message}") as service:
    ...     service.logger().info("hello")
    hello
"""

from __future__ import annotations

import abc
import contextlib
import enum
import logging
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import pydantic as pdt

from model_name.settings import AlertsSettings, LoggerSettings, MlflowSettings

if TYPE_CHECKING:
    import loguru
    from mlflow import ActiveRun, MlflowClient
    from mlflow.entities import Metric

SECRET_MASK = "**********"
"""How a secret value (`pydantic.SecretStr`) is written in recorded configurations."""

MLFLOW_BATCH_LIMIT = 1000
"""The most metrics MLflow accepts in one `log_batch` call."""

PACKAGE = "model_name"
"""The distribution whose version is recorded on every run (tag `model_name.version`)."""

GIT_TIMEOUT_SECONDS = 2.0
"""How long a `git` command may take when a run records the checkout it comes from."""

NOTIFICATION_PROBE_SECONDS = 5.0
"""How long `AlertsService.start()` waits for a notification server to answer on D-Bus."""

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

SECRET_ARGUMENT = re.compile(r"(password|passwd|token|secret|credential|api_?key)", re.IGNORECASE)
"""A `--set KEY=VALUE` whose key matches this has its value masked in the recorded command line."""

_STDLIB_LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "SUCCESS": 25,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "CRITICAL": logging.CRITICAL,
}

# The loggers `import mlflow` configures (its own handler, no propagation), with the level this
# module gives them while a LoggerService runs when nobody set one ("" for MLflow's own default).
_MLFLOW_LOGGERS = (("mlflow", ""), ("sqlalchemy.engine", "WARNING"), ("alembic", "WARNING"))
_MLFLOW_CONFIGURE_LOGGING = "MLFLOW_CONFIGURE_LOGGING"


# --- Service --------------------------------------------------------------------------------


class Service(abc.ABC, pdt.BaseModel):
    """A global resource of a job, started before it runs and stopped after.

    Subclasses implement `start` and `stop`; both must be idempotent, and `stop` of a service
    that never started must do nothing. Use a service as a context manager, or call `start` and
    `stop` yourself (whoever starts a service stops it).
    """

    _running: bool = pdt.PrivateAttr(default=False)

    @property
    def running(self) -> bool:
        """Whether the service is started and not stopped since."""
        return self._running

    @abc.abstractmethod
    def start(self) -> None:
        """Acquire the service's resources; does nothing when it is already running."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the service's resources; does nothing when it is not running."""

    def __enter__(self) -> Self:
        """Start the service and return it."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        exc_traceback: types.TracebackType | None,
    ) -> Literal[False]:
        """Stop the service; never swallows an exception."""
        self.stop()
        return False


def _loguru() -> loguru.Logger:
    """Return loguru's logger, imported on first use (about 0.1 s)."""
    from loguru import logger

    return logger


# --- LoggerService --------------------------------------------------------------------------


class _InterceptHandler(logging.Handler):
    """A standard `logging` handler that passes every record on to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        # MLflow silences some threads (e.g. its telemetry) with a filter on its own handler,
        # which LoggerService removes: honour the same flag here.
        mlflow_logging = sys.modules.get("mlflow.utils.logging_utils")
        suppress = getattr(mlflow_logging, "should_suppress_logs_in_thread", None)
        if suppress is not None and suppress.get():
            return
        logger = _loguru()
        level: str | int
        try:
            level = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        # Point loguru at the code that called `logging`, not at the logging module.
        import inspect

        frame, depth = inspect.currentframe(), 0
        while frame is not None and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


class _LoguruDefault:
    """Loguru's own stderr handler, put aside while at least one LoggerService runs.

    Left in place, it would print every message a second time (at DEBUG, in loguru's format) next
    to the service's sink. It is added back when the last running LoggerService stops.
    """

    lock = threading.Lock()
    handler_id: int | None = 0  # loguru adds its default handler with id 0 at import
    users: list[LoggerService] = []  # noqa: RUF012 (deliberately shared)

    @classmethod
    def acquire(cls, service: LoggerService) -> None:
        with cls.lock:
            cls.users.append(service)
            if len(cls.users) == 1 and cls.handler_id is not None:
                try:
                    _loguru().remove(cls.handler_id)
                except ValueError:  # somebody removed it already: do not add it back later
                    cls.handler_id = None
                else:
                    cls.handler_id = -1  # suspended: to be added back

    @classmethod
    def release(cls, service: LoggerService) -> None:
        with cls.lock:
            cls.users[:] = [user for user in cls.users if user is not service]
            if not cls.users and cls.handler_id == -1:
                cls.handler_id = _loguru().add(sys.stderr)

    @classmethod
    def current(cls) -> LoggerService | None:
        """Return the LoggerService started last and still running, if any."""
        with cls.lock:
            return cls.users[-1] if cls.users else None


class LoggerService(Service, LoggerSettings):
    """Write the application's logs, and the standard library's, to one configured sink.

    `start()` adds one loguru handler for `sink` (creating a file's folder), routes the standard
    `logging` module (root logger, at `level`) into loguru, and makes MLflow's loggers propagate
    there instead of printing on their own, so scikit-learn's and MLflow's messages land in the
    same sink exactly once. Loguru's default stderr handler is put aside while the service runs,
    so nothing is printed twice. `stop()` flushes and removes only what `start()` added.

    Example:
        >>> service = LoggerService(sink="stdout", level="INFO", format="{level} {message}")
        >>> with service:
        ...     service.logger().info("shown")
        ...     service.logger().debug("hidden")
        INFO shown
    """

    _handler_id: int = pdt.PrivateAttr(default=-1)
    _intercept: _InterceptHandler = pdt.PrivateAttr(default_factory=_InterceptHandler)
    _root_level: int = pdt.PrivateAttr(default=logging.WARNING)
    _saved_loggers: list[tuple[logging.Logger, list[logging.Handler], int, bool]] = pdt.PrivateAttr(
        default_factory=list
    )
    _saved_configure: str | None = pdt.PrivateAttr(default=None)

    def logger(self) -> loguru.Logger:
        """Return loguru's logger (usable before `start()`, through loguru's own handlers)."""
        return _loguru()

    def start(self) -> None:
        """Add the sink's handler and route the standard library's logging into it."""
        if self._running:
            return
        logger = _loguru()
        self._handler_id = logger.add(
            self._sink(),
            level=self.level,
            format=self.format,
            colorize=self.colorize,
            serialize=self.serialize,
            backtrace=self.backtrace,
            diagnose=self.diagnose,
            catch=self.catch,
        )
        _LoguruDefault.acquire(self)
        self._route_standard_logging()
        self._running = True

    def stop(self) -> None:
        """Flush, then remove the handler and the routing this service added."""
        if not self._running:
            return
        self._running = False
        logger = _loguru()
        logger.complete()
        self._unroute_standard_logging()
        with contextlib.suppress(ValueError):  # already removed by someone else
            logger.remove(self._handler_id)
        self._handler_id = -1
        _LoguruDefault.release(self)

    def _sink(self) -> Any:
        if self.sink == "stderr":
            return sys.stderr
        if self.sink == "stdout":
            return sys.stdout
        path = Path(self.sink).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _route_standard_logging(self) -> None:
        root = logging.getLogger()
        self._root_level = root.level
        root.addHandler(self._intercept)
        root.setLevel(_STDLIB_LEVELS[self.level])
        # An `import mlflow` from now on leaves the logging configuration alone ...
        self._saved_configure = os.environ.get(_MLFLOW_CONFIGURE_LOGGING)
        os.environ[_MLFLOW_CONFIGURE_LOGGING] = "false"
        # ... and one that already happened is undone until stop().
        self._saved_loggers = []
        for name, default_level in _MLFLOW_LOGGERS:
            stdlib_logger = logging.getLogger(name)
            self._saved_loggers.append(
                (
                    stdlib_logger,
                    list(stdlib_logger.handlers),
                    stdlib_logger.level,
                    stdlib_logger.propagate,
                )
            )
            stdlib_logger.handlers = [
                handler for handler in stdlib_logger.handlers if not _is_mlflow_handler(handler)
            ]
            stdlib_logger.propagate = True
            if stdlib_logger.level == logging.NOTSET:
                level = default_level or os.environ.get("MLFLOW_LOGGING_LEVEL", "INFO").upper()
                stdlib_logger.setLevel(level)

    def _unroute_standard_logging(self) -> None:
        for stdlib_logger, handlers, level, propagate in reversed(self._saved_loggers):
            stdlib_logger.handlers = handlers
            stdlib_logger.setLevel(level)
            stdlib_logger.propagate = propagate
        self._saved_loggers = []
        _restore_variable(_MLFLOW_CONFIGURE_LOGGING, self._saved_configure)
        root = logging.getLogger()
        root.removeHandler(self._intercept)
        root.setLevel(self._root_level)


def _is_mlflow_handler(handler: logging.Handler) -> bool:
    """Whether `handler` is the one `import mlflow` installs (it writes to MLflow's stream)."""
    stream = getattr(handler, "stream", None)
    return type(stream).__name__ == "MlflowLoggingStream"


def _restore_variable(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


# --- AlertsService --------------------------------------------------------------------------


class AlertsService(Service, AlertsSettings):
    """Send desktop notifications through plyer, or write them to the log when that cannot work.

    `start()` checks that notifications can be delivered: on Linux that means a D-Bus session
    (`DBUS_SESSION_BUS_ADDRESS`), python-dbus or `notify-send`, and a notification server that
    answers (checked with `dbus-send` when it is installed). plyer itself cannot tell: its
    `notify-send` backend ignores failures. Where nothing works (a server, a container, CI), or
    when plyer raises, alerts go to the log instead, and the first one says why, once.
    With `enable=False` alerts go to the log at INFO. `notify()` never raises.

    Example:
        >>> with AlertsService(enable=False) as alerts:
        ...     alerts.notify("Training done", "r2 = 0.48")
    """

    _problem: str | None = pdt.PrivateAttr(default=None)
    _explained: bool = pdt.PrivateAttr(default=False)

    @property
    def problem(self) -> str | None:
        """Why alerts go to the log instead of the desktop, or None while notifications work."""
        if not self.enable:
            return "alerts are disabled (alerts.enable=false)"
        if not self._running:
            return "the alerts service is not started"
        return self._problem

    def start(self) -> None:
        """Find out whether desktop notifications can be delivered here."""
        if self._running:
            return
        self._problem = notification_backend_problem() if self.enable else None
        self._explained = False
        self._running = True

    def stop(self) -> None:
        """Forget the backend check; the next start checks again."""
        self._running = False

    def notify(self, title: str, message: str) -> None:
        """Send a notification, or log it when notifications are off or cannot be delivered.

        Never raises: an alert must not break the job it reports on.

        Args:
            title: the notification's summary line.
            message: the notification's body.
        """
        try:
            problem = self.problem
            if problem is None:
                try:
                    self._send(title, message)
                except Exception as error:
                    problem = self._problem = f"plyer failed ({type(error).__name__}: {error})"
                else:
                    return
            logger = _loguru()
            if self.enable and not self._explained:
                self._explained = True
                logger.warning("alerts: {}; alerts go to the log", problem)
            logger.info("Alert: {}: {}", title, message)
        except Exception:  # pragma: no cover - the log itself failed: nothing left to tell
            return

    def _send(self, title: str, message: str) -> None:
        import warnings

        from plyer import notification

        options: dict[str, Any] = {"title": title, "message": message, "app_name": self.app_name}
        if self.timeout is not None:
            options["timeout"] = self.timeout
        with warnings.catch_warnings():
            # plyer warns that python-dbus is missing before it falls back to notify-send.
            warnings.simplefilter("ignore")
            notification.notify(**options)


def notification_backend_problem() -> str | None:
    """Say why plyer cannot deliver desktop notifications here, or None when it should.

    Only Linux is checked (plyer uses the platform's own API elsewhere): a session bus must be
    known, python-dbus or `notify-send` must exist, and, when `dbus-send` is installed, a
    notification server must answer on the bus.

    Returns:
        A short reason fit for the log, or None.
    """
    if not sys.platform.startswith("linux") or os.path.isdir("/app"):  # pragma: no cover
        return None  # another platform, or a Flatpak sandbox (plyer uses the portal there)
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if not address and not (runtime_dir and Path(runtime_dir, "bus").exists()):
        return "no D-Bus session (DBUS_SESSION_BUS_ADDRESS unset)"
    import importlib.util

    if importlib.util.find_spec("dbus") is None and shutil.which("notify-send") is None:
        return "neither python-dbus nor notify-send is installed (Debian: libnotify-bin)"
    return _probe_notification_server()


def _probe_notification_server() -> str | None:
    """Ask the session bus for the notification server's identity; say why when none answers."""
    dbus_send = shutil.which("dbus-send")
    if dbus_send is None:  # pragma: no cover - cannot check: trust the session bus
        return None
    command = [
        dbus_send, "--session", "--print-reply", "--reply-timeout=3000",
        "--dest=org.freedesktop.Notifications", "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications.GetServerInformation",
    ]  # fmt: skip
    try:
        probe = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=NOTIFICATION_PROBE_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:  # pragma: no cover - hung bus
        return f"no notification server answers on D-Bus ({type(error).__name__})"
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "no reply"
        return f"no notification server answers on D-Bus ({reason})"
    return None


# --- MlflowService --------------------------------------------------------------------------


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM): unwinds like Ctrl-C, and ends the run KILLED."""


class RunConfig(pdt.BaseModel):
    """How `MlflowService.run_context` opens a run.

    Attributes:
        name: the run's name.
        description: the run's description, shown in the MLflow UI.
        tags: tags set on the run when it starts.
        log_system_metrics: sample CPU, memory, disk and network as `system/` metrics.
        config: the resolved configuration, recorded as the artifact `config.yaml` (secrets
            masked); None records nothing.
    """

    model_config = pdt.ConfigDict(extra="forbid")

    name: str = pdt.Field(min_length=1)
    description: str | None = None
    tags: dict[str, str] = pdt.Field(default_factory=dict)
    log_system_metrics: bool = False
    config: dict[str, Any] | None = None


RunStatus = Literal["FINISHED", "FAILED", "KILLED"]


class MlflowService(Service, MlflowSettings):
    """Track runs, metrics and models with MLflow.

    `start()` imports MLflow, sets the tracking and registry URIs and the experiment (created when
    missing), configures autologging with every `autolog_*` field, and exports the credentials
    as `MLFLOW_TRACKING_USERNAME` / `_PASSWORD` / `_TOKEN`. MLflow writes its settings into
    `os.environ`; `stop()` puts every `MLFLOW_*` variable back as it was before `start()`, turns
    autologging off and ends, FAILED, any run left open, so nothing leaks into the next job or
    into child processes.

    Example:
        >>> service = MlflowService(tracking_uri="sqlite:///mlflow.db", experiment_name="demo")
        >>> with service, service.run_context(RunConfig(name="try")) as run:  # doctest: +SKIP
        ...     service.log_metrics({"rmse": 0.5}, step=1)
    """

    _saved_environ: dict[str, str] = pdt.PrivateAttr(default_factory=dict)
    _saved_state: dict[str, Any] = pdt.PrivateAttr(default_factory=dict)
    _autolog_set: bool = pdt.PrivateAttr(default=False)
    _outer_run_id: str | None = pdt.PrivateAttr(default=None)
    _buffer: list[tuple[str, Metric]] = pdt.PrivateAttr(default_factory=list)
    _last_flush: float = pdt.PrivateAttr(default_factory=time.monotonic)
    _batch_client: MlflowClient | None = pdt.PrivateAttr(default=None)

    def start(self) -> None:
        """Set MLflow's URIs, experiment, autologging and credentials.

        Raises:
            Exception: whatever MLflow raises when the store cannot be reached; nothing stays
                changed then.
        """
        if self._running:
            return
        self._saved_environ = _mlflow_environ()
        self._saved_state = {}
        self._autolog_set = False
        try:
            for name, value in MLFLOW_HTTP_DEFAULTS.items():
                os.environ.setdefault(name, value)
            self._export_credentials()
            import mlflow

            for uri in dict.fromkeys((self.tracking_uri, self.registry_uri or self.tracking_uri)):
                initialize_sqlite_store(uri)
            self._saved_state = _mlflow_globals()
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.registry_uri or self.tracking_uri)
            mlflow.set_experiment(self.experiment_name)
            self._autolog_set = True
            mlflow.autolog(**self.autolog_options())
        except BaseException:
            self._restore()
            raise
        active = mlflow.active_run()
        self._outer_run_id = active.info.run_id if active is not None else None
        self._buffer = []
        self._last_flush = time.monotonic()
        self._running = True

    def stop(self) -> None:
        """Send buffered metrics, end runs left open (FAILED), and undo what `start()` did."""
        if not self._running:
            return
        self._running = False
        try:
            _attempt("send the buffered metrics", self.flush_metrics)
            _end_runs_above(self._outer_run_id)
        finally:
            self._restore()

    def autolog_options(self) -> dict[str, bool]:
        """Return the keyword arguments `start()` gives `mlflow.autolog`."""
        return {
            "disable": self.autolog_disable,
            "disable_for_unsupported_versions": self.autolog_disable_for_unsupported_versions,
            "exclusive": self.autolog_exclusive,
            "log_input_examples": self.autolog_log_input_examples,
            "log_model_signatures": self.autolog_log_model_signatures,
            "log_models": self.autolog_log_models,
            "log_datasets": self.autolog_log_datasets,
            "silent": self.autolog_silent,
        }

    def client(self) -> MlflowClient:
        """Return an MLflow client on the service's tracking and registry URIs."""
        from mlflow import MlflowClient

        return MlflowClient(
            tracking_uri=self.tracking_uri, registry_uri=self.registry_uri or self.tracking_uri
        )

    @contextlib.contextmanager
    def run_context(self, run_config: RunConfig) -> Iterator[ActiveRun]:
        """Open an MLflow run for the block, and end it with the block's outcome.

        The run is nested when another one is active. It gets the run config's tags plus a record
        of where it comes from: `model_name.version`, `model_name.command`, `model_name.host`,
        and `model_name.git_commit` / `model_name.git_dirty` (tracked files changed) inside a git
        checkout. When it ends, whatever happened, buffered metrics are sent and the artifacts
        `config.yaml` (the run config's `config`, secrets masked) and `logs/run.log` (everything
        logged meanwhile) are logged. The run ends FINISHED, FAILED when an exception escapes, or
        KILLED on KeyboardInterrupt or `Terminated`; exceptions are re-raised.

        Args:
            run_config: the run's name, description, tags, system metrics and configuration.

        Yields:
            The active run.

        Raises:
            RuntimeError: the service is not started (the run would go to MLflow's defaults).
        """
        import mlflow

        if not self._running:
            raise RuntimeError("MlflowService is not started: start it before run_context")
        nested = mlflow.active_run() is not None
        run = mlflow.start_run(
            run_name=run_config.name,
            description=run_config.description,
            tags={**run_record_tags(), **run_config.tags},
            log_system_metrics=run_config.log_system_metrics,
            nested=nested,
        )
        log_folder = Path(tempfile.mkdtemp(prefix="model_name-run-"))
        (log_folder / "logs").mkdir()
        sink_id = self._add_run_log(log_folder / "logs" / "run.log")
        status: RunStatus = "FINISHED"
        try:
            yield run
            self.flush_metrics()
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except BaseException:
            status = "FAILED"
            raise
        finally:
            self._finish_run(run, run_config, status, sink_id, log_folder)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Buffer metric points for the active run; they are sent in batches.

        The buffer is sent when it holds `metrics_flush_size` points, on the first call
        `metrics_flush_seconds` or more after the oldest point waiting in it was logged, when the
        run of `run_context` ends (however it ends), on `flush_metrics()` and on `stop()`. Each
        point keeps the time of its call.

        Args:
            metrics: metric names and values.
            step: the step of every point (MLflow's default, 0, when None).

        Raises:
            RuntimeError: no MLflow run is active.
        """
        import mlflow
        from mlflow.entities import Metric

        run = mlflow.active_run()
        if run is None:
            raise RuntimeError("log_metrics needs an active MLflow run: call it in run_context")
        timestamp = int(time.time() * 1000)
        run_id = run.info.run_id
        if not self._buffer:  # the interval counts from the oldest point waiting
            self._last_flush = time.monotonic()
        self._buffer.extend(
            (run_id, Metric(key, float(value), timestamp, step or 0))
            for key, value in metrics.items()
        )
        if (
            len(self._buffer) >= self.metrics_flush_size
            or time.monotonic() - self._last_flush >= self.metrics_flush_seconds
        ):
            self.flush_metrics()

    def flush_metrics(self) -> None:
        """Send the buffered metric points now, in `log_batch` calls of at most 1000 metrics.

        Raises:
            Exception: whatever MLflow raises; the points of that call are lost.
        """
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        points, self._buffer = self._buffer, []
        by_run: dict[str, list[Metric]] = {}
        for run_id, metric in points:
            by_run.setdefault(run_id, []).append(metric)
        if self._batch_client is None:
            self._batch_client = self.client()
        for run_id, metrics in by_run.items():
            for begin in range(0, len(metrics), MLFLOW_BATCH_LIMIT):
                self._batch_client.log_batch(
                    run_id, metrics=metrics[begin : begin + MLFLOW_BATCH_LIMIT]
                )

    def _add_run_log(self, path: Path) -> int:
        """Add a loguru sink that records the run's log, at the running LoggerService's level."""
        service = _LoguruDefault.current()
        return _loguru().add(
            path,
            level=service.level if service is not None else "DEBUG",
            format=service.format if service is not None else LoggerSettings().format,
            colorize=False,
            backtrace=True,
            diagnose=False,
            catch=True,
        )

    def _finish_run(
        self,
        run: ActiveRun,
        run_config: RunConfig,
        status: RunStatus,
        sink_id: int,
        log_folder: Path,
    ) -> None:
        import mlflow

        run_id = run.info.run_id
        logger = _loguru()
        _attempt("send the buffered metrics", self.flush_metrics)
        logger.debug("MLflow run {} ({}) ends {}", run_config.name, run_id, status)
        with contextlib.suppress(ValueError):
            logger.remove(sink_id)
        if run_config.config is not None:
            text = config_yaml(run_config.config)
            (log_folder / "config.yaml").write_text(text, encoding="utf-8")
        # one upload for both files: each artifact call costs a round trip (about 40 ms here)
        _attempt(
            "record config.yaml and logs/run.log",
            lambda: mlflow.log_artifacts(str(log_folder), run_id=run_id),
        )
        shutil.rmtree(log_folder, ignore_errors=True)
        _end_runs_above(run_id)  # runs opened inside and left open end first, FAILED
        mlflow.end_run(status)

    def _export_credentials(self) -> None:
        if self.tracking_username is not None:
            os.environ["MLFLOW_TRACKING_USERNAME"] = self.tracking_username
        if self.tracking_password is not None:
            os.environ["MLFLOW_TRACKING_PASSWORD"] = self.tracking_password.get_secret_value()
        if self.tracking_token is not None:
            os.environ["MLFLOW_TRACKING_TOKEN"] = self.tracking_token.get_secret_value()

    def _restore(self) -> None:
        """Undo `start()`: autologging, MLflow's URIs and experiment, and `MLFLOW_*` variables."""
        self._batch_client = None
        if self._autolog_set:
            import mlflow

            self._autolog_set = False
            _attempt("turn autologging off", lambda: mlflow.autolog(disable=True))
        if self._saved_state:
            _restore_mlflow_globals(self._saved_state)
            self._saved_state = {}
        for name in set(_mlflow_environ()) - set(self._saved_environ):
            del os.environ[name]
        os.environ.update(self._saved_environ)


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


def _attempt(what: str, action: Callable[[], object]) -> None:
    """Run a clean-up step; log a warning instead of raising when it fails."""
    try:
        action()
    except Exception as error:
        _loguru().warning("MLflow: could not {}: {}: {}", what, type(error).__name__, error)


def run_record_tags() -> dict[str, str]:
    """Return the tags that record where a run comes from: version, command, host, git checkout.

    Returns:
        `model_name.version`, `model_name.command`, `model_name.host`, and, inside a git checkout,
        `model_name.git_commit` and `model_name.git_dirty` ("true" when tracked files changed).
    """
    import importlib.metadata

    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        version = "unknown"
    tags = {
        f"{PACKAGE}.version": version,
        f"{PACKAGE}.command": shlex.join(masked_command(sys.argv)),
        f"{PACKAGE}.host": socket.gethostname(),
    }
    status = _git("status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return tags
    entries = status.splitlines()
    headers = dict(entry[2:].partition(" ")[::2] for entry in entries if entry.startswith("# "))
    tags[f"{PACKAGE}.git_commit"] = headers.get("branch.oid", "unknown")
    tags[f"{PACKAGE}.git_dirty"] = str(any(not entry.startswith("#") for entry in entries)).lower()
    return tags


def masked_command(argv: list[str]) -> list[str]:
    """Return a command line with the values of secret `--set KEY=VALUE` flags masked.

    A key is secret when its path names a password, token, secret, credential or API key
    (`mlflow.tracking_token`, `mlflow.tracking_password`, ...): the command line is recorded on
    every run (tag `model_name.command`), where a secret must never appear.

    Example:
        >>> masked_command(["model_name", "--set", "mlflow.tracking_token=s3cr3t"])
        ['model_name', '--set', 'mlflow.tracking_token=**********']
    """
    masked: list[str] = []
    for index, argument in enumerate(argv):
        flag, equals, setting = argument.partition("=")
        if flag == "--set" and equals:  # --set=KEY=VALUE
            masked.append(f"--set={_masked_setting(setting)}")
        elif index > 0 and argv[index - 1] == "--set":
            masked.append(_masked_setting(argument))
        else:
            masked.append(argument)
    return masked


def _masked_setting(setting: str) -> str:
    key, equals, _ = setting.partition("=")
    return f"{key}={SECRET_MASK}" if equals and SECRET_ARGUMENT.search(key) else setting


def initialize_sqlite_store(uri: str) -> None:
    """Create a SQLite tracking store's folder, file and schema once, under an inter-process lock.

    A fresh SQLite store runs about 70 schema migrations on first use; several processes doing
    that at once leave the file unusable for good. Whoever takes the lock (`<file>.lock`, next to
    the store, kept there) first creates the store; the others wait, then find it up to date,
    which costs one query. Anything but a `sqlite:///` file URI is left alone.

    Args:
        uri: a tracking or registry URI.
    """
    path = _sqlite_path(uri)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    from mlflow import MlflowClient

    with _file_lock(path.with_name(f"{path.name}.lock")):
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


def _sqlite_path(uri: str) -> Path | None:
    """Return the file of a `sqlite:///` URI, or None (another scheme, or an in-memory store)."""
    if not uri.startswith("sqlite:///"):
        return None
    database = uri.removeprefix("sqlite:///").partition("?")[0]
    if not database or database == ":memory:":
        return None
    return Path(database)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on a file (created when missing) for the block."""
    with path.open("a") as handle:
        if sys.platform != "win32":  # pragma: no branch - the tests run on Linux
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _git(*arguments: str) -> str | None:
    """Return a git command's output in the current folder, or None when git cannot tell."""
    try:
        result = subprocess.run(
            ["git", *arguments],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def config_yaml(config: Mapping[str, Any]) -> str:
    """Render a configuration as YAML, with every secret (`SecretStr`) masked.

    Args:
        config: the configuration; pydantic models, paths and enums in it are rendered plainly.

    Returns:
        The YAML document.

    Example:
        >>> print(config_yaml({"mlflow": {"tracking_token": pdt.SecretStr("s3cr3t")}}), end="")
        mlflow:
          tracking_token: '**********'
    """
    import yaml

    return yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    if isinstance(value, pdt.BaseModel):
        value = dict(value)
    elif isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, pdt.SecretStr | pdt.SecretBytes):
        return SECRET_MASK
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
