"""The serve job: answer predictions over HTTP with the champion, following the alias."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pydantic as pdt

from model_name.io.registries import Alias
from model_name.jobs.base import Job, Locals

if TYPE_CHECKING:
    from model_name.serving.follower import AliasFollower
    from model_name.serving.metrics import Prometheus, Stats
    from model_name.serving.recorder import Recorder
    from model_name.serving.server import BackgroundServer

MEBIBYTE = 1024 * 1024


class ServeJob(Job):
    """Serve a registered model over HTTP (MLflow's scoring protocol) and follow its alias.

    Answers `POST /invocations` with the same JSON and CSV payloads as `mlflow models serve`
    (`dataframe_split`, `dataframe_records`, `instances`, `inputs`) and the same answer,
    `{"predictions": [...]}`; `/health` (alive), `/ready` (a model is loaded), `/version` (name,
    version, alias) and `/metrics` (Prometheus). Requests arriving together are predicted in one
    model call (`max_batch_rows`), each getting its own rows' predictions. Every `poll_seconds`
    it asks the registry where `alias` points; when the alias moved, it loads that version beside
    the one serving, tries it on one row, then switches in one step, and logs and alerts it. A
    version that fails to load is not switched to (one warning, one alert). It runs until SIGTERM
    or Ctrl-C (or for `stop_after_seconds`): then it stops accepting, lets the requests in flight
    finish within `grace_seconds`, and its run ends KILLED (exit 143 / 130), or FINISHED after
    `stop_after_seconds`. The run records the versions served and when, and the traffic.

    Attributes:
        host: the address to listen on; `0.0.0.0` for every interface (in a container).
        port: the port; 0 picks a free one (the log says which).
        alias: the alias to serve and follow, such as `champion`.
        version: a version to serve instead (pinned, never switched); it wins over `alias`.
        poll_seconds: how often the registry is asked where the alias points.
        max_body_bytes: the largest request body; larger ones are refused with 413.
        max_batch_rows: the most rows of requests waiting together predicted in one model call;
            1 predicts each request alone.
        grace_seconds: how long requests in flight may take to finish at shutdown.
        metrics_seconds: how often the traffic is logged to the run and summarized in the log.
        stop_after_seconds: stop by itself after this long (the run ends FINISHED); `None` runs
            until stopped.
    """

    KIND = "serve"
    HEADLINE_METRICS = ("requests_total", "errors_total", "served_version")

    host: str = pdt.Field(default="127.0.0.1", min_length=1)
    port: int = pdt.Field(default=8080, ge=0, le=65535)
    alias: Alias | None = "champion"
    version: int | None = pdt.Field(default=None, ge=1)
    poll_seconds: float = pdt.Field(default=10.0, gt=0.0, le=86_400.0)
    max_body_bytes: int = pdt.Field(default=10 * MEBIBYTE, ge=1)
    max_batch_rows: int = pdt.Field(default=1000, ge=1)
    grace_seconds: float = pdt.Field(default=20.0, ge=0.0, le=3600.0)
    metrics_seconds: float = pdt.Field(default=30.0, gt=0.0, le=86_400.0)
    stop_after_seconds: float | None = pdt.Field(default=None, gt=0.0)

    _stop: threading.Event = pdt.PrivateAttr(default_factory=threading.Event)

    def request_stop(self) -> None:
        """Ask the running job, from another thread, to stop as after `stop_after_seconds`.

        The server drains as at SIGTERM, and the run ends FINISHED (a notebook, a test).
        """
        self._stop.set()

    def run(self) -> Locals:
        """Serve until stopped; return locals()."""
        from model_name.io import registries
        from model_name.serving.app import Serving, create_app
        from model_name.serving.batching import Batcher
        from model_name.serving.follower import AliasFollower
        from model_name.serving.metrics import Prometheus, Stats
        from model_name.serving.models import ModelHolder
        from model_name.serving.recorder import Recorder
        from model_name.serving.server import BackgroundServer
        from model_name.signals import wrap_up

        logger = self.logger_service.logger()
        name = self.mlflow_service.registry_name
        wanted = registries.wanted_version(self.alias, self.version)
        config = self.run_config(description=f"Serve {wanted} of '{name}' over HTTP.")
        holder, stats, prometheus = ModelHolder(), Stats(), Prometheus()
        batcher = Batcher(max_rows=self.max_batch_rows)
        app = create_app(Serving(holder, stats, prometheus, logger, self.max_body_bytes, batcher))
        server = BackgroundServer(app, self.host, self.port, self.grace_seconds)
        with self.mlflow_service.run_context(config):
            recorder = Recorder(self.mlflow_service, logger)
            follower = AliasFollower(
                self.mlflow_service.client(), name, alias=self.alias, version=self.version,
                holder=holder, logger=logger, notify=self.alerts_service.notify,
            )  # fmt: skip
            # The port first (a port in use fails at once), then the first version, then the
            # server: the heavy imports of loading (scikit-learn, MLflow's flavor and its
            # autolog hooks) happen before any other thread runs, as MLflow's import hooks can
            # deadlock with a thread importing at the same time.
            server.bind()
            _no_autolog()
            try:
                served = follower.first()
                prometheus.serving(name, follower.alias, served.version)
                recorder.switched(served)
                server.start()
                self.mlflow_service.log_params(
                    {"model_name": name, "alias": follower.alias or "none", "host": self.host,
                     "port": server.port, "first_version": served.version, "url": server.url}
                )  # fmt: skip
                logger.info("Listening on {} (POST /invocations)", server.url)
                self._loop(server, follower, recorder, stats, prometheus)
            finally:
                with wrap_up():  # a second signal must not cut the requests in flight short
                    holder.draining = True
                    drained = server.stop()
                    logger.info(
                        "Server stopped{}", "" if drained else " (grace over: requests cancelled)"
                    )
                    recorder.report(stats, self.metrics_seconds)
        return locals()

    def _loop(
        self,
        server: BackgroundServer,
        follower: AliasFollower,
        recorder: Recorder,
        stats: Stats,
        prometheus: Prometheus,
    ) -> None:
        """Poll the alias and report the traffic until stopped (a signal, or the time is up)."""
        started = time.monotonic()
        next_poll = started + self.poll_seconds
        next_report = last_report = started
        next_report += self.metrics_seconds
        while True:
            now = time.monotonic()
            if self._stop.is_set() or (
                self.stop_after_seconds is not None and now - started >= self.stop_after_seconds
            ):
                return
            if not server.alive():
                raise RuntimeError(f"the HTTP server on {server.url} stopped by itself")
            if now >= next_poll:
                switched = follower.poll()
                if switched is not None:
                    prometheus.serving(switched.name, switched.alias, switched.version)
                    recorder.switched(switched)
                next_poll = time.monotonic() + self.poll_seconds
            if now >= next_report:
                recorder.report(stats, now - last_report)
                last_report, next_report = now, now + self.metrics_seconds
            self._stop.wait(max(0.0, min(0.25, next_poll - now, next_report - now)))


def _no_autolog() -> None:
    """Turn MLflow's autologging off in this process: there is nothing to log while serving.

    Its scikit-learn patches wrap `predict`: about 25 ms a call here, ten times a ridge's own.
    """
    import mlflow

    mlflow.autolog(disable=True)
