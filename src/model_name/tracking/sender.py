"""The outbox's sender: a daemon thread that ships the outbox's rows to the tracking server.

Rows go in the order they were written (a run's end after its points and artifacts), each in
one call (`log_batch` for points, params and tags; `log_artifacts`; `set_terminated`). While the
server cannot be reached the sender waits, doubling the wait from `BACKOFF_FIRST` up to
`BACKOFF_MOST` seconds, and tries the same row again: nothing is skipped. A row the server
refuses for good (an invalid name, a deleted run) is kept aside in the outbox, marked rejected
with the server's reason, and logged. The job's thread never waits on any of this, except in
`drain`, at the end, for at most the time it is given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from model_name.redaction import mask_url
from model_name.tracking.batches import PARAMS_PER_BATCH, iter_chunks
from model_name.tracking.metrics import write_metrics
from model_name.tracking.outbox import Item, Outbox
from model_name.tracking.stores import disk_full, sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient

BACKOFF_FIRST = 0.5
BACKOFF_MOST = 10.0
STOP_SECONDS = 5.0
PERMANENT_ERRORS = frozenset(
    {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "INVALID_STATE", "BAD_REQUEST"}
)
"""MLflow error codes that no retry can fix: the row is set aside, not retried."""


def send(client: MlflowClient, items: list[Item]) -> None:
    """Send outbox rows: one row with one (or a few) MLflow calls, or metric rows together.

    Raises:
        Exception: whatever MLflow raises; the rows stay in the outbox.
    """
    from mlflow.entities import Param, RunTag

    item = items[0]
    if item.kind == "metrics":
        write_metrics(client, [(row.run_id, [tuple(p) for p in row.payload]) for row in items])
    elif item.kind == "params":
        params = [Param(k, str(v)) for k, v in item.payload.items()]
        for chunk in iter_chunks(params, PARAMS_PER_BATCH):
            client.log_batch(item.run_id, params=chunk)
    elif item.kind == "tags":
        tags = [RunTag(k, str(v)) for k, v in item.payload.items()]
        for chunk in iter_chunks(tags, PARAMS_PER_BATCH):
            client.log_batch(item.run_id, tags=chunk)
    elif item.kind == "artifacts":
        client.log_artifacts(item.run_id, item.payload)
    else:  # "end": the run's true status, also over a reaper's KILLED
        status, end_time = item.payload
        client.set_terminated(item.run_id, status, end_time=end_time)


def permanent(error: Exception, item: Item) -> bool:
    """Say whether a row cannot be sent now or later (retrying cannot help).

    The server refused it for good, or it writes artifacts to a local folder on a full disk:
    that row is kept aside, so that the rows after it (the run's end status) still reach the
    store. A store that SQLite cannot grow is retried: the rows go in once space is back.
    """
    if getattr(error, "error_code", None) in PERMANENT_ERRORS:
        return True
    return item.kind == "artifacts" and disk_full(error)


class Sender:
    """Ship an outbox's rows from a daemon thread, retrying with backoff.

    Args:
        outbox: the rows to send.
        client: an MLflow client on the outbox's tracking store, used by the thread only.
    """

    def __init__(self, outbox: Outbox, client: MlflowClient) -> None:
        self.outbox = outbox
        self._client = client
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._idle = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing_since: float | None = None
        self.full_disk = False
        """Whether the store's last refusal was a full disk (the rows wait for space)."""
        self.sent = 0

    def start(self) -> None:
        """Start the thread (it sends whatever this process owns, then waits for more)."""
        self._thread = threading.Thread(target=self._loop, name="model_name-outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Say that rows were written: send them now, and retry now if the server was away."""
        self._idle.clear()
        self._wake.set()

    def drain(self, seconds: float | None, failing_seconds: float | None = None) -> bool:
        """Wait until every row this process owns is sent.

        Args:
            seconds: the most time to wait; None: no limit.
            failing_seconds: also stop waiting once the store has refused every try for this
                long in a row, or at once when it refuses because its disk is full (None: no
                such limit).

        Returns:
            True when nothing is left to send.
        """
        self.wake()
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if self._idle.wait(0.05) and not self.outbox.unsent():
                return True
            now, failing = time.monotonic(), self._failing_since
            timed_out = deadline is not None and now >= deadline
            refused = (
                failing_seconds is not None
                and failing is not None
                and (now - failing >= failing_seconds or self.full_disk)
            )
            stopped = self._thread is None or not self._thread.is_alive()
            if timed_out or refused or stopped:
                return not self.outbox.unsent()

    def stop(self) -> None:
        """End the thread after the row it is sending; unsent rows stay in the outbox.

        A call stuck on an unreachable server is not waited for beyond `STOP_SECONDS`: the
        thread is a daemon, and its row stays in the outbox until the store acknowledges it.
        """
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_SECONDS)
            self._thread = None

    def _loop(self) -> None:
        backoff = BACKOFF_FIRST
        try:
            while not self._stopping.is_set():
                items = self.outbox.pending()
                if not items:
                    self._idle.set()
                    self._wake.wait(1.0)
                    self._wake.clear()
                    continue
                failed = self._send_all(items)
                if failed is None:
                    backoff = BACKOFF_FIRST
                    continue
                self._warn_once(failed)
                self._wake.wait(backoff)  # a wake (new rows, a drain) retries at once
                self._wake.clear()
                backoff = min(backoff * 2, BACKOFF_MOST)
        finally:
            self.outbox.close()

    def _send_all(self, items: list[Item]) -> Exception | None:
        """Send rows in order; return the error that stopped it (the row stays), or None."""
        for group in self._groups(items):
            if self._stopping.is_set():
                return None
            failed = self._send_group(group)
            if failed is not None:
                return failed
        return None

    def _groups(self, items: list[Item]) -> Iterator[list[Item]]:
        """Cut rows into what is sent at once: on a SQLite store, consecutive metric rows."""
        together = sqlite_path(self._client.tracking_uri) is not None
        group: list[Item] = []
        for item in items:
            if group and not (together and item.kind == group[-1].kind == "metrics"):
                yield group
                group = []
            group.append(item)
        if group:
            yield group

    def _send_group(self, group: list[Item]) -> Exception | None:
        try:
            send(self._client, group)
        except Exception as error:
            if not permanent(error, group[0]):
                return error
            if len(group) > 1:  # find the row refused: the others go in
                return next(filter(None, (self._send_group([item]) for item in group)), None)
            self._reject(group[0], error)
            return None
        self.outbox.done(group)
        self.sent += sum(item.size for item in group)
        self.full_disk = False
        if self._failing_since is not None:
            away = time.monotonic() - self._failing_since
            from loguru import logger

            logger.info("MLflow: the tracking server answers again after {:.0f} s", away)
            self._failing_since = None
        return None

    def _reject(self, item: Item, error: Exception) -> None:
        reason = f"{type(error).__name__}: {mask_url(' '.join(str(error).split()))}"
        self.outbox.reject(item, reason)
        from loguru import logger

        logger.error(
            "MLflow refused {} of run {} (kept aside in {}): {}",
            item.kind,
            item.run_id,
            self.outbox.path,
            reason,
        )

    def _warn_once(self, error: Exception) -> None:
        self.full_disk = disk_full(error)
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            from loguru import logger

            logger.warning(
                "MLflow: the tracking {} cannot {}; what the job logs is kept in {} and sent "
                "when it can: {}: {}",
                *(
                    ("store", "grow (the disk is full)")
                    if self.full_disk
                    else ("server", "be reached")
                ),
                self.outbox.path,
                type(error).__name__,
                mask_url(" ".join(str(error).split()))[:300],
            )
