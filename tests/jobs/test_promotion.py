"""The promotion job: the alias it moves in the registry and the run that records it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic as pdt
import pytest

from model_name.errors import GateFailedError, ModelNotFoundError
from model_name.io.services import MlflowService
from model_name.jobs.promotion import PromotionJob

RunsOf = Callable[[str], list[Any]]


def aliases(mlflow_service: MlflowService, name: str) -> dict[str, str]:
    return {
        alias: str(version)
        for alias, version in mlflow_service.client().get_registered_model(name).aliases.items()
    }


def test_promotion_points_champion_at_the_latest_version(
    services: dict[str, Any], mlflow_service: MlflowService, registered_model: str, runs_of: RunsOf
) -> None:
    # given a model with versions 1 and 2 and no alias
    # when the default promotion runs
    job = PromotionJob(**services)
    with job:
        outputs = job.run()

    # then champion points at version 2, and a finished run says so
    assert aliases(mlflow_service, registered_model) == {"champion": "2"}
    (run,) = runs_of("promotion")
    assert run.info.status == "FINISHED"
    assert run.data.params == {
        "model_name": registered_model,
        "alias": "champion",
        "version": "2",
        "previous_version": "none",
        "model_uri": f"models:/{registered_model}@champion",
        "require_evaluation": "False",
    }
    assert str(outputs["promoted"].version) == "2"


def test_promotion_moves_an_alias_to_an_explicit_version(
    services: dict[str, Any], mlflow_service: MlflowService, registered_model: str, runs_of: RunsOf
) -> None:
    # given champion on version 2
    with PromotionJob(**services) as first:
        first.run()

    # when version 1 is promoted explicitly, and version 2 becomes "challenger"
    with PromotionJob(version=1, **services) as job:
        job.run()
    with PromotionJob(alias="challenger", version=2, **services) as job:
        job.run()

    # then the aliases moved, and the run records the version it replaced
    assert aliases(mlflow_service, registered_model) == {"champion": "1", "challenger": "2"}
    moved = runs_of("promotion")[1]
    assert (moved.data.params["version"], moved.data.params["previous_version"]) == ("1", "2")


def test_promoting_a_missing_version_fails_naming_the_versions_there_are(
    services: dict[str, Any], mlflow_service: MlflowService, registered_model: str, runs_of: RunsOf
) -> None:
    # when version 7 of a model with versions 1 and 2 is promoted
    job = PromotionJob(version=7, **services)
    with pytest.raises(ModelNotFoundError, match="has no version 7") as caught, job:
        job.run()

    # then the error names the model, the version and what exists; the run FAILED; no alias moved
    message = str(caught.value)
    assert isinstance(caught.value, ModelNotFoundError)
    assert f"cannot promote version 7 of model '{registered_model}' to 'champion'" in message
    assert "its versions: 1, 2" in message
    assert runs_of("promotion")[0].info.status == "FAILED"
    assert aliases(mlflow_service, registered_model) == {}


def test_promoting_a_model_that_is_not_registered_fails_clearly(
    services: dict[str, Any], mlflow_service: MlflowService, runs_of: RunsOf
) -> None:
    # given an empty registry
    # when the latest version is promoted
    job = PromotionJob(**services)
    with pytest.raises(ModelNotFoundError, match="registered models: none") as caught, job:
        job.run()

    # then the error names the model and the run FAILED
    assert f"model '{mlflow_service.registry_name}' is not registered" in str(caught.value)
    assert runs_of("promotion")[0].info.status == "FAILED"


@pytest.mark.parametrize(
    "fields",
    [{"version": 0}, {"alias": "latest"}, {"alias": "v2"}, {"alias": "my alias"}, {"alias": ""}],
)
def test_bad_aliases_and_versions_are_refused_when_the_job_is_built(
    fields: dict[str, Any],
) -> None:
    with pytest.raises(pdt.ValidationError):
        PromotionJob(**fields)


def test_a_gated_promotion_refuses_a_version_never_evaluated(
    services: dict[str, Any], mlflow_service: MlflowService, registered_model: str, runs_of: RunsOf
) -> None:
    # given versions 1 and 2, neither evaluated
    # when the promotion requires a passed evaluation
    job = PromotionJob(require_evaluation=True, **services)
    with pytest.raises(GateFailedError) as caught, job:
        job.run()

    # then one line names the version and what is missing; no alias moved; the run FAILED
    assert str(caught.value) == (
        f"cannot promote version 2 of '{registered_model}': it has no evaluation "
        "(no model_name.evaluation.status tag); "
        "run: model_name run evaluation --set jobs.evaluation.version=2"
    )
    assert aliases(mlflow_service, registered_model) == {}
    assert runs_of("promotion")[0].info.status == "FAILED"


def test_a_gated_promotion_refuses_a_version_that_failed_its_evaluation(
    services: dict[str, Any], mlflow_service: MlflowService, registered_model: str
) -> None:
    # given version 1 tagged as failed by an evaluation run (as the evaluation job tags it)
    client = mlflow_service.client()
    for key, value in {
        "model_name.evaluation.status": "failed",
        "model_name.evaluation.run_id": "abc123",
        "model_name.evaluation.reason": "r2 0.31 < 0.40",
    }.items():
        client.set_model_version_tag(registered_model, "1", key, value)

    # when the gated promotion is asked for it
    job = PromotionJob(version=1, require_evaluation=True, **services)
    with pytest.raises(GateFailedError) as caught, job:
        job.run()

    # then the error says which run failed it and why
    assert str(caught.value) == (
        f"cannot promote version 1 of '{registered_model}': its evaluation failed "
        "(run abc123: r2 0.31 < 0.40)"
    )
