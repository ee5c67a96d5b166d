"""Preparing a SQLite tracking store: its folder, its schema, and the lock next to it."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
from pathlib import Path

import pytest
from mlflow import MlflowClient

from model_name.errors import ServiceError, StoreFullError
from model_name.tracking.stores import initialize_sqlite_store, store_full


def test_a_fresh_store_is_created_with_its_folders_and_is_usable(tmp_path: Path) -> None:
    # given a store in folders that do not exist yet
    store = tmp_path / "new" / "folders" / "mlflow.db"
    uri = f"sqlite:///{store}"

    # when it is initialised
    initialize_sqlite_store(uri)

    # then the file exists, with the lock next to it, and MLflow can use it at once
    assert store.is_file()
    assert (store.parent / "mlflow.db.lock").is_file()
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.create_experiment("created")
    assert client.get_experiment_by_name("created").experiment_id == experiment_id  # type: ignore[union-attr]


def test_an_initialised_store_is_left_as_it_is(tracking_uri: str) -> None:
    # given a store in use, with an experiment of its own
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = client.create_experiment("kept")

    # when it is initialised again
    initialize_sqlite_store(tracking_uri)

    # then its content is untouched
    assert client.get_experiment_by_name("kept").experiment_id == experiment_id  # type: ignore[union-attr]


def test_the_lock_is_next_to_the_store_even_with_a_query_string(tmp_path: Path) -> None:
    store = tmp_path / "stores" / "tracking.db"

    initialize_sqlite_store(f"sqlite:///{store}?timeout=30")

    assert sorted(path.name for path in store.parent.iterdir()) == [
        "tracking.db",
        "tracking.db.lock",
    ]


@pytest.mark.parametrize(
    "uri",
    [
        "sqlite:///:memory:",
        "sqlite:///",
        "http://127.0.0.1:9",
        "file://{tmp_path}/mlruns",
        "{tmp_path}/mlruns",
    ],
    ids=["memory", "sqlite-without-file", "http", "file-uri", "path"],
)
def test_anything_but_a_sqlite_file_is_left_alone(uri: str, tmp_path: Path) -> None:
    # given a URI that is not a SQLite file (the test runs in the empty tmp_path)
    uri = uri.format(tmp_path=tmp_path)

    # when it is initialised
    initialize_sqlite_store(uri)

    # then nothing was created: no store, no lock, no folder
    assert list(tmp_path.iterdir()) == []


def half_made(store: Path, with_a_run: bool) -> str:
    """A store MLflow refuses, as an interrupted first run of an older version left it."""
    # MLflow caches a store per URI in the process: build this one under another URI of the file
    building = f"sqlite:///{store}?timeout=20"
    initialize_sqlite_store(building)
    if with_a_run:
        client = MlflowClient(tracking_uri=building)
        client.create_run(client.create_experiment("kept"))
    with sqlite3.connect(store) as connection:
        connection.execute("DELETE FROM alembic_version")  # as if the migrations never ran
    return f"sqlite:///{store}"


def test_a_half_made_store_without_runs_is_moved_aside_and_built_again(tmp_path: Path) -> None:
    # given a half-made store that holds no run
    uri = half_made(tmp_path / "mlflow.db", with_a_run=False)

    # when it is initialised
    initialize_sqlite_store(uri)

    # then the broken file is kept aside, and a new store works
    assert [path.name for path in tmp_path.glob("mlflow.db.broken-*")]
    MlflowClient(tracking_uri=uri).create_experiment("works")
    assert not list(tmp_path.glob(".mlflow.db.*"))


def test_a_damaged_store_that_holds_runs_is_left_alone_with_one_clear_line(tmp_path: Path) -> None:
    # given a store MLflow refuses, that holds a run
    uri = half_made(tmp_path / "mlflow.db", with_a_run=True)

    # when it is initialised, then it says so in one line and leaves the store as it is
    with pytest.raises(ServiceError, match=r"mlflow.db cannot be opened .*it holds runs") as raised:
        initialize_sqlite_store(uri)
    assert "\n" not in str(raised.value)
    assert not list(tmp_path.glob("mlflow.db.broken-*"))


def full_database_error(folder: Path) -> sqlite3.Error:
    """SQLite's own error when a database cannot grow (its size capped by `max_page_count`)."""
    with contextlib.closing(sqlite3.connect(folder / "capped.db")) as database:
        database.execute("CREATE TABLE points (value TEXT)")
        database.execute("PRAGMA max_page_count = 2")
        try:
            for _ in range(100):
                database.execute("INSERT INTO points VALUES (?)", ("x" * 4096,))
        except sqlite3.Error as error:
            return error
    raise AssertionError("the capped database kept growing")


def test_a_full_disk_is_named_as_such_with_the_stores_folder(tmp_path: Path) -> None:
    # given SQLite's error when the store cannot grow, as SQLAlchemy and MLflow wrap it
    try:
        try:
            raise full_database_error(tmp_path)
        except sqlite3.Error as error:
            raise RuntimeError(
                "(sqlite3.OperationalError) database or disk is full [SQL: INSERT INTO metrics]"
            ) from error
    except RuntimeError as wrapped:
        full = store_full(wrapped, "sqlite:////srv/project/mlflow.db")

    # then it is the one full-disk error, and its line names the store's folder, without SQL
    assert isinstance(full, StoreFullError)
    assert str(full) == (
        "the disk is full: the tracking store /srv/project/mlflow.db cannot grow; free space in "
        "/srv/project and run again"
    )


def test_an_error_that_only_says_full_is_not_a_full_disk() -> None:
    # given errors whose text mentions a full disk, without the operating system's or SQLite's code
    worded = RuntimeError("database or disk is full")

    # then they are not taken for one (the code decides, not the wording)
    assert store_full(worded, "sqlite:///mlflow.db") is None
    assert store_full(RuntimeError("other"), None) is None


def test_no_space_left_names_the_file() -> None:
    # given the operating system's error for a file that cannot grow
    error = OSError(errno.ENOSPC, "No space left on device", "/srv/project/mlruns/model.pkl")

    # then the line names the file
    assert str(store_full(error)) == (
        "the disk is full: no space left for /srv/project/mlruns/model.pkl (OSError: No space "
        "left on device); free space, run again"
    )
