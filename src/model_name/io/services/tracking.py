"""The tracking service: MLflow runs, buffered metrics and models, on configured stores.

MLflow is imported inside the methods that need it: importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pydantic as pdt

from model_name.io.services import records
from model_name.io.services.base import Service, _loguru
from model_name.io.services.heartbeat import HEARTBEAT_TAG, Heartbeat, now_ms, process_tags
from model_name.io.services.logger import RUN_LOG_ONLY, LoggerService
from model_name.io.services.offline import offline_artifacts
from model_name.io.services.outbox import iter_chunks
from model_name.io.services.records import EndedRun, config_yaml, run_record_tags
from model_name.io.services.stores import initialize_sqlite_store
from model_name.io.services.tracking_reliability import ReliableTracking, _check_metric_names
from model_name.io.services.tracking_state import (
    MLFLOW_HTTP_DEFAULTS,
    _end_runs_above,
    _mlflow_environ,
    _mlflow_globals,
    _pop_active_run,
    _restore_mlflow_globals,
)
from model_name.redaction import MaskingSink, mask_url, remember_secrets, secrets_in

if TYPE_CHECKING:
    from mlflow import ActiveRun, MlflowClient


Point = tuple[str, str, float, int, int]
"""A buffered metric point: run id, key, value, timestamp (ms), step."""

MLFLOW_BATCH_LIMIT = 1000
"""The most metrics MLflow accepts in one `log_batch` call."""

RunStatus = Literal["FINISHED", "FAILED", "KILLED"]

_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"


class MlflowService(Service, ReliableTracking):
    """Track runs, metrics and models with MLflow.

    `start()` imports MLflow, sets the tracking and registry URIs and the experiment (created when
    missing), configures autologging with every `autolog_*` field, and exports the credentials
    as `MLFLOW_TRACKING_USERNAME` / `_PASSWORD` / `_TOKEN`. MLflow writes its settings into
    `os.environ`; `stop()` puts every `MLFLOW_*` variable back as it was before `start()`, turns
    autologging off and ends, FAILED, any run left open, so nothing leaks into the next job or
    into child processes.

    An explicit `file:` tracking URI uses MLflow's file store (`./mlruns`), which MLflow 3 only
    opens when `MLFLOW_ALLOW_FILE_STORE=true`: the service sets it for such a URI, and MLflow warns
    that the store is deprecated.

    Attributes:
        logger_service: the logging service; each run's `logs/run.log` uses its level and format.
        RunConfig: the settings of a run (`MlflowService.RunConfig(name=...)`), as in
            fmind's mlops-python-package.

    Example:
        service = MlflowService(tracking_uri="sqlite:///mlflow.db", experiment_name="demo")
        with service, service.run_context(service.RunConfig(name="try")) as run:
            service.log_metrics({"rmse": 0.5}, step=1)
    """

    RunConfig: ClassVar[type[records.RunConfig]] = records.RunConfig

    logger_service: LoggerService = pdt.Field(
        default_factory=LoggerService, exclude=True, repr=False
    )

    _saved_environ: dict[str, str] = pdt.PrivateAttr(default_factory=dict)
    _saved_state: dict[str, Any] = pdt.PrivateAttr(default_factory=dict)
    _autolog_set: bool = pdt.PrivateAttr(default=False)
    _outer_run_id: str | None = pdt.PrivateAttr(default=None)
    _buffer: list[Point] = pdt.PrivateAttr(default_factory=list)
    _last_flush: float = pdt.PrivateAttr(default_factory=time.monotonic)
    _batch_client: MlflowClient | None = pdt.PrivateAttr(default=None)
    _run_metrics: dict[str, dict[str, float]] = pdt.PrivateAttr(default_factory=dict)
    _last_run: EndedRun | None = pdt.PrivateAttr(default=None)

    @property
    def last_run(self) -> EndedRun | None:
        """The last run `run_context` ended (id, experiment, status, last metric values), if any."""
        return self._last_run

    _heartbeat: Heartbeat | None = pdt.PrivateAttr(default=None)

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
            remember_secrets(secrets_in(self))  # masked in every log line and error from now on
            if self.tracking_uri.startswith("file:"):
                os.environ[_FILE_STORE] = "true"  # asked for by name: MLflow 3 refuses it unless
            self._choose_mode()
            import mlflow

            for uri in dict.fromkeys((self.tracking_uri, self.registry_uri or self.tracking_uri)):
                initialize_sqlite_store(uri)
            self._saved_state = _mlflow_globals()
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.registry_uri or self.tracking_uri)
            if self._online is not None and not mlflow.get_experiment_by_name(
                self.experiment_name
            ):  # offline: the artifacts go to the offline folder, not ./mlruns
                mlflow.create_experiment(self.experiment_name, offline_artifacts(self.offline_dir))
            experiment = mlflow.set_experiment(self.experiment_name)
            # When another process creates the experiment between MLflow's lookup and its
            # create, set_experiment returns it without making it active (MLflow 3.17), and the
            # runs land in "Default". Setting it again by id makes it active in every case.
            mlflow.set_experiment(experiment_id=experiment.experiment_id)
            self._autolog_set = True
            mlflow.autolog(**self.autolog_options())
        except BaseException:
            self._restore()
            raise
        if self.reap_stale_runs:
            _attempt("reap the stale runs", lambda: self._reap(experiment.experiment_id))
        beats = self.client()  # its own client: the heartbeat thread must not share a session
        self._heartbeat = Heartbeat(
            self.heartbeat_seconds,
            lambda run_id, time_ms: beats.set_tag(run_id, HEARTBEAT_TAG, str(time_ms)),
        )
        if self.outbox:
            self._start_outbox()
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
            if self._heartbeat is not None:
                self._heartbeat.stop()
            _attempt("send the buffered metrics", self.flush_metrics)
            _end_runs_above(self._outer_run_id)
            self._stop_outbox()
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
    def run_context(self, run_config: records.RunConfig) -> Iterator[ActiveRun]:
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
        tags = {**run_record_tags(), **process_tags(), **run_config.tags}
        run = mlflow.start_run(
            run_name=run_config.name,
            # a job may describe its inputs by URI: their credentials stay out of the record
            description=mask_url(run_config.description) if run_config.description else None,
            tags={key: mask_url(value) for key, value in tags.items()},
            log_system_metrics=run_config.log_system_metrics,
            nested=nested,
        )
        if self._heartbeat is not None:
            self._heartbeat.add(run.info.run_id)
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
        except BaseException as error:
            status = "FAILED"
            # the run's log keeps the whole traceback; the job reports the failure elsewhere
            self.logger_service.logger().bind(**{RUN_LOG_ONLY: True}).opt(exception=error).error(
                "Run {} failed: {}: {}", run.info.run_id, type(error).__name__, error
            )
            raise
        finally:
            from model_name.signals import wrap_up

            with wrap_up():  # ending the run KILLED and uploading its log: not cut short
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

        run = mlflow.active_run()
        if run is None:
            raise RuntimeError("log_metrics needs an active MLflow run: call it in run_context")
        timestamp = int(time.time() * 1000)
        run_id = run.info.run_id
        if not self._buffer:  # the interval counts from the oldest point waiting
            self._last_flush = time.monotonic()
        self._buffer.extend(
            (run_id, key, float(value), timestamp, step or 0) for key, value in metrics.items()
        )
        # the last values, for the alert that reports the run
        self._run_metrics.setdefault(run_id, {}).update(
            (key, float(value)) for key, value in metrics.items()
        )
        if (
            len(self._buffer) >= self.metrics_flush_size
            or time.monotonic() - self._last_flush >= self.metrics_flush_seconds
        ):
            self.flush_metrics()

    def flush_metrics(self) -> None:
        """Send the buffered metric points now: into the outbox, or to MLflow without one.

        With the outbox, the points are on disk when this returns, and its sender ships them.
        Without it, they go in `log_batch` calls of at most 1000 metrics.

        Raises:
            Exception: whatever MLflow raises without the outbox (the points of that call are
                lost), or a metric name or value MLflow would refuse (with the outbox).
        """
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        points, self._buffer = self._buffer, []
        by_run: dict[str, list[tuple[str, float, int, int]]] = {}
        for run_id, *point in points:
            by_run.setdefault(run_id, []).append(point)  # type: ignore[arg-type]
        if self._outbox is not None:
            for run_id, run_points in by_run.items():
                _check_metric_names({key for key, *_ in run_points})
                for chunk in iter_chunks(run_points, MLFLOW_BATCH_LIMIT):
                    self._outbox.put(run_id, "metrics", chunk, size=len(chunk))
            self._wake_sender()
            return
        from mlflow.entities import Metric

        if self._batch_client is None:
            self._batch_client = self.client()
        for run_id, run_points in by_run.items():
            metrics = [Metric(*point) for point in run_points]
            for chunk in iter_chunks(metrics, MLFLOW_BATCH_LIMIT):
                self._batch_client.log_batch(run_id, metrics=chunk)

    def _add_run_log(self, path: Path) -> int:
        """Add a loguru sink that records the run's log, at the logger service's level."""
        return self.logger_service.logger().add(
            MaskingSink(path),  # the run's log is an artifact: no secret may reach it
            level=self.logger_service.level,
            format=self.logger_service.format,
            colorize=False,
            backtrace=True,
            diagnose=False,
            catch=True,
        )

    def _finish_run(
        self,
        run: ActiveRun,
        run_config: records.RunConfig,
        status: RunStatus,
        sink_id: int,
        log_folder: Path,
    ) -> None:
        import mlflow

        run_id = run.info.run_id
        logger = self.logger_service.logger()
        _attempt("send the buffered metrics", self.flush_metrics)
        logger.debug("MLflow run {} ({}) ends {}", run_config.name, run_id, status)
        with contextlib.suppress(ValueError):
            logger.remove(sink_id)
        if run_config.config is not None:
            text = config_yaml(run_config.config)
            (log_folder / "config.yaml").write_text(text, encoding="utf-8")
        if self._heartbeat is not None:
            self._heartbeat.remove(run_id)
        self._last_run = EndedRun(  # what the alert that reports the run says of it
            run_id=run_id,
            experiment_id=run.info.experiment_id,
            status=status,
            metrics=self._run_metrics.pop(run_id, {}),
        )
        if self._outbox is not None:
            outbox = self._outbox
            _attempt(
                "keep config.yaml and logs/run.log", lambda: outbox.put_files(run_id, log_folder)
            )
            shutil.rmtree(log_folder, ignore_errors=True)
            _end_runs_above(run_id)
            outbox.put(run_id, "end", [status, now_ms()])
            self._wake_sender()
            _pop_active_run()
            return
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
        if self._online is not None:
            self.tracking_uri, self.registry_uri = self._online
            self._online = None
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


def _attempt(what: str, action: Callable[[], object]) -> None:
    """Run a clean-up step; log a warning instead of raising when it fails."""
    try:
        action()
    except Exception as error:
        _loguru().warning("MLflow: could not {}: {}: {}", what, type(error).__name__, error)
