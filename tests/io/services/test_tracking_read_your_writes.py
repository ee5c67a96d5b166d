"""Read your writes: what a run context wrote is in the store when it exits, and on `flush()`.

The README's example (`with service.run_context(...) as run: ...` then
`service.client().get_run(run.info.run_id)`) in a loop, in one process and across processes,
and fmind's mlops-python-package `test_mlflow_service`, mapped to this project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import pytest

from model_name.io.services import LoggerService, MlflowService, RunConfig
from tests.helpers.servers import without_coverage

RUNS = 30
"""Ten runs of each ending: every read comes right after its context exits, so a lost or late
write shows in any of them; a hundred multiplied the cost, not what is checked."""
PROCESSES = 2
ENDINGS = {0: "FINISHED", 1: "FAILED", 2: "KILLED"}
"""Run number modulo 3 -> how the run ends: returns, raises, is interrupted."""

EXAMPLE = """
import json, sys
from model_name.io.services import MlflowService, RunConfig

service = MlflowService(tracking_uri=sys.argv[1], experiment_name="loop")
seen = []
with service:
    for number in range(int(sys.argv[2]), int(sys.argv[3])):
        try:
            with service.run_context(service.RunConfig(name=f"run-{number}")) as run:
                service.log_metrics({"loss": number / 10}, step=number)
                service.log_params({"number": number})
                if number % 3 == 1:
                    raise ValueError("a failing run")
                if number % 3 == 2:
                    raise KeyboardInterrupt
        except (ValueError, KeyboardInterrupt):
            pass
        found = service.client().get_run(run.info.run_id)
        seen.append([number, found.info.status, found.data.metrics.get("loss"),
                     found.data.params.get("number")])
print(json.dumps(seen))
"""


def one_run(service: MlflowService, number: int) -> str:
    """The README's example, ending as `ENDINGS` says; return the run's id."""
    try:
        with service.run_context(
            service.RunConfig(name=f"run-{number}", config={"n": number})
        ) as run:
            service.log_metrics({"loss": number / 10}, step=number)
            service.log_params({"number": number})
            service.set_tags({"round": "loop"})
            if number % 3 == 1:
                raise ValueError("a failing run")
            if number % 3 == 2:
                raise KeyboardInterrupt
    except (ValueError, KeyboardInterrupt):
        pass
    return str(run.info.run_id)


def test_a_run_read_back_after_its_context_shows_its_true_end_and_all_it_logged(
    mlflow_service: MlflowService,
) -> None:
    # given the README's example, run 30 times in one process, ending three ways
    seen = []
    with mlflow_service:
        client = mlflow_service.client()
        for number in range(RUNS):
            run_id = one_run(mlflow_service, number)

            # when each run is read back as soon as its context exits
            found = client.get_run(run_id)
            artifacts = {item.path for item in client.list_artifacts(run_id)}
            logs = {item.path for item in client.list_artifacts(run_id, "logs")}
            seen.append(
                (
                    found.info.status,
                    found.data.metrics.get("loss"),
                    found.data.params.get("number"),
                    found.data.tags.get("round"),
                    "config.yaml" in artifacts and "logs/run.log" in logs,
                )
            )

    # then every read shows the run's true status and everything it logged, never RUNNING
    assert seen == [
        (ENDINGS[number % 3], number / 10, str(number), "loop", True) for number in range(RUNS)
    ]


@pytest.mark.slow
def test_the_readme_example_reads_its_true_status_across_processes(tracking_uri: str) -> None:
    # given two processes running the README's example 15 times each, at once, on one store
    env = without_coverage(os.environ)
    ranges = [(begin, begin + RUNS // PROCESSES) for begin in range(0, RUNS, RUNS // PROCESSES)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", EXAMPLE, tracking_uri, str(begin), str(end)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for begin, end in ranges
    ]

    # when each reads its runs back as soon as their contexts exit
    seen = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        seen += json.loads(out.strip().splitlines()[-1])

    # then every read shows the run's true status, its metric and its param
    assert sorted(seen) == [
        [number, ENDINGS[number % 3], number / 10, str(number)] for number in range(RUNS)
    ]


def test_fminds_mlflow_service_test_passes(
    tracking_uri: str, logger_service: LoggerService
) -> None:
    # fmind/mlops-python-package tests/io/test_services.py::test_mlflow_service, imports mapped
    service = MlflowService(
        tracking_uri=tracking_uri,
        registry_uri=tracking_uri,
        experiment_name="Experiment-Testing",
        registry_name="Registry-Testing",
        logger_service=logger_service,
    )
    service.start()
    try:
        # given
        run_config = service.RunConfig(
            name="testing",
            tags={"service": "mlflow"},
            description="a test run.",
            log_system_metrics=True,
        )
        # when
        client = service.client()
        with service.run_context(run_config=run_config) as context:
            pass
        finished = client.get_run(run_id=context.info.run_id)
        # then
        # - mlflow
        assert service.tracking_uri == mlflow.get_tracking_uri(), "Tracking URI should be the same!"
        assert service.registry_uri == mlflow.get_registry_uri(), "Registry URI should be the same!"
        assert mlflow.get_experiment_by_name(service.experiment_name), "Experiment should be setup!"
        # - client
        assert service.tracking_uri == client.tracking_uri, "Tracking URI should be the same!"
        assert service.registry_uri == client._registry_uri, "Tracking URI should be the same!"
        assert client.get_experiment_by_name(service.experiment_name), "Experiment should be setup!"
        # - context
        assert context.info.run_name == run_config.name, "Context name should be the same!"
        assert run_config.description in context.data.tags.values(), "Desc. should be in tags!"
        assert context.data.tags.items() > run_config.tags.items(), "Tags should be a subset!"
        assert context.info.status == "RUNNING", "Context should be running!"
        # - finished
        assert finished.info.status == "FINISHED", "Finished should be finished!"
    finally:
        service.stop()


def test_flush_makes_what_a_running_run_logged_visible(mlflow_service: MlflowService) -> None:
    with mlflow_service, mlflow_service.run_context(RunConfig(name="visible")) as run:
        # given points, params and tags logged during a run (the points still buffered)
        mlflow_service.log_metrics({"loss": 0.5}, step=1)
        mlflow_service.log_params({"alpha": 0.1})
        mlflow_service.set_tags({"stage": "warm-up"})

        # when the job flushes
        flushed = mlflow_service.flush()

        # then the store shows all of it while the run is still running
        found = mlflow_service.client().get_run(run.info.run_id)
        assert flushed
        assert found.info.status == "RUNNING"
        assert found.data.metrics == {"loss": 0.5}
        assert found.data.params == {"alpha": "0.1"}
        assert found.data.tags["stage"] == "warm-up"
