"""The contract a model was trained with, saved with its version and read back without config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from model_name.contracts import ColumnRule, Contract, contract_of_model
from model_name.contracts.lineage import TRAINING_DATA_TAG, TRAINING_DIGEST_TAG
from model_name.io.services import MlflowService
from model_name.jobs import TrainingJob
from tests.contracts.conftest import CONTRACT_YAML, FEATURES, diabetes_table


def declared() -> dict[str, Any]:
    return dict(yaml.safe_load(CONTRACT_YAML)["jobs"]["training"]["contract"])


def test_training_saves_its_contract_with_the_version_it_registers(
    services: dict[str, Any], mlflow_service: MlflowService
) -> None:
    # given a training with the declared contract
    job = TrainingJob(contract=declared(), **services)

    # when it trains and registers version 1
    with job:
        outputs = job.run()

    # then version 1 points at the contract, which reads back as declared, with its target
    client = mlflow_service.client()
    version = client.get_model_version(mlflow_service.registry_name, "1")
    run_id = outputs["run"].info.run_id
    assert version.tags["model_name.contract"] == f"runs:/{run_id}/contract/contract.json"
    with mlflow_service:
        contract = contract_of_model(client, mlflow_service.registry_name, 1)
    assert contract is not None
    assert list(contract.columns) == [*FEATURES, "target"]
    assert contract.columns["bmi"] == ColumnRule(dtype="float", ge=-0.5, le=0.5)
    assert contract.target == "target"
    # and the version links to its training data: the run's dataset input and two tags
    (training_input,) = client.get_run(run_id).inputs.dataset_inputs
    assert version.tags[TRAINING_DATA_TAG] == "sklearn.datasets.load_diabetes"
    assert version.tags[TRAINING_DIGEST_TAG] == training_input.dataset.digest


def test_a_training_without_a_contract_saves_its_tables_columns_and_types(
    services: dict[str, Any], mlflow_service: MlflowService, tmp_path: Path
) -> None:
    path = diabetes_table(tmp_path / "data.csv")

    with TrainingJob(inputs=path, **services) as job:
        job.run()

    with mlflow_service:
        contract = contract_of_model(mlflow_service.client(), mlflow_service.registry_name, 1)
    assert contract == Contract(
        columns={name: ColumnRule() for name in (*FEATURES, "target")}, target="target"
    )


def test_a_version_saved_before_contracts_has_none(
    registered_model: str, mlflow_service: MlflowService
) -> None:
    with mlflow_service:
        assert contract_of_model(mlflow_service.client(), registered_model, 1) is None
