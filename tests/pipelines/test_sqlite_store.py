"""The SQLite store read without MLflow: the same answers as MLflow's client, or no answer at all.

A re-run whose every step is reused is decided on the store's file with `sqlite3`
(`model_name.pipelines.sqlite_store`). Each answer is checked against `MlflowClient` on the same
store, after the changes a user makes behind the pipeline's back (a deleted run, a deleted
version, a moved alias); a store it cannot read is refused, so the slow path (MLflow) decides.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from model_name.pipelines.sqlite_store import SqliteStore, open_store
from model_name.pipelines.stored import UnsupportedQueryError
from tests.helpers.servers import without_coverage
from tests.pipelines.helpers import TWO_CHECKS, run_pipeline

FINGERPRINT = "model_name.pipeline.fingerprint"


def settings_of(tracking_uri: str, registry_uri: str | None = None) -> Any:
    """The two settings `open_store` reads."""
    return types.SimpleNamespace(
        mlflow=types.SimpleNamespace(tracking_uri=tracking_uri, registry_uri=registry_uri)
    )


@pytest.fixture
def populated(isolated: Path, tracking_uri: str) -> dict[str, Any]:
    """A store holding what a pipeline leaves, then changed behind its back.

    Runs with the same fingerprint (finished, failed, finished then deleted), a registered
    model with three versions (the second deleted), tags on versions, a `champion` alias moved
    from version 1 to version 3.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.create_experiment("pipelines", (isolated / "artifacts").as_uri())
    runs = {}
    for name in ("old", "new", "failed", "deleted"):
        tags = {FINGERPRINT: "f1", "model_name.pipeline.step": "train", "name": name}
        runs[name] = client.create_run(experiment, run_name=name, tags=tags).info.run_id
        client.set_terminated(runs[name], "FAILED" if name == "failed" else "FINISHED")
    client.delete_run(runs["deleted"])
    client.create_registered_model("model")
    for _ in range(3):
        client.create_model_version("model", f"runs:/{runs['old']}/model", run_id=runs["old"])
    client.set_model_version_tag("model", "3", "model_name.evaluation.run_id", runs["new"])
    client.set_registered_model_alias("model", "champion", "1")
    client.set_registered_model_alias("model", "champion", "3")
    client.delete_model_version("model", "2")
    return {"client": client, "experiment": experiment, "runs": runs, "uri": tracking_uri}


def answer(call: Any) -> Any:
    """What a query answers, in plain values: the value, or `missing` when it raises."""
    try:
        value = call()
    except UnsupportedQueryError:
        raise
    except Exception:
        return "missing"
    if isinstance(value, list):  # runs in the order asked for; versions in any order
        return [plain(item) for item in value]
    return plain(value)


def plain(value: Any) -> Any:
    """The fields the reuse decision reads of a run, a version or a model."""
    if value is None:
        return None
    if hasattr(value, "info"):
        info = value.info
        return (info.run_id, str(info.experiment_id), info.status, info.lifecycle_stage,
                dict(value.data.tags))  # fmt: skip
    if hasattr(value, "version"):
        return (value.name, int(value.version), value.run_id, dict(value.tags))
    if hasattr(value, "aliases"):
        return (value.name, {alias: int(version) for alias, version in value.aliases.items()})
    return (str(value.experiment_id), value.name, value.artifact_location, value.lifecycle_stage)


