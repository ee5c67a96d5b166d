"""Tuning workers as real processes sharing one study: on PostgreSQL, and on the journal file.

Each worker is `python -m model_name run tuning` in the test's folder, configured by a
`containers.yaml` there and `MODEL_NAME_*` variables. What is checked is what a user sees: the
study's trials in its storage, and the runs in MLflow (one parent, one child run a trial).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.entities import Run
from optuna.storages import RetryHeartbeatStaleTrialCallback

from tests.helpers.postgres import PostgresServer
from tests.helpers.servers import caching_bytecode, without_coverage

pytestmark = pytest.mark.slow

WORKER_TIMEOUT_SECONDS = 300
"""How long a worker may take among others on two cores before the test gives up."""

RIDGE = {"ridge": {"alpha": {"type": "float", "low": 0.01, "high": 10.0, "log": True}}}
FOREST = {"random_forest": {"n_estimators": {"type": "int", "low": 150, "high": 250}}}
"""A quick search space, and one whose trials last seconds (to be killed in the middle)."""


def project(
    folder: Path, store: Path, storage: str, *, covered: bool = False, **tuning: Any
) -> dict[str, str]:
    """Write the folder's containers.yaml (tracking store, study storage, tuning section).

    Args:
        covered: let coverage measure the workers: the fault paths (waiting for other workers,
            ending a dead worker's run) run only in worker processes.

    Returns:
        The workers' environment.
    """
    tracking = folder / "mlflow.db"
    shutil.copyfile(store, tracking)  # a migrated store: workers never migrate it at once
    config = {
        "logger": {"level": "DEBUG", "format": "{time:HH:mm:ss.SSS} {level} {message}"},
        "alerts": {"enable": False},
        "mlflow": {"tracking_uri": f"sqlite:///{tracking}", "experiment_name": "tuning"},
        "optuna": {"storage": storage, "heartbeat_seconds": 1, "grace_period_seconds": 3},
        "jobs": {"tuning": {"cv_folds": 3, "sampler": "random", "seed": 1, **tuning}},
    }
    (folder / "containers.yaml").write_text(yaml.safe_dump(config))
    env = caching_bytecode(os.environ) if covered else without_coverage(os.environ)
    return {**env, "MLFLOW_DISABLE_TELEMETRY": "true"}


def start_worker(folder: Path, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    """Start one tuning worker in `folder`, its output in `<name>.log` there."""
    with (folder / f"{name}.log").open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "model_name", "run", "tuning"],
            cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_all(processes: list[subprocess.Popen[bytes]], folder: Path) -> list[int]:
    """Wait for every worker (killing them all on timeout); return their exit codes."""
    deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
    try:
        return [
            process.wait(timeout=max(deadline - time.monotonic(), 0.1)) for process in processes
        ]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], nth: int = 1) -> str:
    """Wait until a worker's log has `nth` lines containing `text`; return the last of them."""
    deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        found = [line for line in log.read_text(errors="replace").splitlines() if text in line]
        if len(found) >= nth:
            return found[nth - 1]
        time.sleep(0.1)
    pytest.fail(f"no {text!r} in {log.name}:\n{log.read_text(errors='replace')}")


def runs_of(folder: Path) -> tuple[list[Run], list[Run]]:
    """Return the parent runs and the trial runs of the folder's tracking store."""
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tuning")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [run for run in runs if "model_name.study_run" in run.data.tags]
    return parents, [run for run in runs if "model_name.trial_number" in run.data.tags]


def logs(folder: Path) -> str:
    return "\n\n".join(f"{log.name}:\n{log.read_text()}" for log in sorted(folder.glob("*.log")))


def test_three_workers_share_a_twelve_trial_study_on_postgresql(
    isolated: Path, mlflow_store_template: Path, postgres_server: PostgresServer
) -> None:
    # given a study of 12 trials on PostgreSQL (its URL with a password)
    storage = postgres_server.url(postgres_server.create_database("three"), password="pw-xyz")
    env = project(isolated, mlflow_store_template, storage, n_trials=12, search_space=RIDGE)

    # when three workers run it together
    workers = [start_worker(isolated, env, f"worker-{index}") for index in range(3)]
    codes = wait_all(workers, isolated)

    # then all exit 0, and the study has exactly 12 complete trials
    assert codes == [0, 0, 0], logs(isolated)
    study = optuna.load_study(
        study_name="model_name", storage=storage.replace("://", "+psycopg2://", 1)
    )
    complete = [trial for trial in study.trials if trial.state.name == "COMPLETE"]
    assert len(complete) == 12
    # and MLflow has 12 FINISHED trial runs under one FINISHED parent with the best params
    parents, trials = runs_of(isolated)
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    assert parent.data.params["alpha"] == str(study.best_params["alpha"])
    finished = [run for run in trials if run.info.status == "FINISHED"]
    assert len(finished) == 12
    assert {run.data.tags["mlflow.parentRunId"] for run in trials} == {parent.info.run_id}
    assert sorted(int(run.data.tags["model_name.trial_number"]) for run in finished) == sorted(
        trial.number for trial in complete
    )
    # and the workers shared the work, each logging one line a trial it ran
    lines = [log.read_text().count(" complete | best ") for log in isolated.glob("worker-*.log")]
    assert sum(lines) == 12
    assert sum(count > 0 for count in lines) >= 2
    # and the password shows nowhere: not in the logs, not on the runs, not in their config.yaml
    assert "pw-xyz" not in logs(isolated)
    assert "pw-xyz" not in str([run.data for run in [parent, *trials]])
    client = MlflowClient(tracking_uri=f"sqlite:///{isolated / 'mlflow.db'}")
    recorded = Path(client.download_artifacts(trials[0].info.run_id, "config.yaml", str(isolated)))
    assert yaml.safe_load(recorded.read_text())["optuna"]["storage"] == storage.replace(
        ":pw-xyz@", ":**********@"
    )


@pytest.mark.parametrize("backend", ["postgresql", "journal"])
def test_a_worker_killed_mid_trial_costs_one_retried_trial_and_no_running_run(
    isolated: Path, mlflow_store_template: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    # given two workers on a 4-trial study (on PostgreSQL, or in the journal file)
    if backend == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        storage = server.url(server.create_database("killed"))
        optuna_storage = storage.replace("://", "+psycopg2://", 1)
    else:
        storage = optuna_storage = "optuna.journal"
    env = project(
        isolated, mlflow_store_template, storage, covered=True, n_trials=4, search_space=FOREST
    )
    victim = start_worker(isolated, env, "victim")

    # when the first is SIGKILLed in the middle of its second trial (the second worker starts
    # once the first has a trial done: on a busy machine it could otherwise run them all)
    wait_for_line(isolated / "victim.log", " complete | best ", victim)
    survivor = start_worker(isolated, env, "survivor")
    started = wait_for_line(isolated / "victim.log", "started: {'estimator'", victim, nth=2)
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed = int(started.split("Trial ")[1].split()[0])
    assert f"Trial {killed} complete" not in (isolated / "victim.log").read_text()
    codes = wait_all([survivor], isolated)

    # then the other worker completes the study: 4 complete trials, the killed one failed
    assert codes == [0], logs(isolated)
    if backend == "journal":
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna_storage = JournalStorage(JournalFileBackend(str(isolated / "optuna.journal")))
    study = optuna.load_study(study_name="model_name", storage=optuna_storage)
    states = {trial.number: trial.state.name for trial in study.trials}
    assert list(states.values()).count("COMPLETE") == 4
    assert states[killed] == "FAIL"
    # and it was retried: a trial runs the killed one's parameters again
    retried = [
        trial
        for trial in study.trials
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(trial) == killed
    ]
    assert retried and retried[0].params == study.trials[killed].params
    # and the killed trial's run was ended KILLED; no run is left RUNNING
    parents, trials = runs_of(isolated)
    by_number = {int(run.data.tags["model_name.trial_number"]): run for run in trials}
    assert by_number[killed].info.status == "KILLED"
    assert [run.info.status for run in [*parents, *trials]].count("RUNNING") == 0
    assert parents[0].info.status == "FINISHED"


def test_ctrl_c_kills_the_trials_run_and_a_new_worker_resumes_the_study(
    isolated: Path, mlflow_store_template: Path
) -> None:
    # given one worker on a 3-trial study in the default journal file
    env = project(
        isolated, mlflow_store_template, "optuna.journal", n_trials=3, search_space=FOREST
    )
    worker = start_worker(isolated, env, "interrupted")

    # when it gets SIGINT (Ctrl-C) in its second trial
    wait_for_line(isolated / "interrupted.log", " complete | best ", worker)
    wait_for_line(isolated / "interrupted.log", "Trial 1 started", worker)
    time.sleep(0.3)
    worker.send_signal(signal.SIGINT)
    code = wait_all([worker], isolated)[0]

    # then it exits 130; the trial's run is KILLED, and so is the parent (nobody else runs)
    assert code == 130, logs(isolated)
    parents, trials = runs_of(isolated)
    assert {int(run.data.tags["model_name.trial_number"]): run.info.status for run in trials} == {
        0: "FINISHED", 1: "KILLED",
    }  # fmt: skip
    assert parents[0].info.status == "KILLED"

    # when the command runs again
    code = wait_all([start_worker(isolated, env, "resumed")], isolated)[0]

    # then it resumes the study to 3 complete trials, under the same parent, now FINISHED
    assert code == 0, logs(isolated)
    assert "Trial 3 complete" in (isolated / "resumed.log").read_text()
    parents, trials = runs_of(isolated)
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    assert sorted(run.info.status for run in trials) == ["FINISHED"] * 3 + ["KILLED"]
