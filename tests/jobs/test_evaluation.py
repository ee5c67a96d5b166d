"""The evaluation job: verdicts on real models trained in the test's store, and the gate."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic as pdt
import pytest

from model_name.errors import GateFailedError, JobError
from model_name.io import datasets
from model_name.io.services import MlflowService
from model_name.jobs.evaluation import VERDICT_ARTIFACT, EvaluationJob
from model_name.jobs.promotion import PromotionJob
from model_name.jobs.training import TrainingJob

RunsOf = Callable[[str], list[Any]]

# A ridge this stiff predicts about the mean: R² near 0 on the diabetes split.
USELESS_ALPHA = 1e5


def train(services: dict[str, Any], **params: Any) -> None:
    """Train and register a ridge on the diabetes data (a new version each call)."""
    with TrainingJob(**services, **params) as job:
        job.run()


def version_tags(mlflow_service: MlflowService, version: int) -> dict[str, str]:
    client = mlflow_service.client()
    return dict(client.get_model_version(mlflow_service.registry_name, str(version)).tags)


def verdict_document(mlflow_service: MlflowService, run_id: str, tmp_path: Path) -> Any:
    client = mlflow_service.client()
    local = client.download_artifacts(run_id, VERDICT_ARTIFACT, str(tmp_path))
    return json.loads(Path(local).read_text())


def test_a_good_version_passes_on_its_held_out_split_is_tagged_and_promoted_by_the_gate(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf, tmp_path: Path
) -> None:
    # One training and evaluation for both: the verdict, then the gated promotion it allows.
    # given the default training's model (R² 0.45 on its held-out rows)
    train(services)

    # when the default evaluation runs
    with EvaluationJob(**services) as job:
        job.run()

    # then the run finished, scored on the same 89 held-out rows as the training run
    (run,) = runs_of("evaluation")
    (training,) = runs_of("training")
    assert run.info.status == "FINISHED"
    assert run.data.params["n_rows"] == training.data.params["n_test"] == "89"
    assert run.data.metrics["r2_score"] == pytest.approx(training.data.metrics["r2"])
    assert run.data.metrics["root_mean_squared_error"] == pytest.approx(
        training.data.metrics["rmse"]
    )
    assert run.data.tags["model_name.verdict"] == "passed"
    assert run.data.metrics["gate_passed"] == 1.0
    gate = {key: value for key, value in run.data.params.items() if "." in key}
    assert gate == {
        "threshold.r2.min": "0.4",
        "threshold.rmse.max": "60.0",
        "margin.r2": "0.02",
        "margin.rmse": "1.0",
    }
    # and the version says it passed, by which run, and why
    tags = version_tags(mlflow_service, 1)
    assert tags["model_name.evaluation.status"] == "passed"
    assert tags["model_name.evaluation.run_id"] == run.info.run_id
    assert tags["model_name.evaluation.reason"] == "all 2 checks passed"
    # and every check is in the verdict artifact, with the plots beside it
    document = verdict_document(mlflow_service, run.info.run_id, tmp_path)
    assert document["verdict"] == "passed"
    assert [check["summary"] for check in document["checks"]] == [
        f"r2 {training.data.metrics['r2']:.2f} >= 0.40",
        f"rmse {training.data.metrics['rmse']:.2f} <= 60.00",
    ]
    plots = mlflow_service.client().list_artifacts(run.info.run_id, "plots")
    assert {item.path for item in plots} == {
        "plots/predicted_vs_actual.png",
        "plots/residuals.png",
    }

    # when the gated promotion runs
    with PromotionJob(require_evaluation=True, **services) as promotion:
        promotion.run()

    # then the version that passed is the champion
    assert mlflow_service.client().get_registered_model("model_name").aliases == {"champion": 1}


def test_a_version_below_a_threshold_fails_naming_the_check(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf
) -> None:
    # given a model that predicts about the mean
    train(services, alpha=USELESS_ALPHA)

    # when it is evaluated
    job = EvaluationJob(plots=False, **services)
    with pytest.raises(GateFailedError) as caught, job:
        job.run()

    # then the error is one line naming the failed check, and the run FAILED with its verdict
    message = str(caught.value)
    assert re.match(
        r"version 1 of 'model_name' failed its evaluation: r2 -?0\.\d\d < 0\.40", message
    )
    assert "\n" not in message
    (run,) = runs_of("evaluation")
    assert run.info.status == "FAILED"
    assert run.data.tags["model_name.verdict"] == "failed"
    assert run.data.metrics["gate_passed"] == 0.0
    tags = version_tags(mlflow_service, 1)
    assert tags["model_name.evaluation.status"] == "failed"
    assert "< 0.40" in tags["model_name.evaluation.reason"]


def test_a_worse_challenger_is_refused_against_a_better_champion(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf, tmp_path: Path
) -> None:
    # given a good champion (v1) and a much worse challenger (v2)
    train(services)
    with PromotionJob(**services) as promotion:
        promotion.run()
    train(services, alpha=USELESS_ALPHA)

    # when the challenger is evaluated with thresholds it passes on its own
    loose = {"r2": {"min": -1.0}, "rmse": {"max": 1000.0}}
    job = EvaluationJob(thresholds=loose, plots=False, **services)
    with pytest.raises(GateFailedError, match=r"r2 -?0\.\d+ < 0\.\d+ \(champion v1 0\.45"), job:
        job.run()

    # then both were scored on the same rows, and every comparison is recorded
    (run,) = runs_of("evaluation")
    assert run.data.params["champion_version"] == "1"
    assert run.data.metrics["champion_r2_score"] == pytest.approx(
        runs_of("training")[1].data.metrics["r2"]
    )
    document = verdict_document(mlflow_service, run.info.run_id, tmp_path)
    outcomes = {check["name"]: check["passed"] for check in document["checks"]}
    assert outcomes == {
        "r2 >= -1.0": True,
        "rmse <= 1000.0": True,
        "r2 vs champion": False,
        "rmse vs champion": False,
    }
    # and a gated promotion now refuses the challenger, naming why
    gated = PromotionJob(require_evaluation=True, **services)
    with pytest.raises(GateFailedError, match="cannot promote version 2 of 'model_name'"), gated:
        gated.run()
    aliases = mlflow_service.client().get_registered_model("model_name").aliases
    assert aliases == {"champion": 1}


def test_a_verdict_given_before_the_champion_changed_must_be_renewed(
    services: dict[str, Any], mlflow_service: MlflowService
) -> None:
    # given versions 1 and 2 both passed while there was no champion, then 1 promoted
    for _ in range(2):
        train(services)
        with EvaluationJob(plots=False, **services) as job:
            job.run()
    with PromotionJob(version=1, require_evaluation=True, **services) as promotion:
        promotion.run()

    # when version 2 is promoted with the gate on
    gated = PromotionJob(version=2, require_evaluation=True, **services)
    with pytest.raises(GateFailedError) as caught, gated:
        gated.run()

    # then it is refused: its verdict never compared it with the champion it would replace
    assert str(caught.value) == (
        "cannot promote version 2 of 'model_name': its evaluation compared it with none, "
        "but 'champion' is now version 1; "
        "run: model_name run evaluation --set jobs.evaluation.version=2"
    )
    # and once evaluated against version 1 (the same model: not worse), it is promoted
    with EvaluationJob(version=2, plots=False, **services) as job:
        job.run()
    assert version_tags(mlflow_service, 2)["model_name.evaluation.compared_with"] == "champion@1"
    with PromotionJob(version=2, require_evaluation=True, **services) as promotion:
        promotion.run()
    assert mlflow_service.client().get_registered_model("model_name").aliases == {"champion": 2}


def test_an_evaluation_table_is_used_when_given(
    services: dict[str, Any], registered_model: str, runs_of: RunsOf, tmp_path: Path
) -> None:
    # given a version registered without a training run, and a CSV of 40 labelled rows
    table = tmp_path / "eval.csv"
    datasets.write_table(datasets.load_sample().head(40), table)

    # when it is evaluated on that table
    with EvaluationJob(inputs=table, plots=False, **services) as job:
        job.run()

    # then the run scored those rows
    (run,) = runs_of("evaluation")
    assert (run.data.params["eval_inputs"], run.data.params["n_rows"]) == (str(table), "40")


def test_without_a_table_nor_a_training_run_the_job_says_what_to_set(
    services: dict[str, Any], registered_model: str
) -> None:
    job = EvaluationJob(**services)
    with pytest.raises(JobError, match=r"no training run with .* jobs\.evaluation\.inputs"), job:
        job.run()


def test_a_training_table_that_moved_away_is_named(
    services: dict[str, Any], tmp_path: Path
) -> None:
    # given a version trained on a CSV that was since removed
    table = datasets.write_table(datasets.load_sample(), tmp_path / "train.csv")
    train(services, inputs=table)
    table.unlink()

    # when its held-out split is needed
    job = EvaluationJob(**services)
    moved = r"the training table '.*train\.csv' of version 1"
    with pytest.raises(JobError, match=moved) as caught, job:
        job.run()

    # then the error says what to set instead
    assert str(caught.value).endswith("give an evaluation table with jobs.evaluation.inputs")


@pytest.mark.parametrize(
    ("thresholds", "wrong"),
    [
        ({"accuracy": {"min": 0.9}}, "accuracy"),
        ({"r2": {}}, "needs min, max or both"),
        ({"rmse": {"max": 50, "min": 70}}, "above max"),
        ({"r2": {"minimum": 0.4}}, "minimum"),
    ],
)
def test_bad_thresholds_are_refused_when_the_job_is_built(
    thresholds: dict[str, Any], wrong: str
) -> None:
    with pytest.raises(pdt.ValidationError, match=wrong):
        EvaluationJob(thresholds=thresholds)


def test_a_failed_gate_exits_1_with_one_line_naming_the_check(
    tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from model_name.cli import main

    def run(job: str, *settings: str) -> int:
        flags = ["--set", f"mlflow.tracking_uri={tracking_uri}", "--set", "alerts.enable=false"]
        for setting in settings:
            flags += ["--set", setting]
        return main(["run", job, *flags])

    # given a useless model trained from the command line
    assert run("training", f"jobs.training.alpha={USELESS_ALPHA}") == 0
    capsys.readouterr()

    # when it is evaluated, then promoted with the gate on
    evaluated = run("evaluation", "jobs.evaluation.plots=false")
    evaluation_errors = capsys.readouterr().err.splitlines()
    promoted = run("promotion", "jobs.promotion.require_evaluation=true")
    promotion_errors = capsys.readouterr().err.splitlines()

    # then each exits 1 with one error line saying why
    assert (evaluated, promoted) == (1, 1)
    (line,) = [line for line in evaluation_errors if line.startswith("model_name: error:")]
    assert re.fullmatch(
        r"model_name: error: job evaluation failed: version 1 of 'model_name' "
        r"failed its evaluation: r2 -?0\.\d\d < 0\.40; rmse \d+\.\d\d > 60\.00",
        line,
    )
    (line,) = [line for line in promotion_errors if line.startswith("model_name: error:")]
    assert line.startswith(
        "model_name: error: job promotion failed: "
        "cannot promote version 1 of 'model_name': its evaluation failed (run "
    )
