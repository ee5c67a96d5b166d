"""Fixtures of the concrete jobs' tests: their services, their runs, a registered model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from model_name.io import datasets, registries
from model_name.io.services import AlertsService, LoggerService, MlflowService, RunConfig

RunsOf = Callable[[str], list[Any]]


@pytest.fixture
def services(
    logger_service: LoggerService, alerts_service: AlertsService, mlflow_service: MlflowService
) -> dict[str, Any]:
    """The services a job is built with, as keyword arguments."""
    return {
        "logger_service": logger_service,
        "alerts_service": alerts_service,
        "mlflow_service": mlflow_service,
    }


@pytest.fixture
def runs_of(mlflow_service: MlflowService) -> RunsOf:
    """Return the MLflow runs of a job kind in the service's experiment, newest first."""

    def runs(kind: str) -> list[Any]:
        client = mlflow_service.client()
        experiment = client.get_experiment_by_name(mlflow_service.experiment_name)
        if experiment is None:
            return []
        return list(
            client.search_runs(
                [experiment.experiment_id],
                filter_string=f"tags.`model_name.job` = '{kind}'",
                order_by=["attributes.start_time DESC"],
            )
        )

    return runs


@pytest.fixture
def registered_model(mlflow_service: MlflowService) -> str:
    """Register a ridge model of the diabetes data twice (versions 1 and 2); return its name."""
    from sklearn.linear_model import Ridge

    frame = datasets.load_sample()
    features = datasets.numeric_features(frame.drop(columns=[datasets.SAMPLE_TARGET]))
    model = Ridge().fit(features, frame[datasets.SAMPLE_TARGET])
    name = mlflow_service.registry_name
    with mlflow_service, mlflow_service.run_context(RunConfig(name="fixture")):
        info = registries.log_model(model, signature_input=features)
        for _ in range(2):
            registries.register_model(info.model_uri, name)
    return name


@pytest.fixture
def champion(mlflow_service: MlflowService, registered_model: str) -> str:
    """Versions 1 and 2 of the model registered, champion on version 1; return the model name."""
    with mlflow_service:
        registries.set_alias(mlflow_service.client(), registered_model, "champion", 1)
    return registered_model
