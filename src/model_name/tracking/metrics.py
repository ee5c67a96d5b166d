"""Metric points: the buffer `MlflowService.log_metrics` fills, and how a batch is written.

A point is kept with the time of its call; the buffer says when it is due to be sent (full, or
its oldest point old enough), and remembers the last value of each metric of a run for the
alert that reports it. `write_metrics` is the one way a batch of points reaches a store, from
the job's thread (outbox off) or from the outbox's sender.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from model_name.tracking.batches import METRICS_PER_BATCH, iter_chunks

if TYPE_CHECKING:
    from mlflow import MlflowClient

Point = tuple[str, float, int, int]
"""A metric point: key, value, timestamp (ms since the epoch), step."""


class MetricBuffer:
    """Metric points waiting to be sent, per run, and the last value of each metric.

    Args:
        size: the buffer is due when it holds this many points.
        seconds: ... or when its oldest point is this old.
    """

    def __init__(self, size: int, seconds: float) -> None:
        self.size, self.seconds = size, seconds
        self._points: dict[str, list[Point]] = {}
        self._count = 0
        self._oldest = time.monotonic()
        self._last: dict[str, dict[str, float]] = {}

    def add(self, run_id: str, metrics: Mapping[str, float], step: int | None) -> bool:
        """Keep one call's points (with the time now); return whether the buffer is due.

        Raises:
            TypeError, ValueError: a value is not a number.
        """
        timestamp = int(time.time() * 1000)
        values = {key: float(value) for key, value in metrics.items()}
        if not self._count:  # the interval counts from the oldest point waiting
            self._oldest = time.monotonic()
        points = self._points.setdefault(run_id, [])
        points.extend((key, value, timestamp, step or 0) for key, value in values.items())
        self._count += len(values)
        self._last.setdefault(run_id, {}).update(values)
        return self._count >= self.size or time.monotonic() - self._oldest >= self.seconds

    def take(self) -> dict[str, list[Point]]:
        """Return the points waiting, per run, and empty the buffer."""
        points, self._points, self._count = self._points, {}, 0
        return points

    def last_values(self, run_id: str) -> dict[str, float]:
        """Return, and forget, the last value of each metric of a run."""
        return self._last.pop(run_id, {})


def check_metric_names(keys: Iterable[str]) -> None:
    """Raise the error MLflow would, now, for a metric name it refuses (not in the sender).

    Raises:
        MlflowException: a name MLflow refuses.
    """
    from mlflow.utils.validation import _validate_metric_name

    for key in set(keys):
        _validate_metric_name(key)  # type: ignore[no-untyped-call]


def write_metrics(client: MlflowClient, run_id: str, points: list[Point]) -> None:
    """Write a run's points to the client's store, in `log_batch` calls of at most 1000.

    Raises:
        Exception: whatever MLflow raises; the points of that call and the later ones are not
            written.
    """
    from mlflow.entities import Metric

    metrics = [Metric(key, value, timestamp, step) for key, value, timestamp, step in points]
    for chunk in iter_chunks(metrics, METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)
