"""The outbox: what a job logged, kept on disk until the tracking server has it.

One SQLite file in WAL mode (`<outbox_dir>/outbox.db`), shared by every process that tracks from
the same folder, holds a row per thing to send: a batch of metric points, params, tags, a folder
of artifacts (copied under `<outbox_dir>/files/`), or a run's end (status and time). A row is
written in one short local transaction and deleted only once the server acknowledged it, so
whatever happens to the process or the network after the write, the row is still there.

Each row belongs to the process that wrote it (`owner`: pid and process start time): its own
sender ships it. Rows whose owner is dead are adopted by the next service that starts on the same
tracking store, or by `model_name runs sync`.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from model_name.errors import StoreFullError
from model_name.redaction import mask_url
from model_name.tracking.heartbeat import process_alive, process_started
from model_name.tracking.stores import disk_full

Kind = Literal["metrics", "params", "tags", "artifacts", "end"]

LOCK_TIMEOUT_SECONDS = 30
"""How long a process waits for another's lock on the outbox before it gives up."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store TEXT NOT NULL,
    owner TEXT NOT NULL,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    size INTEGER NOT NULL,
    rejected TEXT
);
CREATE INDEX IF NOT EXISTS items_owner ON items (store, owner, id);
"""


def this_owner() -> str:
    """Return who this process is, as rows record it: `pid:start time`."""
    import os

    return f"{os.getpid()}:{process_started() or 0:.2f}"


def owner_alive(owner: str) -> bool:
    """Say whether the process an `owner` string names still runs on this machine."""
    pid, _, started = owner.partition(":")
    try:
        return process_alive(int(pid), float(started))
    except ValueError:
        return False


class Item:
    """A row of the outbox, read back to be sent."""

    __slots__ = ("id", "kind", "payload", "run_id", "size")

    def __init__(self, row_id: int, run_id: str, kind: Kind, payload: Any, size: int) -> None:
        self.id, self.run_id, self.kind = row_id, run_id, kind
        self.payload, self.size = payload, size


class Outbox:
    """The outbox of one tracking store, as one process sees it.

    Args:
        folder: where `outbox.db` and the artifact copies live (created when missing).
        tracking_uri: the store the rows go to.
    """

    def __init__(self, folder: Path, tracking_uri: str) -> None:
        self.folder = folder
        self.store = mask_url(tracking_uri)  # rows are filed by store, never with its password
        self.owner = this_owner()
        self._local = threading.local()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with self._connection() as connection:
                connection.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as error:
            if not disk_full(error):
                raise
            raise StoreFullError(
                f"the disk is full: cannot create the tracking outbox {self.path.resolve()}; "
                "free space there (or set mlflow.outbox_dir) and run again"
            ) from error

    @property
    def path(self) -> Path:
        """The outbox's SQLite file."""
        return self.folder / "outbox.db"

    def put(self, run_id: str, kind: Kind, payload: Any, size: int = 1) -> None:
        """Write one row, durably, in one local transaction (never touches the network).

        Raises:
            StoreFullError: the outbox's disk is full.
        """
        try:
            with self._connection() as connection:
                connection.execute(
                    "INSERT INTO items (store, owner, run_id, kind, payload, size) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (self.store, self.owner, run_id, kind, json.dumps(payload), size),
                )
        except (OSError, sqlite3.Error) as error:
            if not disk_full(error):
                raise
            raise StoreFullError(
                f"the disk is full: the tracking outbox {self.path.resolve()} cannot grow; free "
                "space there (or set mlflow.outbox_dir) and run again"
            ) from error

    def put_files(self, run_id: str, folder: Path) -> None:
        """Move a folder of artifacts into the outbox, and write the row that uploads it."""
        target = self.folder / "files" / uuid.uuid4().hex
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(folder, target)
        self.put(run_id, "artifacts", str(target))

    def pending(self, limit: int = 64) -> list[Item]:
        """Return this process's oldest unsent rows, in the order they were written."""
        rows = self._connection().execute(
            "SELECT id, run_id, kind, payload, size FROM items "
            "WHERE store = ? AND owner = ? AND rejected IS NULL ORDER BY id LIMIT ?",
            (self.store, self.owner, limit),
        )
        return [Item(row[0], row[1], row[2], json.loads(row[3]), row[4]) for row in rows]

    def done(self, items: list[Item]) -> None:
        """Delete sent rows (and their artifact copies), in one transaction."""
        with self._connection() as connection:
            connection.executemany("DELETE FROM items WHERE id = ?", [(i.id,) for i in items])
        for item in items:
            if item.kind == "artifacts":
                shutil.rmtree(item.payload, ignore_errors=True)

    def reject(self, item: Item, reason: str) -> None:
        """Keep a row the server refused for good, out of the queue, with the server's reason."""
        with self._connection() as connection:
            connection.execute("UPDATE items SET rejected = ? WHERE id = ?", (reason, item.id))

    def adopt(self) -> int:
        """Take over the unsent rows of this store whose writer is dead; return how many."""
        connection = self._connection()
        owners = [
            owner
            for (owner,) in connection.execute(
                "SELECT DISTINCT owner FROM items WHERE store = ? AND owner != ?",
                (self.store, self.owner),
            )
            if not owner_alive(owner)
        ]
        adopted = 0
        with connection:
            for owner in owners:
                adopted += connection.execute(
                    "UPDATE items SET owner = ? WHERE store = ? AND owner = ?",
                    (self.owner, self.store, owner),
                ).rowcount
        return adopted

    def unsent(self) -> dict[str, int]:
        """Return, per run, how many points, params, tags, files and ends this process owes."""
        rows = self._connection().execute(
            "SELECT run_id, SUM(size) FROM items WHERE store = ? AND owner = ? "
            "AND rejected IS NULL GROUP BY run_id ORDER BY MIN(id)",
            (self.store, self.owner),
        )
        return {run_id: int(count) for run_id, count in rows}

    def close(self) -> None:
        """Close this thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # WAL: writers do not block the sender's reads; NORMAL: a commit survives the
            # process's death (not the machine's power loss) without an fsync per write.
            connection = sqlite3.connect(
                self.path, timeout=LOCK_TIMEOUT_SECONDS, check_same_thread=False
            )
            _use_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
        return connection


def _use_wal(connection: sqlite3.Connection) -> None:
    """Put the outbox in WAL mode, retrying while another process holds the lock it needs.

    Jobs started together on a new outbox all switch it at once; SQLite sees the deadlock and
    answers one of them "database is locked" at once, without waiting out the busy timeout.
    """
    deadline = time.monotonic() + LOCK_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
