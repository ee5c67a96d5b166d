"""Tracking stores that need preparing before several processes may use them: SQLite files.

Creating a SQLite store is all or nothing: it is built aside (`.mlflow.db.<pid>.tmp`, next to
it), then moved into place with one `os.replace`. A first run interrupted (Ctrl-C, SIGTERM, a
full disk, a kill) while MLflow migrates the new file leaves only that temporary file, which the
next run removes; before, it left a half-migrated `mlflow.db` that every later run refused
(`duplicate column name`, `out-of-date database schema`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from model_name.errors import ServiceError, StoreFullError

TEMPORARY_SUFFIX = ".tmp"
"""The suffix of a store being built aside: `.<name>.<pid>.tmp`."""


def initialize_sqlite_store(uri: str) -> None:
    """Create a SQLite tracking store's folder, file and schema once, under an inter-process lock.

    A fresh SQLite store runs about 70 schema migrations on first use; several processes doing
    that at once leave the file unusable for good, and so does an interruption in the middle.
    Whoever takes the lock (`<file>.lock`, next to the store, kept there) first builds the store
    aside and moves it into place; the others wait, then find it up to date, which costs one
    query. A store left half-made by an older version, holding no run, is moved aside
    (`<file>.broken-<time>`) and built again, with a warning in the log. Anything but a
    `sqlite:///` file URI is left alone.

    Args:
        uri: a tracking or registry URI.

    Raises:
        StoreFullError: the disk is full (one line saying where and what to do).
        ServiceError: the store is damaged and holds runs (one line saying what to do).
    """
    path = sqlite_path(uri)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    query = uri.partition("?")[2]
    with _file_lock(path.with_name(f"{path.name}.lock")):
        _remove_leftovers(path)
        if not path.exists() or path.stat().st_size == 0:
            _build_aside(path, query)
            return
        try:
            _open(uri)  # migrates a store made by an older MLflow
        except Exception as error:
            if disk_full(error):
                raise _store_full_error(path, "update") from None
            if _holds_runs(path):
                raise ServiceError(
                    f"the tracking store {path} cannot be opened ({type(error).__name__}: "
                    f"{_first_line(error)}); it holds runs, so it is left as it is: restore it "
                    "from a backup or move it aside"
                ) from None
            broken = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
            _forget_engine(uri)
            os.replace(path, broken)
            _warn(f"the tracking store {path} was half-made (an interrupted first run?) and "
                  f"held no run: moved aside to {broken.name} and built again")  # fmt: skip
            _build_aside(path, query)


def _build_aside(path: Path, query: str) -> None:
    """Build the store in a temporary file next to it, then move it into place at once.

    The temporary file is named by its absolute path: MLflow caches a store per URI for the life
    of the process, and a relative URI built again from another folder would get the cached store,
    which believes its schema already made.
    """
    temporary = path.absolute().with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")
    temporary_uri = f"sqlite:///{temporary}" + (f"?{query}" if query else "")
    try:
        try:
            _open(temporary_uri)
        finally:
            _forget_engine(temporary_uri)  # no connection left open on the file to be renamed
        os.replace(temporary, path)
    except BaseException as error:  # Ctrl-C and SIGTERM too: nothing half-made is left
        for leftover in (temporary, temporary.with_name(f"{temporary.name}-journal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        if isinstance(error, Exception) and disk_full(error):
            raise _store_full_error(path, "create") from None
        raise


def _open(uri: str) -> None:
    """Open a store as MLflow does (creating or migrating its schema), then close its files."""
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


def _forget_engine(uri: str) -> None:
    """Close MLflow's cached engine of a URI: its pooled connections hold the file they opened.

    MLflow keeps one SQLAlchemy engine per URI for the life of the process; after the file is
    moved aside or replaced, a pooled connection would still read the old file.
    """
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engines = getattr(SqlAlchemyStore, "_engine_map", {})
    engine = engines.pop(uri, None)
    if engine is not None:
        engine.dispose()


def _remove_leftovers(path: Path) -> None:
    """Remove the temporary files of builds that were killed (SIGKILL: no clean-up ran)."""
    for leftover in path.parent.glob(f".{path.name}.*{TEMPORARY_SUFFIX}*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _holds_runs(path: Path) -> bool:
    """Whether a store that MLflow cannot open has runs or registered models worth keeping."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as database:
            for table in ("runs", "registered_models"):
                try:
                    if database.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                        return True
                except sqlite3.OperationalError:  # no such table: nothing there
                    continue
    except sqlite3.DatabaseError:
        return True  # not even a database: someone else's file, never moved
    return False


def disk_full(error: BaseException) -> bool:
    """Say whether an error (or one it was raised from or during) means that a disk is full.

    The one test of a full disk: an `OSError` with `ENOSPC`, or a SQLite error with the code
    `SQLITE_FULL` (SQLAlchemy and MLflow wrap it; the chain keeps it).
    """
    return any(_full(cause) for cause in _chain(error))


def _full(error: BaseException) -> bool:
    if isinstance(error, StoreFullError):
        return True
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    code = getattr(error, "sqlite_errorcode", None)  # SQLite's own errors carry it (3.11+)
    return isinstance(error, sqlite3.Error) and code == sqlite3.SQLITE_FULL


def _chain(error: BaseException) -> Iterator[BaseException]:
    """Yield an error and those it was raised from or during, each once."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def store_full(error: BaseException, tracking_uri: str | None = None) -> StoreFullError | None:
    """Return the `StoreFullError` an error means, or None when no disk is full.

    SQLite says "database or disk is full" with the SQL statement it failed; an `OSError` says
    "No space left on device" with the file. The error's line names the store's folder (or the
    file) instead, and what to do.

    Args:
        error: an error caught from MLflow, SQLite or the operating system.
        tracking_uri: the tracking store being written, named when SQLite is what is full.

    Returns:
        The error to raise (`raise ... from error`), or None.
    """
    if not disk_full(error):
        return None
    for cause in _chain(error):
        if isinstance(cause, StoreFullError):  # said already where it was caught, with the path
            return cause
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            where = f"no space left for {cause.filename}" if cause.filename else "no space left"
            return StoreFullError(
                f"the disk is full: {where} (OSError: {cause.strerror}); free space, run again"
            )
    path = sqlite_path(tracking_uri or "")
    if path is not None:  # SQLite's "database or disk is full": the store could not grow
        return StoreFullError(
            f"the disk is full: the tracking store {path} cannot grow; free space in "
            f"{path.parent.resolve()} and run again"
        )
    return StoreFullError("the disk is full (no space left on a device); free space, run again")


def _store_full_error(path: Path, action: str) -> StoreFullError:
    return StoreFullError(
        f"the disk is full: cannot {action} the tracking store {path}; free space in "
        f"{path.parent.resolve()} and run again"
    )


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]


def _warn(message: str) -> None:
    from loguru import logger

    logger.warning(message)


def local_store(uri: str) -> bool:
    """Say whether a tracking URI is a store on this machine (a SQLite or a file store)."""
    return uri.startswith(("sqlite:", "file:")) or "://" not in uri


def sqlite_path(uri: str) -> Path | None:
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
