"""Metric points: the buffer `MlflowService.log_metrics` fills, and how a batch is written.

A point is kept with the time of its call; the buffer says when it is due to be sent (full, or
its oldest point old enough), and remembers the last value of each metric of a run for the
alert that reports it. `write_metrics` is the one way a batch of points reaches a store, from
the job's thread (outbox off) or from the outbox's sender.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from model_name.tracking.batches import METRICS_PER_BATCH, iter_chunks
from model_name.tracking.stores import sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient

Point = tuple[str, float, int, int]
"""A metric point: key, value, timestamp (ms since the epoch), step (as `sqlite_metrics`)."""


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


def write_metrics(client: MlflowClient, batches: Sequence[tuple[str, Sequence[Point]]]) -> None:
    """Write runs' points to the client's store.

    Into a SQLite store, straight into its tables, all in one transaction
    (`model_name.tracking.sqlite_metrics`: about 40 times faster than MLflow's ORM); into any
    other store, in `log_batch` calls of at most 1000.

    Args:
        client: a client on the store.
        batches: (run id, points) pairs.

    Raises:
        Exception: whatever MLflow or SQLite raises; on SQLite nothing is written then, on
            another store the calls before the failed one are.
    """
    path = sqlite_path(client.tracking_uri)
    if path is not None:
        from model_name.tracking.sqlite_metrics import write_points

        write_points(path, batches)
        return
    from mlflow.entities import Metric

    for run_id, points in batches:
        metrics = [Metric(key, value, timestamp, step) for key, value, timestamp, step in points]
        for chunk in iter_chunks(metrics, METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=chunk)
