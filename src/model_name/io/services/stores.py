"""Tracking stores that need preparing before several processes may use them: SQLite files."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path


def initialize_sqlite_store(uri: str) -> None:
    """Create a SQLite tracking store's folder, file and schema once, under an inter-process lock.

    A fresh SQLite store runs about 70 schema migrations on first use; several processes doing
    that at once leave the file unusable for good. Whoever takes the lock (`<file>.lock`, next to
    the store, kept there) first creates the store; the others wait, then find it up to date,
    which costs one query. Anything but a `sqlite:///` file URI is left alone.

    Args:
        uri: a tracking or registry URI.
    """
    path = _sqlite_path(uri)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    from mlflow import MlflowClient

    with _file_lock(path.with_name(f"{path.name}.lock")):
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


def _sqlite_path(uri: str) -> Path | None:
    """Return the file of a `sqlite:///` URI, or None (another scheme, or an in-memory store)."""
    if not uri.startswith("sqlite:///"):
        return None
    database = uri.removeprefix("sqlite:///").partition("?")[0]
    if not database or database == ":memory:":
        return None
    return Path(database)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on a file (created when missing) for the block."""
    with path.open("a") as handle:
        if sys.platform != "win32":  # pragma: no branch - the tests run on Linux
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield
