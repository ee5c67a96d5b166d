"""The tracking service: MLflow runs, buffered metrics and models, on configured stores.

The machinery it holds (the outbox and its sender, the heartbeat, the reaper, offline mode, the
SQLite stores, MLflow's process-wide state) lives in `model_name.tracking`. MLflow is imported
inside the methods that need it: importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pydantic as pdt

from model_name.io.services.base import Service
from model_name.io.services.logger import RUN_LOG_ONLY, LoggerService
from model_name.redaction import mask_url, remember_secrets, secrets_in
from model_name.settings import MlflowSettings
from model_name.tracking import records
from model_name.tracking.delivery import Delivery
from model_name.tracking.heartbeat import HEARTBEAT_TAG, Heartbeat, process_tags
from model_name.tracking.metrics import MetricBuffer
from model_name.tracking.offline import offline_artifacts, offline_uri, tracks_offline
from model_name.tracking.records import EndedRun, run_record_tags
from model_name.tracking.run_files import RunFiles
from model_name.tracking.state import (
    MLFLOW_HTTP_DEFAULTS,
    SavedState,
    end_runs_above,
    export_credentials,
    pop_active_run,
)
from model_name.tracking.stores import initialize_sqlite_store, store_full
from model_name.tracking.writer import RunWriter

if TYPE_CHECKING:
    from mlflow import ActiveRun, MlflowClient


RunStatus = Literal["FINISHED", "FAILED", "KILLED"]

_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"


class MlflowService(Service, MlflowSettings):
    """Track runs, metrics and models with MLflow.

    `start()` imports MLflow, sets the tracking and registry URIs and the experiment (created when
    missing), configures autologging with its `autolog` options, and exports the credentials
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

    What a run logs goes through a `RunWriter` (`model_name.tracking.writer`): a metric buffer,
    then the durable outbox and its sender (`mlflow.outbox`, the default) or straight to the
    store. When `run_context` exits the store has all of it (see its docs).

    Example:
        service = MlflowService(tracking_uri="sqlite:///mlflow.db", experiment_name="demo")
        with service, service.run_context(service.RunConfig(name="try")) as run:
            service.log_metrics({"rmse": 0.5}, step=1)
        service.client().get_run(run.info.run_id).info.status  # FINISHED
    """

    RunConfig: ClassVar[type[records.RunConfig]] = records.RunConfig

    logger_service: LoggerService = pdt.Field(
        default_factory=LoggerService, exclude=True, repr=False
    )

    _saved: SavedState | None = pdt.PrivateAttr(default=None)
    _outer_run_id: str | None = pdt.PrivateAttr(default=None)
    _writer: RunWriter | None = pdt.PrivateAttr(default=None)
    _online: tuple[str, str | None] | None = pdt.PrivateAttr(default=None)
    _heartbeat: Heartbeat | None = pdt.PrivateAttr(default=None)
    _last_run: EndedRun | None = pdt.PrivateAttr(default=None)

    @property
    def last_run(self) -> EndedRun | None:
        """The last run `run_context` ended (id, experiment, status, last metric values), if any."""
        return self._last_run

    @property
    def offline_notice(self) -> str | None:
        """Why the running service tracks offline in `auto` mode (for an alert), or None."""
        if self.mode != "auto" or self._online is None:
            return None
        return (
            f"The tracking server at {mask_url(self._online[0])} does not answer: runs are "
            f"tracked offline into {self.offline_dir}; `model_name runs sync` uploads them."
        )

    def start(self) -> None:
        """Set MLflow's URIs, experiment, autologging and credentials; open the outbox.

        Raises:
            Exception: whatever MLflow raises when the store cannot be reached; nothing stays
                changed then.
        """
        if self._running:
            return
        self._saved = saved = SavedState()
        try:
            for name, value in MLFLOW_HTTP_DEFAULTS.items():
                os.environ.setdefault(name, value)
            export_credentials(
                self.tracking_username,
                self.tracking_password.get_secret_value() if self.tracking_password else None,
                self.tracking_token.get_secret_value() if self.tracking_token else None,
            )
            remember_secrets(secrets_in(self))  # masked in every log line and error from now on
            if self.tracking_uri.startswith("file:"):
                os.environ[_FILE_STORE] = "true"  # asked for by name: MLflow 3 refuses it unless
            if tracks_offline(self.mode, self.tracking_uri):
                self._go_offline()
            import mlflow

            for uri in dict.fromkeys((self.tracking_uri, self.registry_uri or self.tracking_uri)):
                initialize_sqlite_store(uri)
            saved.keep_globals()
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
            saved.autolog = True
            mlflow.autolog(**self.autolog_options())
            self._writer = self._new_writer(self._start_delivery() if self.outbox else None)
        except BaseException:
            self._restore()
            raise
        if self.reaping:
            from model_name.tracking.reaper import reap_and_say

            _attempt(
                "reap the stale runs",
                lambda: reap_and_say(
                    self.client(), experiment.experiment_id, self.grace_seconds(), self.reap_seconds
                ),
            )
        beats = self.client()  # its own client: the heartbeat thread must not share a session
        self._heartbeat = Heartbeat(
            self.heartbeat_seconds,
            lambda run_id, time_ms: beats.set_tag(run_id, HEARTBEAT_TAG, str(time_ms)),
        )
        active = mlflow.active_run()
        self._outer_run_id = active.info.run_id if active is not None else None
        self._running = True

    def stop(self) -> None:
        """Send buffered metrics, end runs left open (FAILED), and undo what `start()` did.

        What the outbox still holds is waited for as at the end of a run (see `run_context`);
        what is left then stays in the outbox, said in one WARNING line of the log.
        """
        if not self._running:
            return
        self._running = False
        try:
            if self._heartbeat is not None:
                self._heartbeat.stop()
            _attempt("send the buffered metrics", self.flush_metrics)
            end_runs_above(self._outer_run_id)
            if self._writer is not None:
                _attempt("send what the job logged", self._writer.close)
        finally:
            self._restore()

    def autolog_options(self) -> dict[str, bool]:
        """Return the keyword arguments `start()` gives `mlflow.autolog`."""
        return self.autolog.model_dump()

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
        KILLED on KeyboardInterrupt or `Terminated`; exceptions are re-raised, a full disk
        (the store, the outbox or an artifact cannot grow) as `StoreFullError`.

        When the block exits, the store has the run's end status and everything it logged
        (`client().get_run(...)` shows them): on a local store (SQLite, file) always; on a
        tracking server within `drain_seconds`, after which the outbox keeps the rest (one
        WARNING line) and the wait is not repeated until the server answers again.

        Args:
            run_config: the run's name, description, tags, system metrics and configuration.

        Yields:
            The active run.

        Raises:
            RuntimeError: the service is not started (the run would go to MLflow's defaults).
            StoreFullError: a disk filled up during the run (raised from the original error).
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
        logger = self.logger_service
        files = RunFiles(run.info.run_id, logger.logger(), logger.level, logger.format)
        status: RunStatus = "FINISHED"
        try:
            yield run
            self.flush_metrics()
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        except Exception as error:
            status = "FAILED"
            self._log_failure(run.info.run_id, error)
            full = store_full(error, self.tracking_uri)
            if full is not None and full.__traceback__ is None:  # not raised yet: say it here
                raise full from error
            raise
        except BaseException as error:
            status = "FAILED"
            self._log_failure(run.info.run_id, error)
            raise
        finally:
            from model_name.signals import wrap_up

            with wrap_up():  # ending the run KILLED and uploading its log: not cut short
                self._finish_run(run, run_config, status, files)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Buffer metric points for the active run; they are sent in batches.

        The buffer is sent when it holds `metrics_flush_size` points, on the first call
        `metrics_flush_seconds` or more after the oldest point waiting in it was logged, when the
        run of `run_context` ends (however it ends), on `flush_metrics()`, `flush()` and `stop()`.
        Each point keeps the time of its call.

        Args:
            metrics: metric names and values.
            step: the step of every point (MLflow's default, 0, when None).

        Raises:
            RuntimeError: no MLflow run is active.
        """
        self._writer_now().metrics(_active_run_id("log_metrics"), metrics, step)

    def flush_metrics(self) -> None:
        """Send the buffered metric points now: into the outbox, or to MLflow without one.

        With the outbox, the points are on disk when this returns, and its sender ships them
        (`flush()` also waits until the store has them). Without it, they go in `log_batch`
        calls of at most 1000 metrics.

        Raises:
            Exception: whatever MLflow raises without the outbox (the points of that call are
                lost), or a metric name or value MLflow would refuse (with the outbox).
        """
        if self._writer is not None:
            self._writer.flush_metrics()

    def flush(self) -> bool:
        """Send the buffered points and wait until the store has everything logged so far.

        After it, `client().get_run(...)` shows every point, param and tag logged before the
        call. The wait is the one of a run's end (see `run_context`): as long as the sender
        makes progress on a local store, at most `drain_seconds` on a tracking server.

        Returns:
            True when the store has everything; False when a tracking server did not answer
            in time, or a full disk stops the store (what is left stays in the outbox).
        """
        if self._writer is None:
            return True
        self._writer.flush_metrics()
        return self._writer.wait()

    def drain(self, seconds: float | None = None) -> bool:
        """Wait until everything in the outbox (not the buffer) reached the store.

        Args:
            seconds: the most time to wait; None waits as long as it takes.

        Returns:
            True when nothing is left to send (always, without the outbox).
        """
        delivery = self._writer.delivery if self._writer is not None else None
        return delivery is None or delivery.sender.drain(seconds)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params of the active run, through the outbox when it is on.

        Raises:
            RuntimeError: no MLflow run is active.
        """
        self._writer_now().mapping(_active_run_id("log_params"), "params", params)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags of the active run, through the outbox when it is on.

        Raises:
            RuntimeError: no MLflow run is active.
        """
        self._writer_now().mapping(_active_run_id("set_tags"), "tags", tags)

    def _log_failure(self, run_id: str, error: BaseException) -> None:
        """Write a failure's whole traceback to the run's log (the job reports it elsewhere)."""
        logger = self.logger_service.logger().bind(**{RUN_LOG_ONLY: True})
        logger.opt(exception=error).error(
            "Run {} failed: {}: {}", run_id, type(error).__name__, error
        )

    def _finish_run(
        self, run: ActiveRun, run_config: records.RunConfig, status: RunStatus, files: RunFiles
    ) -> None:
        import mlflow

        run_id = run.info.run_id
        writer = self._writer_now()
        _attempt("send the buffered metrics", writer.flush_metrics)
        self.logger_service.logger().debug(
            "MLflow run {} ({}) ends {}", run_config.name, run_id, status
        )
        folder = files.close(run_config.config)
        if self._heartbeat is not None:
            self._heartbeat.remove(run_id)
        self._last_run = EndedRun(  # what the alert that reports the run says of it
            run_id=run_id,
            experiment_id=run.info.experiment_id,
            status=status,
            metrics=writer.buffer.last_values(run_id),
        )
        _attempt("record config.yaml and logs/run.log", lambda: writer.files(run_id, folder))
        files.remove()
        end_runs_above(run_id)  # runs opened inside and left open end first, FAILED
        if writer.delivery is None:
            mlflow.end_run(status)
            return
        try:  # a store that cannot take the end (a full disk) keeps the run RUNNING, reaped later
            _attempt(f"end the run {status}", lambda: writer.end(run_id, status))
        finally:
            pop_active_run()
        # read-your-writes: the store has the run when the block exits (on a server that does
        # not answer, the rest stays in the outbox, and stop() says so in one line)
        writer.wait()

    def _writer_now(self) -> RunWriter:
        """The running service's writer; before `start()`, one that writes straight to MLflow."""
        if self._writer is None:
            self._writer = self._new_writer(None)
        return self._writer

    def _new_writer(self, delivery: Delivery | None) -> RunWriter:
        buffer = MetricBuffer(self.metrics_flush_size, self.metrics_flush_seconds)
        return RunWriter(self.client, buffer, delivery, self.drain_seconds)

    def _start_delivery(self) -> Delivery:
        """Open the outbox, adopt what dead jobs left in it for this store, start its sender."""
        delivery = Delivery(Path(self.outbox_dir), self.tracking_uri, self.client())
        adopted = delivery.start()
        if adopted:
            from loguru import logger

            logger.info(
                "MLflow: sending {} item(s) earlier jobs left in {}", adopted, delivery.outbox.path
            )
        return delivery

    def _go_offline(self) -> None:
        """Track into the offline store from now on, and say why in `auto` mode."""
        self._online = (self.tracking_uri, self.registry_uri)
        self.tracking_uri, self.registry_uri = offline_uri(self.offline_dir), None
        if self.mode == "auto":
            from loguru import logger

            logger.warning(
                "MLflow: the tracking server at {} does not answer; tracking offline into {}: "
                "`model_name runs sync` uploads the runs when it is back",
                mask_url(self._online[0]),
                self.offline_dir,
            )

    def _restore(self) -> None:
        """Undo `start()`: the outbox, MLflow's URIs, experiment and autologging, `MLFLOW_*`."""
        writer, self._writer = self._writer, None
        if writer is not None and writer.delivery is not None:  # start() failed after it opened
            writer.delivery.close()
        if self._online is not None:
            self.tracking_uri, self.registry_uri = self._online
            self._online = None
        if self._saved is not None:
            self._saved.restore()
            self._saved = None


def _active_run_id(caller: str) -> str:
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError(f"{caller} needs an active MLflow run: call it in run_context")
    return str(run.info.run_id)


def _attempt(what: str, action: Callable[[], object]) -> None:
    """Run a clean-up step; log a warning instead of raising when it fails."""
    try:
        action()
    except Exception as error:
        from loguru import logger

        logger.warning("MLflow: could not {}: {}: {}", what, type(error).__name__, error)
