"""Delivery: the outbox of one tracking store and the sender thread that empties it, as one object.

`MlflowService` holds one while it runs (with `mlflow.outbox` on), and `model_name runs sync`
uses the same object to send what dead jobs left: both start it, put rows in, wait for them to be
sent, and stop it the same way. See docs/tracking-reliability.md for the guarantees.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_name.tracking.outbox import Kind, Outbox
from model_name.tracking.sender import Sender
from model_name.tracking.stores import local_store

if TYPE_CHECKING:
    from mlflow import MlflowClient


class Delivery:
    """Put rows into a store's outbox, and have its sender ship them.

    Args:
        folder: the outbox's folder (`mlflow.outbox_dir`).
        tracking_uri: the store the rows go to.
        client: an MLflow client on that store, for the sender's thread only.
    """

    def __init__(self, folder: Path, tracking_uri: str, client: MlflowClient) -> None:
        self.outbox = Outbox(folder, tracking_uri)
        self.sender = Sender(self.outbox, client)
        self.local = local_store(tracking_uri)
        """Whether the store is on this machine (SQLite, file): it does not go away."""
        self._away = False

    def start(self) -> int:
        """Adopt the rows dead writers left for this store, start the sender; return how many."""
        adopted = self.outbox.adopt()
        self.sender.start()
        return adopted

    def put(self, run_id: str, kind: Kind, payload: Any, size: int = 1) -> None:
        """Write one row durably and wake the sender.

        Raises:
            StoreFullError: the outbox's disk is full.
        """
        self.outbox.put(run_id, kind, payload, size)
        self.sender.wake()

    def put_files(self, run_id: str, folder: Path) -> None:
        """Move a folder of artifacts into the outbox, and wake the sender."""
        self.outbox.put_files(run_id, folder)
        self.sender.wake()

    def wait(self, seconds: float | None) -> bool:
        """Wait until every row this process owns is in the store.

        Args:
            seconds: on a tracking server, the most time to wait (not waited again, once it ran
                out, until the server takes everything); on a local store the wait lasts as long
                as the sender makes progress, and `seconds` bounds only how long the store may
                refuse in a row (a full disk ends the wait at once).

        Returns:
            True when nothing is left to send.
        """
        if self.local:
            return self.sender.drain(None, failing_seconds=seconds)
        drained = self.sender.drain(0.0 if self._away else seconds)
        self._away = not drained
        return drained

    def unsent(self) -> dict[str, int]:
        """Return, per run, how many items this process still owes the store."""
        return self.outbox.unsent()

    def stop(self, seconds: float) -> dict[str, int]:
        """Wait (as `wait`) for the rows to be sent, stop the sender; return what is left, per run.

        Left rows stay in the outbox, for the next job on this store or `model_name runs sync`.
        """
        self.wait(seconds)
        return self.close()

    def close(self) -> dict[str, int]:
        """Stop the sender after the row it is sending; return what is left, per run."""
        self.sender.stop()
        left = self.outbox.unsent()
        self.outbox.close()
        return left

    def say_left(self, left: dict[str, int]) -> None:
        """Say in one WARNING line of the log what was not sent and where it is kept."""
        if not left:
            return
        from loguru import logger

        logger.warning(
            "MLflow: {} item(s) of run(s) {} not sent to {} yet, kept in {}: "
            "`model_name runs sync` sends them (so does the next job on this store)",
            sum(left.values()),
            ", ".join(left),
            self.outbox.store,
            self.outbox.path,
        )
