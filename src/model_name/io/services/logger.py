"""The logging service: loguru and the standard library's `logging` into one configured sink.

It also takes MLflow's loggers over while it runs, so MLflow's messages arrive exactly once, and
puts loguru's default stderr handler aside meanwhile, so nothing is printed twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic as pdt

from model_name.io.services.base import Service
from model_name.settings import LoggerSettings

if TYPE_CHECKING:
    import loguru

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

PROGRESS_LINE = "model_name_progress"
"""A record bound with this extra key (true) is a step of a long piece of work (`io.progress`):
a terminal sink drawing progress bars leaves it out, since the bar shows it; other sinks keep it."""

RUN_LOG_ONLY = "model_name_run_log_only"
"""A record bound with this extra key (true) goes to the runs' own logs (`logs/run.log`) only:
the failure's traceback the run keeps, which the job reports on the service's sink itself."""


class _InterceptHandler(logging.Handler):
    """A standard `logging` handler that passes every record on to loguru."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging.Handler API
        """Drop a record loguru could not take: `logging` would print a traceback on stderr.

        Loguru reports its own sinks' failures (`catch=True`); what fails here is a record met by
        an interruption or a closing sink, never worth a traceback over the job's one line.
        """

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
    to the service's sink. It is added back when the last running LoggerService stops: loguru's
    handlers are process-wide, so this count is too.
    """

    lock = threading.Lock()
    handler_id: int | None = 0  # loguru adds its default handler with id 0 at import
    running = 0

    @classmethod
    def acquire(cls) -> None:
        with cls.lock:
            cls.running += 1
            if cls.running == 1 and cls.handler_id is not None:
                try:
                    _loguru().remove(cls.handler_id)
                except ValueError:  # somebody removed it already: do not add it back later
                    cls.handler_id = None
                else:
                    cls.handler_id = -1  # suspended: to be added back

    @classmethod
    def release(cls) -> None:
        with cls.lock:
            cls.running = max(cls.running - 1, 0)
            if not cls.running and cls.handler_id == -1:
                cls.handler_id = _loguru().add(sys.stderr)


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
            format=self._format(),
            colorize=self.colorize,
            serialize=self.serialize,
            backtrace=self.backtrace,
            diagnose=self.diagnose,
            catch=self.catch,
            filter=_for_bars if self.shows_progress_bars() else _not_run_log_only,
        )
        _LoguruDefault.acquire()
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
        _LoguruDefault.release()

    def shows_progress_bars(self) -> bool:
        """Whether long work shows a bar on this service's sink: a terminal, and not under CI."""
        from model_name.io.progress import draws_bars

        terminal = {"stderr": sys.stderr, "stdout": sys.stdout}.get(self.sink)
        return terminal is not None and not self.serialize and draws_bars(terminal)

    def _format(self) -> Any:
        """The sink's format: on a terminal, failures shown short (`terminal.terminal_format`)."""
        if self.sink not in ("stderr", "stdout") or self.serialize:
            return self.format
        from model_name.io.services.terminal import terminal_format

        whole = self.traceback or self.level in ("TRACE", "DEBUG")
        return terminal_format(self.format, whole=whole)

    def _sink(self) -> Any:
        # Every message goes through MaskingSink: a secret quoted by an exception (MLflow's
        # error text holds the tracking URL, credentials included) must never reach the sink.
        from model_name.io.progress import BarSafeStream
        from model_name.redaction import MaskingSink

        if self.sink == "stderr":  # a line above a progress bar, never through it
            return MaskingSink(BarSafeStream(sys.stderr))  # type: ignore[arg-type]
        if self.sink == "stdout":
            return MaskingSink(BarSafeStream(sys.stdout))  # type: ignore[arg-type]
        return MaskingSink(Path(self.sink).expanduser())

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


def _not_run_log_only(record: Any) -> bool:
    return not record["extra"].get(RUN_LOG_ONLY, False)


def _for_bars(record: Any) -> bool:
    return _not_run_log_only(record) and not record["extra"].get(PROGRESS_LINE, False)


def _is_mlflow_handler(handler: logging.Handler) -> bool:
    """Whether `handler` is the one `import mlflow` installs (it writes to MLflow's stream)."""
    stream = getattr(handler, "stream", None)
    return type(stream).__name__ == "MlflowLoggingStream"


def _restore_variable(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _loguru() -> loguru.Logger:
    """Return loguru's logger, imported on first use (about 0.1 s): a service imports cheaply."""
    from loguru import logger

    return logger
