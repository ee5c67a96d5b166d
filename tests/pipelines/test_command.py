"""`model_name run pipeline`: the whole pipeline checked first, the plan, one lifetime, one alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_name.cli import main
from model_name.testing import RecordingAlertsService
from tests.pipelines.helpers import run_pipeline

CHECKS = """
pipelines:
  checks:
    steps:
      - {job: check, name: first}
      - {job: check, name: second, overrides: {beat_seconds: 0.5}}
"""


@pytest.fixture
def checks_project(isolated: Path, tracking_uri: str) -> list[str]:
    """A folder whose containers.yaml has a two-step pipeline of checks; return its flags."""
    (isolated / "containers.yaml").write_text(CHECKS)
    return [
        "--set", f"mlflow.tracking_uri={tracking_uri}",
        "--set", "alerts.enable=false",
        "--set", "mlflow.outbox=false",
        "--set", f"logger.sink={isolated / 'pipeline.log'}",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        (
            "steps:\n      - {job: check}\n      - {job: check, name: two, overrides: {fial: true}}",
            "unknown key pipelines.bad.steps[1].overrides.fial (from containers.yaml",
        ),
        (
            "steps:\n      - {job: chekc}",
            "pipelines.bad.steps[0].job (from containers.yaml",
        ),
        (
            "steps:\n      - {job: check, overrides: {hold_seconds: -1}}",
            "pipelines.bad.steps[0].overrides.hold_seconds (from containers.yaml",
        ),
        (
            "steps:\n      - {job: check}\n      - {job: check, name: two, use: {fail: later.x}}",
            "pipelines.bad.steps[1].use.fail (from containers.yaml",
        ),
    ],
    ids=["unknown override", "unknown job", "wrong value", "use of a later step"],
)
def test_a_bad_step_anywhere_stops_the_pipeline_before_anything_starts(
    pipeline: str, expected: str, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a pipeline whose last step is wrong
    (isolated / "containers.yaml").write_text(f"pipelines:\n  bad:\n    {pipeline}\n")
    # when it is run
    code = main(["run", "pipeline", "bad", "--set", "alerts.enable=false"])
    # then exit 2, one line naming the step's key and its file, and nothing was created
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert expected in err
    assert not (isolated / "mlflow.db").exists()


def test_an_unknown_pipeline_or_step_is_named_with_the_nearest_one(
    checks_project: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "pipeline", "chekcs", *checks_project]) == 2
    assert "did you mean 'checks'?" in capsys.readouterr().err
    assert main(["run", "pipeline", "checks", "--force", "third", *checks_project]) == 2
    assert "no step 'third' in pipeline checks (steps: first, second)" in capsys.readouterr().err
    assert main(["run", "check", "--no-cache", *checks_project]) == 2


def test_dry_run_says_each_step_would_run_and_why_without_starting_anything(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the default configuration and no tracking store yet
    # when the default pipeline is dry-run
    code = main(["run", "pipeline", "--dry-run", "--set", "alerts.enable=false"])
    # then it lists the README's lifecycle, every step to run, and creates no store
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    assert out[0] == "model_name: pipeline lifecycle valid; 5 steps:"
    assert [line.split(":")[0].strip() for line in out[1:]] == [
        "tuning", "training", "evaluation", "promotion", "inference",
    ]  # fmt: skip
    assert all("would run: no tracking store or experiment yet" in line for line in out[1:])
    assert not (isolated / "mlflow.db").exists()


def test_a_second_run_reuses_every_step_and_dry_run_says_so(
    checks_project: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # given a pipeline that ran once
    assert run_pipeline(capsys, "checks", *checks_project) == (
        0, {"first": "ran", "second": "ran"},
    )  # fmt: skip
    # when it is dry-run, then run again with nothing changed
    assert main(["run", "pipeline", "checks", "--dry-run", *checks_project]) == 0
    plan = capsys.readouterr().out
    second = run_pipeline(capsys, "checks", *checks_project)
    # then the plan and the run reuse both steps
    assert "first: would reuse (run " in plan
    assert "second: would reuse (run " in plan
    assert second == (0, {"first": "reused", "second": "reused"})
    # and the re-run is recorded: a finished parent run whose tags point at the reused runs
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=checks_project[1].split("=", 1)[1])
    experiment = client.get_experiment_by_name("model_name")
    assert experiment is not None
    latest = client.search_runs(
        [experiment.experiment_id],
        filter_string="tags.`model_name.pipeline.role` = 'pipeline'",
        order_by=["attributes.start_time DESC"],
    )[0]
    assert latest.info.status == "FINISHED"
    assert latest.data.tags["model_name.pipeline.summary"] == "2 reused"
    assert latest.data.tags["model_name.pipeline.steps.first"].startswith("reused ")
    # and a setting the first step takes from the job's section is said, with what follows
    changed = [*checks_project, "--set", "jobs.check.beat_seconds=0.2"]
    assert main(["run", "pipeline", "checks", "--dry-run", *changed]) == 0
    plan = capsys.readouterr().out
    assert "first: would run: its settings changed since run" in plan
    assert "second: would run: first runs before it" in plan


def test_one_container_lifetime_one_parent_run_and_one_alert(
    isolated: Path, tracking_uri: str, tests_experiment: str
) -> None:
    from mlflow import MlflowClient

    from model_name.configuration import load_configuration
    from model_name.containers import create_container, given
    from model_name.pipelines.command import prepare, run_pipeline

    # given the two checks, and an alerts service that records what it sends
    (isolated / "containers.yaml").write_text(CHECKS)
    configuration = load_configuration(
        overrides=[
            f"mlflow.tracking_uri={tracking_uri}",
            f"mlflow.experiment_name={tests_experiment}",
            "mlflow.outbox=false",
            f"logger.sink={isolated / 'pipeline.log'}",
        ]
    )
    alerts = RecordingAlertsService()
    container = create_container(configuration.settings)
    container.alerts_service.override(given(alerts))
    name, steps, _ = prepare(configuration, "checks")
    # when the pipeline runs
    assert run_pipeline(container, name, steps, configuration.settings) == 0
    # then one alert says the pipeline's outcome and each step's
    assert [title for title, _ in alerts.sent] == ["pipeline checks succeeded"]
    assert "first: ran (run " in alerts.sent[0][1]
    assert "second: ran (run " in alerts.sent[0][1]
    # and one parent run holds a nested step run a step, each holding its job's run
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(tests_experiment)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    by_id = {run.info.run_id: run for run in runs}
    parents = [run for run in runs if run.data.tags.get("model_name.pipeline.role") == "pipeline"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["model_name.pipeline.summary"] == "2 ran"
    for step in ("first", "second"):
        status, step_run = parent.data.tags[f"model_name.pipeline.steps.{step}"].split()
        assert status == "ran"
        assert by_id[step_run].data.tags["mlflow.parentRunId"] == parent.info.run_id
        jobs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == step_run]
        assert [job.data.tags["model_name.job"] for job in jobs] == ["check"]
    # and the services started and stopped once: the log says so once
    log = (isolated / "pipeline.log").read_text()
    assert log.count("Job check starting") == 2
