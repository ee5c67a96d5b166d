"""An MLflow SQLite store read and written with `sqlite3`: a re-run decided without MLflow.

Importing MLflow and opening its store cost seconds, most of a re-run where every step is reused.
On the embedded SQLite store, `SqliteStore` answers the few questions the reuse decision asks
(`model_name.pipelines.reuse` and `outputs`: runs by tag, a run, a registered model, its
versions and aliases) with plain SQL on the store's own tables, under the same names as
`MlflowClient`'s methods, so the same decision code runs on either; and it records the parent run
of a pipeline whose every step was reused, in one transaction. What it reads is the store itself,
never a copy: a run deleted, an alias moved, a version deleted behind its back is seen at once.

It only opens a store whose schema revision it was written against (`KNOWN_REVISIONS`, checked
by a test against the installed MLflow); anything else (another URI, a separate registry,
MLflow's workspaces, an unknown or unreadable file) gets `None` from `open_store`, and the
caller goes the slow way, through MLflow.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from model_name.pipelines.stored import (
    Experiment,
    ModelVersion,
    RegisteredModel,
    Run,
    RunData,
    RunInfo,
    UnsupportedQueryError,
    clauses,
    model_name_filter,
)

KNOWN_REVISIONS = frozenset({"dc11669786a5"})
"""The store schemas (alembic revisions) this module's SQL was checked against: MLflow 3.17's."""
WORKSPACE = "default"
"""The workspace MLflow files everything under when workspaces are off (its default)."""
DELETED_VERSION = "Deleted_Internal"
"""The stage MLflow gives a deleted model version (the row stays)."""
TIMEOUT_SECONDS = 30.0
"""How long a query waits for another process's write lock on the store."""


def store_path(tracking_uri: str) -> Path | None:
    """Return the file of a `sqlite:///` URI (relative to the current folder as for MLflow).

    Returns:
        None for any other URI, or one with a query string or in memory.
    """
    if not tracking_uri.startswith("sqlite:///") or "?" in tracking_uri:
        return None
    path = tracking_uri.removeprefix("sqlite:///")
    return Path(path) if path and path != ":memory:" else None


def open_store(settings: Any) -> SqliteStore | None:
    """Return the settings' tracking store opened with `sqlite3`, or None when it may not be.

    None when the store is not a SQLite file that exists, when the registry is elsewhere, when
    MLflow's workspaces are on, or when the file is not a store of a known schema revision
    (unreadable, corrupted, another MLflow version).
    """
    path = _usable_path(settings)
    if path is None:
        return None
    try:
        connection = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=TIMEOUT_SECONDS,
            isolation_level=None,
        )  # fmt: skip
    except sqlite3.Error:
        return None
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        rows = []
    if len(rows) != 1 or rows[0][0] not in KNOWN_REVISIONS:
        connection.close()
        return None
    return SqliteStore(connection)


def _usable_path(settings: Any) -> Path | None:
    """Return the store's file when it is one `SqliteStore` may open, else None."""
    mlflow = settings.mlflow
    path = store_path(mlflow.tracking_uri)
    if path is None or mlflow.registry_uri not in (None, "", mlflow.tracking_uri):
        return None
    workspaces = os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").lower() in ("1", "true", "yes")
    if workspaces or os.environ.get("MLFLOW_WORKSPACE"):
        return None
    return path if path.is_file() else None


