"""The outbox and its sender on a real SQLite store: what is kept, sent, adopted, set aside."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient

from model_name.io.services import LoggerService, MlflowService, RunConfig
from model_name.tracking.outbox import Outbox
from model_name.tracking.sender import Sender
from tests.helpers.servers import free_port
from tests.helpers.tracking import dead_process


@pytest.fixture
def run_id(tracking_uri: str, tmp_path: Path) -> str:
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.create_experiment("outbox", (tmp_path / "artifacts").as_uri())
    return client.create_run(experiment).info.run_id


def rows(outbox: Path) -> list[tuple[str, str, str | None]]:
    with sqlite3.connect(outbox / "outbox.db") as connection:
        return list(connection.execute("SELECT owner, kind, rejected FROM items ORDER BY id"))


def test_rows_of_a_dead_writer_are_adopted_and_sent(
    tracking_uri: str, run_id: str, tmp_path: Path
) -> None:
    # given rows written by a process that died before sending them
    pid, started = dead_process()
    dead = Outbox(tmp_path / "outbox", tracking_uri)
    dead.owner = f"{pid}:{started:.2f}"
    dead.put(run_id, "metrics", [["loss", 0.5, 1_000, 0], ["loss", 0.25, 2_000, 1]], size=2)
    dead.put(run_id, "end", ["FAILED", 3_000])
    dead.close()

    # when this process adopts them and sends them
    outbox = Outbox(tmp_path / "outbox", tracking_uri)
    adopted = outbox.adopt()
    sender = Sender(outbox, MlflowClient(tracking_uri=tracking_uri))
    sender.start()
    drained = sender.drain(30)
    sender.stop()

    # then the run has its points (with their steps and times) and its true status
    assert (adopted, drained, sender.sent) == (2, True, 3)
    client = MlflowClient(tracking_uri=tracking_uri)
    history = client.get_metric_history(run_id, "loss")
    assert sorted((p.step, p.timestamp, p.value) for p in history) == [
        (0, 1_000, 0.5),
        (1, 2_000, 0.25),
    ]
    run = client.get_run(run_id)
    assert (run.info.status, run.info.end_time) == ("FAILED", 3_000)
    assert rows(tmp_path / "outbox") == []


def test_rows_of_a_live_writer_are_not_adopted(tracking_uri: str, tmp_path: Path) -> None:
    mine = Outbox(tmp_path / "outbox", tracking_uri)
    mine.put("some-run", "tags", {"a": "b"})
    other = Outbox(tmp_path / "outbox", tracking_uri)
    other.owner = "1:0.00"  # another owner name for this same, living, writer's rows

    assert other.adopt() == 0
    assert mine.unsent() == {"some-run": 1}


def test_a_row_the_store_refuses_is_set_aside_and_the_rest_still_goes(
    tracking_uri: str, run_id: str, tmp_path: Path
) -> None:
    # given a param the run already has with another value (MLflow refuses to change it)
    client = MlflowClient(tracking_uri=tracking_uri)
    client.log_param(run_id, "alpha", "1")
    outbox = Outbox(tmp_path / "outbox", tracking_uri)
    outbox.put(run_id, "params", {"alpha": "2"})
    outbox.put(run_id, "tags", {"team": "ml"})
    log = tmp_path / "app.log"

    # when the sender ships both rows
    with LoggerService(sink=str(log), format="{level}|{message}"):
        sender = Sender(outbox, client)
        sender.start()
        drained = sender.drain(30)
        sender.stop()

    # then the refused row is kept aside with MLflow's reason, the next one is sent
    assert drained
    [(_, kind, reason)] = rows(tmp_path / "outbox")
    assert kind == "params" and reason is not None and "alpha" in reason
    assert client.get_run(run_id).data.tags["team"] == "ml"
    assert f"ERROR|MLflow refused params of run {run_id}" in log.read_text()


def test_an_unreachable_store_keeps_every_row_and_drain_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://me:s3cr3t@127.0.0.1:{free_port()}"
    outbox = Outbox(tmp_path / "outbox", uri)
    outbox.put("run-1", "metrics", [["loss", 0.5, 1_000, 0]])
    log = tmp_path / "app.log"

    with LoggerService(sink=str(log), format="{level}|{message}"):
        sender = Sender(outbox, MlflowClient(tracking_uri=uri))
        sender.start()
        drained = sender.drain(1.5)
        sender.stop()

    assert not drained
    assert outbox.unsent() == {"run-1": 1}
    # and the log says once that the server is away, its password masked
    text = log.read_text()
    assert text.count("the tracking server cannot be reached") == 1
    assert "me:**********@127.0.0.1" in text and "s3cr3t" not in text


def test_params_and_tags_logged_through_the_service_reach_the_store(
    mlflow_service: MlflowService,
) -> None:
    with mlflow_service, mlflow_service.run_context(RunConfig(name="logged")) as run:
        mlflow_service.log_params({"alpha": 0.5})
        mlflow_service.set_tags({"stage": "try"})

    data = mlflow_service.client().get_run(run.info.run_id).data
    assert data.params == {"alpha": "0.5"}
    assert data.tags["stage"] == "try"


def test_params_and_tags_go_straight_to_the_store_with_the_outbox_off(
    mlflow_service: MlflowService,
) -> None:
    service = mlflow_service.model_copy(update={"outbox": False})
    with service, service.run_context(RunConfig(name="direct")) as run:
        service.log_params({"alpha": 0.5})
        service.set_tags({"stage": "try"})
        data = service.client().get_run(run.info.run_id).data  # stored before the run ends

    assert data.params == {"alpha": "0.5"}
    assert data.tags["stage"] == "try"
    assert service.drain(0)  # nothing to wait for without an outbox


@pytest.mark.parametrize(
    ("uri", "filed_under"),
    [
        ("http://me:s3cr3t@127.0.0.1:5000", "http://me:**********@127.0.0.1:5000"),
        ("https://s3cr3t@mlflow.example.com", "https://**********@mlflow.example.com"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
    ],
)
def test_rows_are_filed_under_the_store_with_its_credentials_masked(
    tmp_path: Path, uri: str, filed_under: str
) -> None:
    # given an outbox for a store whose URI holds a password or a token
    outbox = Outbox(tmp_path / "outbox", uri)

    # when a row is written
    outbox.put("run", "tags", {"stage": "test"})
    outbox.close()

    # then the file names the store as every output does: credentials masked
    with sqlite3.connect(tmp_path / "outbox" / "outbox.db") as connection:
        stores = [store for (store,) in connection.execute("SELECT DISTINCT store FROM items")]
    assert stores == [filed_under]


def test_a_job_opening_the_outbox_while_another_switches_it_waits_instead_of_failing(
    tmp_path: Path,
) -> None:
    # given a new outbox whose write lock another process holds, as when jobs start together
    # (SQLite answers "database is locked" at once there, without waiting out its timeout)
    folder = tmp_path / "outbox"
    folder.mkdir()
    other = sqlite3.connect(folder / "outbox.db", isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE started (at REAL)")
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, other.execute, ["COMMIT"])
    release.start()

    # when this process opens it
    try:
        outbox = Outbox(folder, "http://127.0.0.1:1")
    finally:
        release.join()
        other.close()

    # then it waited for the lock and the outbox is usable, in WAL mode
    outbox.put("run", "tags", {"stage": "dev"})
    assert [owner for owner, _, _ in rows(folder)] == [outbox.owner]
    with sqlite3.connect(folder / "outbox.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
