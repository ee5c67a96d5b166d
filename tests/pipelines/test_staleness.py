"""The staleness matrix: change exactly one thing, and exactly the steps that depend on it rerun.

One baseline runs the README's lifecycle (tuning, training from the study on `data.csv`,
evaluation and gated promotion of the trained version, inference) once; each row copies that
project folder, changes one thing, runs the same command again and checks which steps ran.
Code changes are in `test_code_matrix.py` (they need a package of their own to edit).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.pipelines.helpers import ran, run_pipeline

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[2]
STEPS = ("tuning", "training", "evaluation", "promotion", "inference")
FLAGS = (
    "--set", "jobs.tuning.n_trials=2",
    "--set", "jobs.tuning.cv_folds=2",
    "--set", "jobs.training.inputs=data.csv",
    "--set", "alerts.enable=false",
    "--set", "mlflow.outbox=false",
    "--set", "logger.sink=pipeline.log",
)  # fmt: skip
AFTER_TRAINING = {"training", "evaluation", "promotion", "inference"}


def store(folder: Path) -> tuple[str, ...]:
    """The flag that tracks into the folder's own store, by absolute path: MLflow keeps one
    engine per URI in a process, so `sqlite:///mlflow.db` would stay on the first folder's file."""
    return ("--set", f"mlflow.tracking_uri=sqlite:///{(folder / 'mlflow.db').resolve()}")


def _client() -> object:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{Path('mlflow.db').resolve()}")


def rewrite_one_digit_same_size_and_mtime(folder: Path) -> None:
    """Change one digit of data.csv's first data row; keep its size and modification time."""
    path = folder / "data.csv"
    before = path.stat()
    header, first, rest = path.read_text().split("\n", 2)
    index = next(i for i, char in enumerate(first) if char in "123456789")
    changed = first[:index] + ("2" if first[index] != "2" else "3") + first[index + 1 :]
    path.write_text(f"{header}\n{changed}\n{rest}")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size


def touch_input(folder: Path) -> None:
    """Move data.csv's modification time an hour on; its content stays."""
    path = folder / "data.csv"
    os.utime(path, (path.stat().st_atime + 3600, path.stat().st_mtime + 3600))


def move_champion(folder: Path) -> None:
    """Register another version of the same model and point `champion` at it."""
    client = _client()
    first = client.get_model_version("model_name", "1")  # type: ignore[attr-defined]
    other = client.create_model_version("model_name", first.source, run_id=first.run_id)  # type: ignore[attr-defined]
    client.set_registered_model_alias("model_name", "champion", other.version)  # type: ignore[attr-defined]


def delete_training_run(folder: Path) -> None:
    """Delete the training job's run (what `mlflow gc` or the UI's delete would do)."""
    client = _client()
    runs = client.search_runs(  # type: ignore[attr-defined]
        [client.get_experiment_by_name("model_name").experiment_id],  # type: ignore[attr-defined]
        filter_string="tags.`model_name.job` = 'training'",
    )
    assert len(runs) == 1
    client.delete_run(runs[0].info.run_id)  # type: ignore[attr-defined]


def remove_predictions(folder: Path) -> None:
    """Remove the predictions file inference wrote."""
    (folder / "outputs" / "predictions.csv").unlink()


def plans(*flags: str) -> tuple[list[str], list[str]]:
    """The `--dry-run` plan of the lifecycle here, decided on the store read with sqlite3 (the
    fast path of a re-run) and with MLflow's client: each step's line."""
    from mlflow import MlflowClient

    from model_name.configuration import load_configuration
    from model_name.containers import create_container
    from model_name.pipelines.command import prepare
    from model_name.pipelines.runner import PipelineRunner
    from model_name.pipelines.sqlite_store import open_store

    configuration = load_configuration(overrides=[flag for flag in flags if flag != "--set"])
    settings = configuration.settings
    name, steps, _ = prepare(configuration, None)
    runner = PipelineRunner(create_container(settings), name, steps, settings)
    client = MlflowClient(tracking_uri=settings.mlflow.tracking_uri)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment_name)
    assert experiment is not None
    sqlite_store = open_store(settings)
    assert sqlite_store is not None
    try:
        fast = runner.plan(sqlite_store, experiment.experiment_id)
    finally:
        sqlite_store.close()
    slow = runner.plan(client, experiment.experiment_id)
    return [outcome.line() for outcome in fast], [outcome.line() for outcome in slow]


@dataclasses.dataclass(frozen=True)
class Row:
    """One change, and the steps that must run again after it."""

    change: str
    reruns: frozenset[str]
    apply: Callable[[Path], None] | None = None
    flags: tuple[str, ...] = ()


MATRIX = [
    Row("nothing", frozenset()),
    Row("a job's setting: jobs.training.alpha=2", frozenset(AFTER_TRAINING),
        flags=("--set", "jobs.training.alpha=2")),
    Row("a tuning setting: jobs.tuning.seed=7", frozenset(STEPS),
        flags=("--set", "jobs.tuning.seed=7")),
    Row("the input file's content, same size and mtime", frozenset(AFTER_TRAINING),
        rewrite_one_digit_same_size_and_mtime),
    Row("the input file's mtime alone", frozenset(), touch_input),
    Row("the champion alias moved to another version", frozenset({"evaluation", "promotion"}),
        move_champion),
    Row("the training run deleted", frozenset(AFTER_TRAINING), delete_training_run),
    Row("the predictions file removed", frozenset({"inference"}), remove_predictions),
]  # fmt: skip


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, mlflow_store_template: Path) -> Path:
    """A project folder where the lifecycle pipeline ran once, every step."""
    from model_name.io.datasets import load_sample

    folder = tmp_path_factory.mktemp("baseline")
    shutil.copyfile(REPOSITORY / "containers.yaml", folder / "containers.yaml")
    shutil.copyfile(mlflow_store_template, folder / "mlflow.db")
    load_sample().to_csv(folder / "data.csv", index=False, float_format="%.6f")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        for name in list(os.environ):
            if name.startswith(("MODEL_NAME_", "MLFLOW_")):
                patch.delenv(name)
        from model_name.cli import main

        assert main(["run", "pipeline", *FLAGS, *store(folder)]) == 0
    return folder


@pytest.mark.parametrize("row", MATRIX, ids=[row.change for row in MATRIX])
def test_exactly_the_steps_that_depend_on_a_change_run_again(
    row: Row,
    baseline: Path,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a copy of the project where the whole lifecycle ran once
    project = isolated / "project"
    shutil.copytree(baseline, project)
    monkeypatch.chdir(project)
    # when exactly one thing changes and the same command runs again
    if row.apply is not None:
        row.apply(project)
    # then the store read without MLflow gives the plan MLflow gives, reasons included
    without_mlflow, with_mlflow = plans(*FLAGS, *store(project), *row.flags)
    assert without_mlflow == with_mlflow
    code, statuses = run_pipeline(capsys, *FLAGS, *store(project), *row.flags)
    # then it succeeds, and exactly the steps that depend on the change ran
    assert code == 0
    assert set(statuses) == set(STEPS)
    assert ran(statuses) == row.reruns