class SqliteStore:
    """The queries of the reuse decision, and the record of a reused pipeline, in plain SQL.

    Methods carry `MlflowClient`'s names and return objects with the attributes the decision
    reads; a missing run, model, version or alias raises `LookupError` (as MLflow raises its
    own error), a query it does not translate `UnsupportedQueryError`.

    Args:
        connection: a connection on the store's file (autocommit: each write its own BEGIN).
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment of that name (deleted or not), or None."""
        row = self._connection.execute(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments "
            "WHERE name = ? AND workspace = ?",
            (name, WORKSPACE),
        ).fetchone()
        return None if row is None else Experiment(str(row[0]), row[1], row[2] or "", row[3])

    def search_runs(
        self,
        experiment_ids: Sequence[str],
        filter_string: str = "",
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
    ) -> list[Run]:
        """Return the active runs matching tag and status equalities, newest first.

        As MLflow orders them: start time descending, then run id. Only tag equalities
        (tags.`KEY` = 'VALUE') and a status one (attributes.status = 'VALUE'), joined by
        `and`, are understood.

        Raises:
            UnsupportedQueryError: any other filter or order.
        """
        if order_by not in (None, [], ["attributes.start_time DESC"]):
            raise UnsupportedQueryError(f"order {order_by!r}")
        where = ["r.lifecycle_stage = 'active'"]
        where.append(f"r.experiment_id IN ({', '.join('?' * len(experiment_ids))})")
        args: list[Any] = [int(experiment_id) for experiment_id in experiment_ids]
        for tag, attribute, value in clauses(filter_string):
            if attribute:
                where.append("r.status = ?")
                args.append(value)
            else:
                where.append(
                    "EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = r.run_uuid "
                    "AND t.key = ? AND t.value = ?)"
                )
                args += [tag, value]
        rows = self._connection.execute(
            "SELECT r.run_uuid, r.experiment_id, r.status, r.lifecycle_stage, r.start_time "
            f"FROM runs r WHERE {' AND '.join(where)} "
            "ORDER BY r.start_time DESC, r.run_uuid LIMIT ?",
            (*args, max_results),
        ).fetchall()
        return [self._run(row) for row in rows]

    def get_run(self, run_id: str) -> Run:
        """Return a run, deleted or not.

        Raises:
            LookupError: no such run.
        """
        row = self._connection.execute(
            "SELECT run_uuid, experiment_id, status, lifecycle_stage, start_time FROM runs "
            "WHERE run_uuid = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise LookupError(f"run {run_id} not found")
        return self._run(row)

    def get_registered_model(self, name: str) -> RegisteredModel:
        """Return a registered model and its aliases.

        Raises:
            LookupError: no model of that name.
        """
        if not self._connection.execute(
            "SELECT 1 FROM registered_models WHERE name = ? AND workspace = ?", (name, WORKSPACE)
        ).fetchone():
            raise LookupError(f"registered model {name!r} not found")
        aliases = self._connection.execute(
            "SELECT alias, version FROM registered_model_aliases WHERE name = ? AND workspace = ?",
            (name, WORKSPACE),
        )
        return RegisteredModel(name, {alias: int(version) for alias, version in aliases})

    def search_model_versions(self, filter_string: str) -> list[ModelVersion]:
        """Return a model's versions that are not deleted (`name = 'NAME'` only).

        Raises:
            UnsupportedQueryError: any other filter.
        """
        name = model_name_filter(filter_string)
        rows = self._connection.execute(
            "SELECT version FROM model_versions WHERE name = ? AND workspace = ? "
            "AND current_stage != ? ORDER BY version",
            (name, WORKSPACE, DELETED_VERSION),
        ).fetchall()
        return [self.get_model_version(name, row[0]) for row in rows]

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Return a version that is not deleted, with its tags.

        Raises:
            LookupError: no such version, or a deleted one.
        """
        row = self._connection.execute(
            "SELECT version, run_id FROM model_versions WHERE name = ? AND version = ? "
            "AND workspace = ? AND current_stage != ?",
            (name, int(version), WORKSPACE, DELETED_VERSION),
        ).fetchone()
        if row is None:
            raise LookupError(f"version {version} of {name!r} not found")
        tags = self._connection.execute(
            "SELECT key, value FROM model_version_tags WHERE name = ? AND version = ? "
            "AND workspace = ?",
            (name, row[0], WORKSPACE),
        )
        return ModelVersion(name, int(row[0]), row[1], dict(tags.fetchall()))

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version an alias points at (`latest`: the highest, as MLflow does).

        Raises:
            LookupError: no such model, alias or version.
        """
        model = self.get_registered_model(name)
        if alias.lower() == "latest":
            found = self.search_model_versions(f"name = '{name}'") if "'" not in name else []
            if not found:
                raise LookupError(f"no version of {name!r}")
            return found[-1]
        if alias not in model.aliases:
            raise LookupError(f"alias {alias!r} of {name!r} not found")
        return self.get_model_version(name, model.aliases[alias])

    def record_run(
        self, experiment_id: str, name: str, tags: Mapping[str, str], started_ms: int
    ) -> str:
        """Record a finished run (no artifacts, no metrics) with its tags; return its id.

        What `MlflowClient.create_run`, `set_tag` and `set_terminated(FINISHED)` would leave,
        in one transaction.

        Raises:
            LookupError: the experiment is gone or deleted.
            UnsupportedQueryError: its artifact location is not one this module joins paths onto.
        """
        run_id = uuid.uuid4().hex
        with self._transaction():
            row = self._connection.execute(
                "SELECT artifact_location FROM experiments WHERE experiment_id = ? "
                "AND lifecycle_stage = 'active'",
                (int(experiment_id),),
            ).fetchone()
            if row is None:
                raise LookupError(f"experiment {experiment_id} is not active")
            self._connection.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id, deleted_time) "
                "VALUES (?, ?, 'UNKNOWN', '', '', 'unknown', 'FINISHED', ?, ?, '', 'active', ?, "
                "?, NULL)",
                (run_id, name, started_ms, now_ms(), artifacts_of(row[0], run_id),
                 int(experiment_id)),
            )  # fmt: skip
            self._connection.executemany(
                "INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                [(key, value, run_id) for key, value in {**tags, "mlflow.runName": name}.items()],
            )
        return run_id

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    def _run(self, row: tuple[Any, ...]) -> Run:
        tags = self._connection.execute("SELECT key, value FROM tags WHERE run_uuid = ?", row[:1])
        info = RunInfo(row[0], str(row[1]), row[2], row[3], row[4])
        return Run(info, RunData(dict(tags.fetchall())))


def artifacts_of(location: str, run_id: str) -> str:
    """Return a run's artifact URI under its experiment's location, as MLflow builds it.

    Raises:
        UnsupportedQueryError: a location with a query or a fragment, or none.
    """
    if not location or "?" in location or "#" in location:
        raise UnsupportedQueryError(f"artifact location {location!r}")
    return f"{location.rstrip('/')}/{run_id}/artifacts"


def now_ms() -> int:
    """Return the time now in milliseconds, as MLflow stamps runs."""
    return int(time.time() * 1000)
