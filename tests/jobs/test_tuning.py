"""The tuning job on the embedded journal storage: trials as child runs, one parent, resumption."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mlflow.entities import Run

from model_name.configuration import load_configuration
from model_name.errors import ConfigurationError, ModelNotFoundError
from model_name.io.services import MlflowService, StudyService
from model_name.jobs import JOBS
from model_name.jobs.base import RESERVED_FIELDS
from model_name.jobs.training import TrainingJob
from model_name.jobs.tuning import TuningJob

RIDGE_ONLY = {"ridge": {"alpha": {"type": "float", "low": 0.01, "high": 10.0, "log": True}}}


def tuning(services: dict[str, Any], isolated: Path, **fields: Any) -> TuningJob:
    """A quick tuning job: ridge only, 2 folds, its study in the test's journal file.

    Each job gets its own StudyService on the same file, as each worker process would.
    """
    fields = {"search_space": RIDGE_ONLY, "cv_folds": 2, "n_trials": 4, **fields}
    study_service = StudyService(storage=str(isolated / "optuna.journal"))
    return TuningJob(study_service=study_service, **services, **fields)


def study_runs(mlflow_service: MlflowService, study: str) -> tuple[list[Run], list[Run]]:
    """Return the study's parent runs and its trial runs (oldest first)."""
    client = mlflow_service.client()
    experiment = client.get_experiment_by_name(mlflow_service.experiment_name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])
    parents = [run for run in runs if run.data.tags.get("model_name.study_run") == study]
    trials = [run for run in runs if run.data.tags.get("model_name.study") == study]
    return parents, trials


def test_each_trial_is_a_child_run_of_one_parent_that_ends_with_the_best_trial(
    services: dict[str, Any], mlflow_service: MlflowService, isolated: Path
) -> None:
    # given a 4-trial study of ridge's alpha
    job = tuning(services, isolated, study="ridge-4")

    # when the job runs
    with job:
        outputs = job.run()

    # then the study has 4 complete trials
    study = outputs["study"]
    assert [trial.state.name for trial in study.trials] == ["COMPLETE"] * 4
    # and one parent run, FINISHED, carries the best trial's params and score
    parents, trials = study_runs(mlflow_service, "ridge-4")
    (parent,) = parents
    assert parent.info.status == "FINISHED"
    assert parent.data.params == {"estimator": "ridge", "alpha": str(study.best_params["alpha"])}
    assert parent.data.metrics["best_rmse"] == pytest.approx(study.best_value)
    assert parent.data.tags["best_trial"] == str(study.best_trial.number)
    # and each trial is a FINISHED child run with its params, fold and mean scores, duration
    assert len(trials) == 4
    for number, run in enumerate(trials):
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["model_name.trial_number"] == str(number)
        assert run.data.params["estimator"] == "ridge"
        assert float(run.data.params["alpha"]) == study.trials[number].params["alpha"]
        assert run.data.metrics["rmse"] == pytest.approx(study.trials[number].value)
        assert 40 < run.data.metrics["rmse"] < 80  # diabetes: a ridge's RMSE is about 54
        assert run.data.metrics["duration_seconds"] > 0
        history = mlflow_service.client().get_metric_history(run.info.run_id, "rmse_fold")
        assert sorted(point.step for point in history) == [0, 1]


def test_a_second_run_with_more_trials_resumes_the_study_under_the_same_parent(
    services: dict[str, Any], mlflow_service: MlflowService, isolated: Path
) -> None:
    # given a study that ran 2 trials
    first = tuning(services, isolated, study="resumed", n_trials=2)
    with first:
        first.run()

    # when a worker asks for 3 in total
    second = tuning(services, isolated, study="resumed", n_trials=3)
    with second:
        outputs = second.run()

    # then it ran only the one missing trial, under the same parent
    assert outputs["ran"] == 1
    parents, trials = study_runs(mlflow_service, "resumed")
    assert len(parents) == 1
    assert parents[0].info.status == "FINISHED"
    assert {run.data.tags["mlflow.parentRunId"] for run in trials} == {parents[0].info.run_id}
    assert len(trials) == 3


def test_the_same_seed_draws_the_same_trials(services: dict[str, Any], isolated: Path) -> None:
    # given two studies with the same seed
    drawn = []
    for name in ("seeded-a", "seeded-b"):
        job = tuning(services, isolated, study=name, n_trials=3, sampler="random", seed=7)
        with job:
            drawn.append([trial.params for trial in job.run()["study"].trials])
    # then they drew the same parameters
    assert drawn[0] == drawn[1]


def test_training_takes_the_hyperparameters_of_the_studys_best_trial(
    services: dict[str, Any], mlflow_service: MlflowService, isolated: Path
) -> None:
    # given a finished study
    job = tuning(services, isolated, study="for-training", n_trials=3)
    with job:
        best = job.run()["study"].best_params

    # when training is told to use it
    study_service = StudyService(storage=str(isolated / "optuna.journal"))
    training = TrainingJob(
        study="for-training", study_service=study_service, register_version=False, **services
    )
    with training:
        outputs = training.run()

    # then its run used the best trial's estimator and alpha, and names the study
    run = mlflow_service.client().get_run(outputs["run"].info.run_id)
    assert run.data.params["estimator"] == best["estimator"] == "ridge"
    assert float(run.data.params["alpha"]) == best["alpha"]
    assert run.data.tags["model_name.study"] == "for-training"


def test_training_from_a_missing_study_says_which_exist(
    services: dict[str, Any], study_service: StudyService
) -> None:
    # given a storage with no study of that name (the plugin's journal file)
    training = TrainingJob(study="nope", study_service=study_service, **services)
    # when it runs; then the error says so and what to do
    with (
        pytest.raises(ModelNotFoundError, match=r"no study 'nope'.*run the tuning job first"),
        training,
    ):
        training.run()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("jobs.tuning.search_space={lasso: {alpha: [1]}}", "unknown estimator 'lasso'"),
        ("jobs.tuning.search_space={ridge: {depth: [1]}}", "ridge has no hyperparameter 'depth'"),
        (
            "jobs.tuning.search_space={ridge: {alpha: {type: float, low: 2, high: 1}}}",
            r"low \(2.0\) must be below high \(1.0\)",
        ),
        (
            "jobs.tuning.search_space={ridge: {alpha: {type: float, low: 0, high: 1, log: true}}}",
            "a log scale needs low > 0",
        ),
        ("jobs.tuning.metric=auc", "jobs.tuning.metric"),
        ("jobs.tuning.study=a b", "jobs.tuning.study"),
    ],
)
def test_a_bad_tuning_section_is_one_line_naming_the_key_and_its_origin(
    override: str, message: str
) -> None:
    # given a bad value on the command line; when the configuration is loaded
    with pytest.raises(ConfigurationError, match=message) as raised:
        load_configuration(
            config_files=[], overrides=[override], environ={}, jobs=JOBS,
            reserved_job_fields=RESERVED_FIELDS,
        )  # fmt: skip
    # then the error names where the value came from, in one line
    assert "--set jobs.tuning." in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_worker_past_its_timeout_starts_no_more_trials_and_leaves_the_study_open(
    services: dict[str, Any], mlflow_service: MlflowService, isolated: Path
) -> None:
    # given a worker with a timeout shorter than one trial
    job = tuning(services, isolated, study="timed", n_trials=50, timeout_seconds=0.01)
    # when it runs
    with job:
        outputs = job.run()
    # then it ran one trial at most, and the parent stays RUNNING for the next worker
    assert outputs["ran"] <= 1
    parents, _ = study_runs(mlflow_service, "timed")
    assert parents[0].info.status == "RUNNING"