def test_the_store_answers_every_question_of_the_reuse_decision_as_mlflow_does(
    populated: dict[str, Any],
) -> None:
    # given a store changed behind the pipeline's back, read by MLflow and by sqlite3
    client, runs, experiment = populated["client"], populated["runs"], populated["experiment"]
    store = open_store(settings_of(populated["uri"]))
    assert store is not None
    finished = f"tags.`{FINGERPRINT}` = 'f1' and attributes.status = 'FINISHED'"
    by_step = (
        "tags.`model_name.pipeline.step` = 'train' and tags.`name` = 'old' "
        "and attributes.status = 'FINISHED'"
    )
    newest_first = {"order_by": ["attributes.start_time DESC"]}
    questions: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        ("get_experiment_by_name", ("pipelines",), {}),
        ("get_experiment_by_name", ("nowhere",), {}),
        ("search_runs", ([experiment], finished), newest_first | {"max_results": 5}),
        ("search_runs", ([experiment], by_step), newest_first | {"max_results": 1}),
        ("get_run", (runs["new"],), {}),
        ("get_run", (runs["deleted"],), {}),
        ("get_run", ("0" * 32,), {}),
        ("get_registered_model", ("model",), {}),
        ("get_registered_model", ("other",), {}),
        ("search_model_versions", ("name = 'model'",), {}),
        ("get_model_version", ("model", "1"), {}),
        ("get_model_version", ("model", "2"), {}),
        ("get_model_version", ("model", "3"), {}),
        ("get_model_version_by_alias", ("model", "champion"), {}),
        ("get_model_version_by_alias", ("model", "challenger"), {}),
    ]
    # when each question is asked of both
    for method, args, kwargs in questions:
        expected = answer(lambda m=method, a=args, k=kwargs: getattr(client, m)(*a, **k))
        got = answer(lambda m=method, a=args, k=kwargs: getattr(store, m)(*a, **k))
        if method == "search_model_versions":
            expected, got = sorted(expected), sorted(got)
        # then the answers are the same: deleted runs and versions, moved aliases included
        assert got == expected, (method, args)
    store.close()


def test_a_query_it_does_not_translate_is_refused_not_guessed(populated: dict[str, Any]) -> None:
    store = open_store(settings_of(populated["uri"]))
    assert store is not None
    experiment = [populated["experiment"]]
    with pytest.raises(UnsupportedQueryError):
        store.search_runs(experiment, "params.alpha = '2'")
    with pytest.raises(UnsupportedQueryError):
        store.search_runs(experiment, "tags.`a` = 'b'", ["attributes.end_time ASC"])
    with pytest.raises(UnsupportedQueryError):
        store.search_model_versions("name LIKE 'mod%'")
    store.close()


