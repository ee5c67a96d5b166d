"""What makes tracking survive the process and the network: the MlflowService's reliable half.

`ReliableTracking` is the settings model `MlflowSettings` plus the state and methods of the
heartbeat's reaper at start, the outbox (params, tags, drain, its sender's start and stop) and
the offline mode. `MlflowService` inherits it; it lives here to keep `tracking.py` about MLflow
runs. See docs/tracking-reliability.md for the guarantees.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pydantic as pdt

from model_name.io.services.base import _loguru
from model_name.io.services.offline import offline_uri, server_answers
from model_name.io.services.outbox import Outbox
from model_name.redaction import mask_url
from model_name.settings import MlflowSettings

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from model_name.io.services.sender import Sender


class ReliableTracking(MlflowSettings):
    """The outbox, offline mode and start-time reaping of `MlflowService` (see its docs)."""

    _outbox: Outbox | None = pdt.PrivateAttr(default=None)
    _sender: Sender | None = pdt.PrivateAttr(default=None)
    _online: tuple[str, str | None] | None = pdt.PrivateAttr(default=None)

    def client(self) -> MlflowClient:
        """Return an MLflow client on the store (`MlflowService` implements it)."""
        raise NotImplementedError

    @property
    def offline_notice(self) -> str | None:
        """Why the running service tracks offline in `auto` mode (for an alert), or None."""
        if self.mode != "auto" or self._online is None:
            return None
        return (
            f"The tracking server at {mask_url(self._online[0])} does not answer: runs are "
            f"tracked offline into {self.offline_dir}; `model_name runs sync` uploads them."
        )

    def drain(self, seconds: float | None = None) -> bool:
        """Wait until everything in the outbox (not the buffer) reached the store.

        Args:
            seconds: the most time to wait; None waits as long as it takes.

        Returns:
            True when nothing is left to send (always, without the outbox).
        """
        return self._sender is None or self._sender.drain(seconds)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params of the active run, through the outbox when it is on.

        Raises:
            RuntimeError: no MLflow run is active.
        """
        self._log_mapping("params", params)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags of the active run, through the outbox when it is on.

        Raises:
            RuntimeError: no MLflow run is active.
        """
        self._log_mapping("tags", tags)

    def _log_mapping(self, kind: Literal["params", "tags"], values: Mapping[str, Any]) -> None:
        import mlflow

        run = mlflow.active_run()
        if run is None:
            raise RuntimeError(f"log_{kind} needs an active MLflow run: call it in run_context")
        if self._outbox is None:
            (mlflow.log_params if kind == "params" else mlflow.set_tags)(dict(values))
            return
        self._outbox.put(run.info.run_id, kind, {k: str(v) for k, v in values.items()}, len(values))
        self._wake_sender()

    def _start_outbox(self) -> None:
        """Open the outbox, adopt what dead jobs left in it for this store, start the sender."""
        from model_name.io.services.sender import Sender

        self._outbox = Outbox(Path(self.outbox_dir), self.tracking_uri)
        adopted = self._outbox.adopt()
        if adopted:
            _loguru().info(
                "MLflow: sending {} item(s) earlier jobs left in {}", adopted, self._outbox.path
            )
        self._sender = Sender(self._outbox, self.client())
        self._sender.start()

    def _wake_sender(self) -> None:
        if self._sender is not None:
            self._sender.wake()

    def _stop_outbox(self) -> None:
        """Drain the outbox for at most `drain_seconds`, then say in one line what is left."""
        if self._sender is None or self._outbox is None:
            return
        sender, outbox = self._sender, self._outbox
        self._sender = self._outbox = None
        drained = sender.drain(self.drain_seconds)
        sender.stop()
        left = {} if drained else outbox.unsent()
        outbox.close()
        if left:
            runs = ", ".join(left)
            _loguru().warning(
                "MLflow: {} item(s) of run(s) {} not sent to {} yet, kept in {}: "
                "`model_name runs sync` sends them (so does the next job on this store)",
                sum(left.values()),
                runs,
                outbox.store,
                outbox.path,
            )

    def _choose_mode(self) -> None:
        """Track offline in `offline` mode, or in `auto` mode when the server does not answer."""
        if self.mode == "online" or (self.mode == "auto" and server_answers(self.tracking_uri)):
            return
        self._online = (self.tracking_uri, self.registry_uri)
        self.tracking_uri, self.registry_uri = offline_uri(self.offline_dir), None
        if self.mode == "auto":
            _loguru().warning(
                "MLflow: the tracking server at {} does not answer; tracking offline into {}: "
                "`model_name runs sync` uploads the runs when it is back",
                mask_url(self._online[0]),
                self.offline_dir,
            )

    def _reap(self, experiment_id: str) -> None:
        """End, KILLED, the experiment's dead RUNNING runs, within `reap_seconds`."""
        from model_name.io.services.reaper import reap_stale_runs

        report = reap_stale_runs(
            self.client(), [experiment_id], self.grace_seconds(), time_limit=self.reap_seconds
        )
        for reaped in report.reaped:
            _loguru().warning(
                "MLflow run {} ({}) ended KILLED: {}", reaped.run_name, reaped.run_id, reaped.reason
            )


def _check_metric_names(keys: set[str]) -> None:
    """Raise the error MLflow would, now, for a metric name it refuses (not in the sender)."""
    from mlflow.utils.validation import _validate_metric_name

    for key in keys:
        _validate_metric_name(key)  # type: ignore[no-untyped-call]
