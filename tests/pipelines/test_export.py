"""`model_name pipeline export`: an Argo Workflow and an Airflow DAG, each step a plain command."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest
import yaml

from model_name.cli import main
from tests.pipelines.helpers import TWO_CHECKS, statuses

LIFECYCLE = ["tuning", "training", "evaluation", "promotion", "inference"]


def test_the_argo_workflow_is_a_dag_of_one_container_a_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # when the default pipeline is exported for Argo
    assert main(["pipeline", "export", "--format", "argo", "--image", "registry/model:1"]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    # then it is a Workflow whose DAG runs the lifecycle's steps in order
    assert (manifest["apiVersion"], manifest["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    templates = {template["name"]: template for template in manifest["spec"]["templates"]}
    tasks = templates[manifest["spec"]["entrypoint"]]["dag"]["tasks"]
    assert [task["name"] for task in tasks] == LIFECYCLE
    assert [task.get("dependencies") for task in tasks] == [None, *[[s] for s in LIFECYCLE[:-1]]]
    # and each step is one container running its command
    training = templates["training"]["container"]
    assert training["image"] == "registry/model:1"
    assert training["command"] == [
        "model_name", "run", "pipeline", "lifecycle", "--only", "training",
    ]  # fmt: skip


def test_the_airflow_dag_compiles_and_chains_a_bash_task_a_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["pipeline", "export", "--format", "airflow"]) == 0
    source = capsys.readouterr().out
    compile(source, "model_name_lifecycle.py", "exec")  # Airflow imports it
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "BashOperator"
    ]
    task_ids = [ast.literal_eval(call.keywords[0].value) for call in calls]
    assert task_ids == LIFECYCLE
    assert "step_0 >> step_1 >> step_2 >> step_3 >> step_4" in source


def test_each_exported_command_runs_its_step_and_a_rerun_reuses_it(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a two-step pipeline exported for an orchestrator
    (isolated / "containers.yaml").write_text(TWO_CHECKS)
    flags = ["--set", f"mlflow.tracking_uri={tracking_uri}", "--set", "alerts.enable=false"]
    flags += ["--set", "mlflow.outbox=false", "--set", f"logger.sink={isolated / 'log'}"]
    assert main(["pipeline", "export", "checks", "--format", "argo"]) == 0
    manifest = yaml.safe_load(capsys.readouterr().out)
    commands = [
        template["container"]["command"]
        for template in manifest["spec"]["templates"]
        if "container" in template
    ]
    # when the second task runs before the first, then it refuses, saying why
    assert main([*commands[1][1:], *flags]) == 1
    assert "step first must run before second" in capsys.readouterr().err
    # when the orchestrator runs each task in order, twice
    first_round, second_round = [], []
    for round_ in (first_round, second_round):
        for command in commands:
            assert main([*command[1:], *flags]) == 0, shlex.join(command)
            round_.append(statuses(capsys.readouterr().out)[command[-1]])
    # then each task ran its step the first time and reused it the second
    assert first_round == ["ran", "ran"]
    assert second_round == ["reused", "reused"]
