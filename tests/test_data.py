"""`model_name data check`: a file against a job's or a model's contract, no job run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from model_name.cli import main
from model_name.io.services import MlflowService
from model_name.jobs import TrainingJob
from tests.contracts.conftest import CONTRACT_YAML, diabetes_table
from tests.jobs.conftest import registered_model, services  # noqa: F401  (fixtures)


@pytest.fixture
def project(isolated: Path) -> Path:
    """A folder whose containers.yaml declares the training contract."""
    (isolated / "containers.yaml").write_text(CONTRACT_YAML)
    return isolated


def test_a_file_that_keeps_the_training_contract_passes_with_a_summary(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    diabetes_table(project / "data.parquet")

    code = main(["data", "check", "data.parquet", "--job", "training", "--batch-rows", "30"])

    assert code == 0
    assert capsys.readouterr().out == (
        "data.parquet: 100 rows pass the contract of jobs.training.contract (11 columns checked)\n"
    )


def test_a_file_that_breaks_it_gets_one_line_per_failed_check_and_exit_1(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a CSV bad in two columns, the bad rows in different batches of 30
    diabetes_table(project / "data.csv", bmi=([7, 40], 1.7), s5=([95], "oops"))

    # when it is checked 30 rows at a time, the report kept
    code = main(["data", "check", "data.csv", "--job", "training", "--batch-rows", "30", "--report", "report.json"])  # fmt: skip

    # then each failed check is one line, with the file's lines, and the error line says how many
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out.splitlines() == [
        "data.csv: column 'bmi' fails less_than_or_equal_to(0.5) in 2 of 100 rows: lines 9 (1.7), 42 (1.7)",
        "data.csv: column 's5' fails dtype('float') in 1 of 100 rows: line 97 ('oops')",
    ]  # fmt: skip
    assert captured.err.splitlines() == [
        "model_name: error: data.csv breaks the contract of jobs.training.contract: 2 failed check(s)"
    ]
    report = json.loads((project / "report.json").read_text())
    assert [(f["column"], f["count"], f["rows"]) for f in report["failures"]] == [
        ("bmi", 2, [7, 40]),
        ("s5", 1, [95]),
    ]


@pytest.fixture
def trained(services: dict[str, Any], mlflow_service: MlflowService) -> list[str]:  # noqa: F811
    """Version 1 trained with the contract; return the flags that reach its store."""
    contract = yaml.safe_load(CONTRACT_YAML)["jobs"]["training"]["contract"]
    with TrainingJob(contract=contract, **services) as job:
        job.run()
    return [
        "--set", f"mlflow.tracking_uri={mlflow_service.tracking_uri}",
        "--set", f"mlflow.experiment_name={mlflow_service.experiment_name}",
        "--set", f"mlflow.registry_name={mlflow_service.registry_name}",
    ]  # fmt: skip


def test_inference_tables_are_checked_against_the_models_contract_without_the_target(
    project: Path, trained: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # given new rows without the target, one of them out of range
    path = diabetes_table(project / "new.parquet", s4=([2], -0.9))
    pd.read_parquet(path).drop(columns=["target"]).to_parquet(path)

    # when they are checked for inference (the version it would load: latest here) and the model
    by_job = main(["data", "check", "new.parquet", "--job", "inference", "--set", "jobs.inference.alias=null", *trained])  # fmt: skip
    by_model = main(["data", "check", "new.parquet", "--model", "model_name:1", *trained])

    # then both fail on s4, and neither asks for the target
    out = capsys.readouterr().out
    assert (by_job, by_model) == (1, 1)
    line = "new.parquet: column 's4' fails greater_than_or_equal_to(-0.5) in 1 of 100 rows: row 3 (-0.9)"
    assert out.splitlines() == [line, line]


def test_a_version_saved_without_a_contract_has_nothing_to_check_against(
    project: Path, registered_model: str, mlflow_service: MlflowService,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    diabetes_table(project / "new.csv")

    code = main(["data", "check", "new.csv", "--model", f"{registered_model}@champion", "--set", f"mlflow.tracking_uri={mlflow_service.tracking_uri}"])  # fmt: skip

    assert code == 1  # no such alias: the registry says what exists
    assert "has no alias 'champion'; its versions: 1, 2" in capsys.readouterr().err
    code = main(["data", "check", "new.csv", "--model", f"{registered_model}:2", "--set", f"mlflow.tracking_uri={mlflow_service.tracking_uri}"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err == (
        f"model_name: error: version 2 of model '{registered_model}' was saved without a "
        "contract (trained before contracts)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.csv", "--job", "training"], "nope.csv is not a file"),
        (["data.txt", "--job", "training"], "must end with one of .csv, .parquet, .pq"),
        (["data.csv", "--job", "promotion"], "job 'promotion' reads no table with a contract"),
        (["data.csv", "--job", "trainin"], "unknown job 'trainin'"),
        (["data.csv", "--model", "a@b@c"], "expected NAME, NAME:VERSION or NAME@ALIAS"),
        (["data.csv", "--job", "training", "--set", "jobs.training.contract=null"], "jobs.training.contract is null (from --set jobs.training.contract): nothing to check"),
    ],
)  # fmt: skip
def test_a_bad_command_line_is_exit_2_in_one_line(
    project: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    diabetes_table(project / "data.csv", rows=3)
    (project / "data.txt").write_text("x")

    code = main(["data", "check", *args])

    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.splitlines()) == 1