def test_the_run_it_records_reads_back_in_mlflow_as_a_finished_run(
    populated: dict[str, Any],
) -> None:
    # given the store opened without MLflow
    client, experiment = populated["client"], populated["experiment"]
    store = open_store(settings_of(populated["uri"]))
    assert store is not None
    # when it records a pipeline's run
    tags = {"model_name.pipeline.role": "pipeline", "model_name.pipeline.summary": "2 reused"}
    run_id = store.record_run(experiment, "pipeline checks", tags, started_ms=1_700_000_000_000)
    store.close()
    # then MLflow reads a finished, active run with its name, tags and artifact folder
    run = client.get_run(run_id)
    made = client.create_run(experiment, run_name="by MLflow").info
    assert run.info.status == "FINISHED"
    assert run.info.lifecycle_stage == "active"
    assert run.info.run_name == "pipeline checks"
    assert run.info.start_time == 1_700_000_000_000 <= run.info.end_time
    assert run.info.user_id == made.user_id
    assert run.info.artifact_uri == made.artifact_uri.replace(made.run_id, run_id)
    assert {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"} == tags
    found = client.search_runs([experiment], "tags.`model_name.pipeline.role` = 'pipeline'")
    assert [r.info.run_id for r in found] == [run_id]


def _unknown_revision(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'from_the_future'")


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a database at all" * 100)


@pytest.mark.parametrize(
    ("change", "uri", "registry"),
    [
        (None, "http://127.0.0.1:5000", None),
        (None, "sqlite:///elsewhere.db", None),
        (None, "sqlite:///mlflow.db?mode=ro", None),
        (None, "sqlite:///mlflow.db", "sqlite:///registry.db"),
        (_unknown_revision, "sqlite:///mlflow.db", None),
        (_garbage, "sqlite:///mlflow.db", None),
    ],
    ids=["server", "missing file", "query string", "separate registry", "unknown schema",
         "corrupted file"],
)  # fmt: skip
def test_a_store_it_cannot_read_for_sure_is_refused(
    change: Any, uri: str, registry: str | None, isolated: Path, tracking_uri: str
) -> None:
    # given the store file in the current folder (the fixture's copy), maybe changed
    assert Path(tracking_uri.removeprefix("sqlite:///")) == (isolated / "mlflow.db").resolve()
    if change is not None:
        change(isolated / "mlflow.db")
    # then the fast path does not open it: MLflow decides
    assert open_store(settings_of(uri, registry)) is None


def test_workspaces_turned_on_send_the_decision_to_mlflow(
    tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(settings_of(tracking_uri))
    assert isinstance(store, SqliteStore)
    store.close()
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    assert open_store(settings_of(tracking_uri)) is None


def test_it_knows_the_schema_of_the_installed_mlflow(mlflow_store_template: Path) -> None:
    # an MLflow upgrade that changes the store's schema fails here: review the SQL of
    # sqlite_store.py against the new tables, then add the revision to KNOWN_REVISIONS
    assert open_store(settings_of(f"sqlite:///{mlflow_store_template}")) is not None


@pytest.fixture
def checks_flags(isolated: Path, tracking_uri: str) -> list[str]:
    """A folder whose containers.yaml has two checks; return the flags of its runs."""
    (isolated / "containers.yaml").write_text(TWO_CHECKS)
    return [
        "checks",
        "--set", f"mlflow.tracking_uri={tracking_uri}",
        "--set", "alerts.enable=false",
        "--set", f"logger.sink={isolated / 'pipeline.log'}",
    ]  # fmt: skip


@pytest.mark.slow
def test_a_re_run_with_nothing_changed_never_imports_mlflow(
    checks_flags: list[str], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a pipeline that ran once
    assert run_pipeline(capsys, *checks_flags) == (0, {"first": "ran", "second": "ran"})
    # when the same command runs again, in a process of its own
    program = (
        "import sys\nfrom model_name.cli import main\ncode = main(sys.argv[1:])\n"
        "print('mlflow imported:', 'mlflow' in sys.modules)\nsys.exit(code)\n"
    )
    argv = [sys.executable, "-c", program, "run", "pipeline", *checks_flags]
    done = subprocess.run(
        argv, cwd=isolated, env=without_coverage(os.environ), capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    # then every step is reused, MLflow never imported, and the run is recorded for MLflow
    assert done.returncode == 0, done.stderr
    assert "model_name: first: reused (run " in done.stdout
    assert "model_name: second: reused (run " in done.stdout
    assert "mlflow imported: False" in done.stdout
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=checks_flags[2].split("=", 1)[1])
    experiment = client.get_experiment_by_name("model_name")
    assert experiment is not None
    parents = client.search_runs(
        [experiment.experiment_id], "tags.`model_name.pipeline.role` = 'pipeline'"
    )
    assert [parent.data.tags["model_name.pipeline.summary"] for parent in parents] == [
        "2 reused", "2 ran",
    ]  # fmt: skip


@pytest.mark.slow
def test_a_job_run_deleted_behind_the_pipeline_runs_its_step_again(
    checks_flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    # given a pipeline that ran once
    assert run_pipeline(capsys, *checks_flags)[0] == 0
    client = MlflowClient(tracking_uri=checks_flags[2].split("=", 1)[1])
    experiment = client.get_experiment_by_name("model_name")
    assert experiment is not None
    # when the second step's job run is deleted, then the same command runs again
    second = client.search_runs(
        [experiment.experiment_id], "tags.`model_name.pipeline.step` = 'second'"
    )[0]
    job_runs = client.search_runs(
        [experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{second.info.run_id}'"
    )
    client.delete_run(job_runs[0].info.run_id)
    # then the second step runs again, the first is reused
    assert run_pipeline(capsys, *checks_flags) == (0, {"first": "reused", "second": "ran"})
