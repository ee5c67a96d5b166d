"""`model_name pipeline export`: a pipeline as an Argo Workflow or an Airflow DAG.

Each step becomes one task running one command, `model_name run pipeline NAME --only STEP`: the
step's job with the step's overrides (what `model_name run JOB --set ...` would run), and the
fingerprint check: a step whose fingerprint matches a finished run exits 0 at once (reused), so
an orchestrator's retry or re-run of the whole DAG redoes only what changed. The steps before it
must be reusable, which the DAG's order guarantees. Tasks share the tracking store
(`mlflow.tracking_uri`: a server, or a database every pod reaches) and the image's
`containers.yaml`.

This module is imported by the command line's parser: it imports nothing heavy at the top.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

FORMATS = ("argo", "airflow")


def add_pipeline_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    layers: argparse.ArgumentParser,
    load_configuration: Callable[[argparse.Namespace], Any],
) -> None:
    """Add `pipeline export` to the command line's parser."""
    pipeline = commands.add_parser("pipeline", help="export a pipeline to an orchestrator")
    pipeline_commands = pipeline.add_subparsers(title="commands", required=True, metavar="COMMAND")
    export = pipeline_commands.add_parser(
        "export",
        parents=[layers],
        help="print a pipeline as an Argo Workflow (YAML) or an Airflow DAG (Python)",
        description="Print a pipeline as an orchestrator's definition: one task a step, each "
        "running `model_name run pipeline NAME --only STEP` (reused steps exit 0 at once).",
    )
    export.add_argument("name", metavar="NAME", nargs="?", help="the pipeline (default: lifecycle)")
    export.add_argument("--format", choices=FORMATS, required=True, help="argo or airflow")
    export.add_argument(
        "--image", default="model_name:latest", help="Argo: the container image (model_name:latest)"
    )

    def command(args: argparse.Namespace) -> int:
        from model_name.pipelines.command import prepare

        name, steps, _ = prepare(load_configuration(args), args.name)
        names = [step.name for step in steps]
        if args.format == "argo":
            print(argo_workflow(name, names, args.image), end="")
        else:
            print(airflow_dag(name, names), end="")
        return 0

    export.set_defaults(command=command)


def step_command(pipeline: str, step: str) -> list[str]:
    """Return the command of one step's task."""
    return ["model_name", "run", "pipeline", pipeline, "--only", step]


def _dns_name(name: str) -> str:
    """Return a name Kubernetes and Argo accept (lower case, digits, dashes)."""
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "step"


def argo_workflow(pipeline: str, steps: list[str], image: str) -> str:
    """Return an Argo `Workflow` manifest: a DAG of the steps in order, one container each."""
    import yaml

    tasks = []
    for index, step in enumerate(steps):
        task: dict[str, Any] = {"name": _dns_name(step), "template": _dns_name(step)}
        if index:
            task["dependencies"] = [_dns_name(steps[index - 1])]
        tasks.append(task)
    templates: list[dict[str, Any]] = [{"name": "pipeline", "dag": {"tasks": tasks}}]
    templates += [
        {
            "name": _dns_name(step),
            "container": {"image": image, "command": step_command(pipeline, step)},
        }
        for step in steps
    ]
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"model-name-{_dns_name(pipeline)}-"},
        "spec": {"entrypoint": "pipeline", "templates": templates},
    }
    header = (
        f"# model_name pipeline {pipeline}: `model_name pipeline export {pipeline} --format argo`\n"
    )
    return header + yaml.safe_dump(manifest, sort_keys=False)


def airflow_dag(pipeline: str, steps: list[str]) -> str:
    """Return the source of an Airflow DAG file: one `BashOperator` a step, chained in order."""
    variables = [f"step_{index}" for index in range(len(steps))]
    lines = [
        f'"""model_name pipeline {pipeline}, as an Airflow DAG.',
        "",
        f"Made by `model_name pipeline export {pipeline} --format airflow`.",
        "",
        "Each task runs one step; a step whose inputs did not change exits 0 at once (reused).",
        '"""',
        "",
        "import pendulum",
        "from airflow import DAG",
        "from airflow.operators.bash import BashOperator",
        "",
        "with DAG(",
        f"    dag_id={('model_name_' + re.sub(r'[^A-Za-z0-9_]', '_', pipeline))!r},",
        "    schedule=None,",
        "    start_date=pendulum.datetime(2026, 1, 1, tz='UTC'),",
        "    catchup=False,",
        ") as dag:",
    ]
    for variable, step in zip(variables, steps, strict=True):
        command = " ".join(step_command(pipeline, step))
        lines.append(f"    {variable} = BashOperator(task_id={step!r}, bash_command={command!r})")
    if len(variables) > 1:
        lines.append("    " + " >> ".join(variables))
    return "\n".join(lines) + "\n"
