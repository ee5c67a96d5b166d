"""Where what a run logs goes: the metric buffer, then the outbox, or straight to the store.

`MlflowService` holds one `RunWriter` while it runs. With the outbox (`mlflow.outbox`, the
default) every write is a local row that the sender ships; without it, each write is an MLflow
call from the job's thread. Either way, `wait` returns once the store has what was written, so
that a run read back after its context exits shows everything it logged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from model_name.errors import StoreFullError
from model_name.tracking.batches import METRICS_PER_BATCH, PARAMS_PER_BATCH, iter_chunks
from model_name.tracking.delivery import Delivery
from model_name.tracking.heartbeat import now_ms
from model_name.tracking.metrics import MetricBuffer, check_metric_names, write_metrics
from model_name.tracking.outbox import Item, Kind
from model_name.tracking.sender import send

if TYPE_CHECKING:
    from mlflow import MlflowClient


class RunWriter:
    """Buffer metric points, and write points, params, tags, files and ends of runs.

    Args:
        client: makes the MLflow client the job's thread writes with (outbox off).
        buffer: the metric buffer.
        delivery: the outbox and its sender, started; None writes from the job's thread.
        drain_seconds: how long `wait` may wait for a tracking server (see `Delivery.wait`).
    """

    def __init__(
        self,
        client: Callable[[], MlflowClient],
        buffer: MetricBuffer,
        delivery: Delivery | None,
        drain_seconds: float,
    ) -> None:
        self._make_client = client
        self._client: MlflowClient | None = None
        self.buffer = buffer
        self.delivery = delivery
        self.drain_seconds = drain_seconds

    def metrics(self, run_id: str, metrics: Mapping[str, float], step: int | None) -> None:
        """Buffer one call's points; send the buffer when it is due."""
        if self.buffer.add(run_id, metrics, step):
            self.flush_metrics()

    def flush_metrics(self) -> None:
        """Send the buffered points: into the outbox (checked first), or to the store.

        Raises:
            Exception: a metric name MLflow refuses; without the outbox, whatever MLflow raises.
        """
        batches = self.buffer.take()
        if self.delivery is None:
            if batches:
                write_metrics(self.client(), list(batches.items()))
            return
        for run_id, points in batches.items():
            check_metric_names(key for key, *_ in points)
            for chunk in iter_chunks(points, METRICS_PER_BATCH):
                self._put(run_id, "metrics", chunk, len(chunk))

    def mapping(
        self, run_id: str, kind: Literal["params", "tags"], values: Mapping[str, Any]
    ) -> None:
        """Log params or tags of a run."""
        text = {key: str(value) for key, value in values.items()}
        if self.delivery is not None:
            self._put(run_id, kind, text, len(text))
            return
        from mlflow.entities import Param, RunTag

        if kind == "params":
            for chunk in iter_chunks([Param(k, v) for k, v in text.items()], PARAMS_PER_BATCH):
                self.client().log_batch(run_id, params=chunk)
        else:
            for chunk in iter_chunks([RunTag(k, v) for k, v in text.items()], PARAMS_PER_BATCH):
                self.client().log_batch(run_id, tags=chunk)

    def files(self, run_id: str, folder: Path) -> None:
        """Log a folder's files as the run's artifacts (with the outbox: move them into it)."""
        if self.delivery is not None:
            self.delivery.put_files(run_id, folder)
        else:  # one upload for the folder: each artifact call costs a round trip (40 ms here)
            self.client().log_artifacts(run_id, str(folder))

    def end(self, run_id: str, status: str) -> None:
        """Write the run's end (with the outbox only: without it, `mlflow.end_run` does)."""
        if self.delivery is not None:
            self._put(run_id, "end", [status, now_ms()], 1)

    def wait(self) -> bool:
        """Wait until the store has everything written so far (not the buffer); see `Delivery`.

        Returns:
            True when nothing is left to send (always, without the outbox).
        """
        return self.delivery is None or self.delivery.wait(self.drain_seconds)

    def close(self) -> None:
        """Send the buffer, wait as `wait` does, stop the sender; say in one line what is left."""
        try:
            self.flush_metrics()
        finally:
            if self.delivery is not None:
                delivery, self.delivery = self.delivery, None
                delivery.say_left(delivery.stop(self.drain_seconds))

    def _put(self, run_id: str, kind: Kind, payload: Any, size: int) -> None:
        """Write a row into the outbox; when its disk is full, send it straight to the store.

        A full outbox disk then fails the job only if the store cannot take the row either
        (the same disk): its error says so, naming the store.
        """
        assert self.delivery is not None
        try:
            self.delivery.put(run_id, kind, payload, size)
            return
        except StoreFullError:
            pass  # out of the except block: the store's own error, if any, is the one raised
        send(self.client(), [Item(0, run_id, kind, payload, size)])

    def client(self) -> MlflowClient:
        """The job's thread's MLflow client (made on first use)."""
        if self._client is None:
            self._client = self._make_client()
        return self._client
