"""The configuration's JSON Schema: complete, current, and true of the shipped containers.yaml."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from model_name.cli import main
from tests.helpers.expected import JOB_NAMES

ROOT = Path(__file__).resolve().parent.parent


def printed_schema(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["config", "schema"]) == 0
    schema: dict[str, Any] = json.loads(capsys.readouterr().out)
    return schema


def test_the_schema_covers_the_services_and_every_job(capsys: pytest.CaptureFixture[str]) -> None:
    schema = printed_schema(capsys)

    assert set(schema["properties"]) == {
        "logger",
        "alerts",
        "mlflow",
        "optuna",
        "jobs",
        "pipelines",
    }
    jobs = schema["$defs"]["JobsSettings"]["properties"]
    assert set(jobs) == JOB_NAMES
    training = schema["$defs"]["TrainingJobSettings"]["properties"]
    assert training["alpha"]["minimum"] == 0.0
    assert not {"logger_service", "study_service", "configuration"} & set(training)


def test_the_committed_schema_is_the_current_one(capsys: pytest.CaptureFixture[str]) -> None:
    # containers.yaml points editors at this file: it must say what the code accepts today
    committed = json.loads((ROOT / "containers.schema.json").read_text())

    assert committed == printed_schema(capsys), (
        "run: model_name config schema > containers.schema.json"
    )


def test_the_shipped_containers_yaml_is_valid_against_the_schema(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = (ROOT / "containers.yaml").read_text()

    assert text.splitlines()[0] == "# yaml-language-server: $schema=containers.schema.json"
    jsonschema.validate(yaml.safe_load(text), printed_schema(capsys))


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"logger": {"levle": "DEBUG"}}, "Additional properties are not allowed ('levle'"),
        ({"jobs": {"training": {"alpha": -1}}}, "-1 is less than the minimum of 0"),
        ({"jobs": {"trainin": {}}}, "Additional properties are not allowed ('trainin'"),
    ],
)
def test_the_schema_catches_what_the_command_line_refuses(
    capsys: pytest.CaptureFixture[str], document: dict[str, Any], problem: str
) -> None:
    with pytest.raises(jsonschema.ValidationError, match=problem.replace("(", r"\(")):
        jsonschema.validate(document, printed_schema(capsys))
