"""Metric points written straight into a SQLite tracking store's two tables, as MLflow writes them.

MLflow's `log_batch` on a SQLite store builds a SQLAlchemy object per point, flushes them through
the ORM's unit of work, and reads then updates `latest_metrics` through the ORM too: about 70 us a
point here, where SQLite itself inserts a row in about 1 us (docs/benchmarks.md). This writes the
same rows with one `executemany` a batch, in one transaction:

- `metrics`: one row a point, `INSERT OR IGNORE` on MLflow's primary key (key, timestamp, step,
  run, value, is_nan), so a point sent twice is stored once, as MLflow does;
- `latest_metrics`: one row a key, replaced when the batch's latest point of that key is later
  by (step, timestamp, value), MLflow's order.

Values are stored as MLflow stores them: NaN as 0 with `is_nan`, infinities as the largest
finite doubles. A run that does not exist, or is deleted, is refused with MLflow's own error
codes, so the sender sets the rows aside as it does for MLflow's refusals. Only the columns
MLflow 2 and 3 share are written; tests read the points back through `MlflowClient`.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

Point = tuple[str, float, int, int]
"""A metric point: key, value, timestamp (ms since the epoch), step."""

Row = tuple[str, float, int, str, int, int]
"""A `metrics` row: key, value, timestamp, run id, step, is_nan."""

_LARGEST = 1.7976931348623157e308
_CONNECTIONS = threading.local()

_INSERT_POINTS = (
    "INSERT OR IGNORE INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
_UPSERT_LATEST = (
    "INSERT INTO latest_metrics (key, value, timestamp, run_uuid, step, is_nan) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key, run_uuid) DO UPDATE SET "
    "value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, "
    "is_nan = excluded.is_nan "
    "WHERE (excluded.step, excluded.timestamp, excluded.value) "
    "> (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)"
)


def write_points(path: Path, batches: Sequence[tuple[str, Sequence[Point]]]) -> None:
    """Store runs' points in the SQLite store at `path`, in one transaction.

    One transaction for many batches: the store's commit (an `fsync` of its rollback journal,
    about 25 ms here) costs more than writing 1,000 points, so the sender writes every metric
    row it has in hand at once.

    Args:
        path: the store's file.
        batches: (run id, points) pairs, each point (key, value, timestamp, step).

    Raises:
        MlflowException: a run does not exist (`RESOURCE_DOES_NOT_EXIST`) or is deleted
            (`INVALID_PARAMETER_VALUE`), as MLflow says it.
        sqlite3.Error: SQLite's error (a full disk: `SQLITE_FULL`). Nothing is kept then.
    """
    connection = _connection(path)
    with connection:  # one transaction: all of it, or nothing
        connection.execute("BEGIN IMMEDIATE")
        for run_id in dict.fromkeys(run_id for run_id, _ in batches):
            _check_active(connection, run_id)
        for run_id, points in batches:
            rows = [_row(run_id, *point) for point in points]
            latest: dict[str, Row] = {}
            for row in rows:
                kept = latest.get(row[0])
                if kept is None or (row[4], row[2], row[1]) > (kept[4], kept[2], kept[1]):
                    latest[row[0]] = row
            connection.executemany(_INSERT_POINTS, rows)
            connection.executemany(_UPSERT_LATEST, latest.values())


def _row(run_id: str, key: str, value: float, timestamp: int, step: int) -> Row:
    if math.isnan(value):
        return (key, 0.0, timestamp, run_id, step, 1)
    if math.isinf(value):
        return (key, math.copysign(_LARGEST, value), timestamp, run_id, step, 0)
    return (key, value, timestamp, run_id, step, 0)


def _check_active(connection: sqlite3.Connection, run_id: str) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

    found = connection.execute(
        "SELECT lifecycle_stage FROM runs WHERE run_uuid = ?", (run_id,)
    ).fetchone()
    if found is None:
        raise MlflowException(f"Run with id={run_id} not found", RESOURCE_DOES_NOT_EXIST)
    if found[0] != "active":
        raise MlflowException(
            f"The run {run_id} must be in the 'active' state. Current state is {found[0]}.",
            INVALID_PARAMETER_VALUE,
        )


def _connection(path: Path) -> sqlite3.Connection:
    """This thread's connection to the store (MLflow's own sessions use others)."""
    connections: dict[Path, sqlite3.Connection] = getattr(_CONNECTIONS, "by_path", {})
    _CONNECTIONS.by_path = connections
    connection = connections.get(path)
    if connection is None:
        # isolation_level None: the transaction is the explicit BEGIN IMMEDIATE above, which
        # takes the write lock at once (waiting up to 30 s for MLflow's writers, as MLflow does)
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        connections[path] = connection
    return connection
