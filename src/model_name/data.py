"""The `data` commands: check a table against a contract without running any job.

    model_name data check FILE (--job JOB | --model NAME[:VERSION|@ALIAS]) [--report FILE]
                          [--batch-rows N] [--config FILE]... [--set KEY=VALUE]...

The contract is the job's: the training job's is declared in its section (`contract`); the jobs
that use a model version (evaluation, inference, explanations, serve) check against the
contract that version was trained with, the version they would pick (`alias`, `version`), as
`--model` does for any version. Tables a model predicts for are checked without the target
column; an evaluation table, or a file that has the target, with it.

The header or footer is checked first (`contracts.check_schema`), then the rows in batches
(`batches.sources.read_batches`: memory bounded whatever the file's size). Exit 0 with one summary
line; exit 1 with one line per failed check on standard output and the error line; exit 2 when
there is no contract to check against (a job without one, a version saved without one).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_name.errors import EXIT_OK, ContractViolation, UsageError

if TYPE_CHECKING:
    from model_name.configuration import Configuration
    from model_name.contracts import Contract

MODEL_JOBS = ("evaluation", "inference", "explanations", "serve")
"""The jobs that check their tables against the contract of the model version they use."""

WITH_TARGET = ("evaluation",)
"""The jobs whose tables hold the target column, checked with the contract's rule."""

_MODEL_SPEC = re.compile(r"^(?P<name>[^:@]+)(?::(?P<version>\d+)|@(?P<alias>[\w\-]+))?$")


def add_data_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    layers: argparse.ArgumentParser,
    load_configuration: Callable[[argparse.Namespace], Configuration],
) -> None:
    """Add `data check` to the command line's parser.

    Args:
        commands: the top-level subparsers.
        layers: the parent parser with `--config` and `--set`.
        load_configuration: returns the validated configuration from the parsed arguments.
    """
    data = commands.add_parser("data", help="check tables against their data contracts")
    data_commands = data.add_subparsers(title="commands", required=True, metavar="COMMAND")
    check = data_commands.add_parser(
        "check",
        parents=[layers],
        help="check a CSV or Parquet file against a job's or a model's contract",
        description="Check a table against a data contract without running the job: the "
        "header or footer, then every row in batches. Exit 0 if it passes, 1 if not.",
    )
    check.add_argument("file", metavar="FILE", type=Path, help="the CSV or Parquet file")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--job",
        metavar="JOB",
        help="the contract of this job (training: its own; evaluation, inference, "
        "explanations, serve: the one of the model version it would use)",
    )
    source.add_argument(
        "--model",
        metavar="NAME[:VERSION|@ALIAS]",
        help="the contract a registered model version was trained with (default: the latest)",
    )
    check.add_argument("--report", metavar="FILE", type=Path, help="write the report as JSON")
    check.add_argument(
        "--batch-rows",
        metavar="N",
        type=int,
        default=500_000,
        help="rows checked at a time (default: 500000)",
    )
    check.set_defaults(command=lambda args: check_command(args, load_configuration(args)))


def check_command(args: argparse.Namespace, configuration: Configuration) -> int:
    """Check a file against the contract `--job` or `--model` names; print what fails.

    Raises:
        UsageError: a bad file, job or model spec, or no contract to check against.
        ContractViolation: the file breaks the contract (after its lines are printed).
    """
    from model_name.io.datasets import check_table_path

    path: Path = args.file
    try:
        check_table_path(path)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not path.is_file():
        raise UsageError(f"{path} is not a file (the current folder is {Path.cwd()})")
    if args.batch_rows < 1:
        raise UsageError(f"--batch-rows must be at least 1, not {args.batch_rows}")
    columns = _columns(path)
    contract, against = _contract(args, configuration, columns)
    report = check_file(path, contract, args.batch_rows)
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    if report["failures"]:
        from model_name.contracts.checks import describe

        for failure in report["failures"]:
            print(describe(failure, report))
        count = len(report["failures"])
        raise ContractViolation(
            f"{path} breaks the contract of {against}: {count} failed check(s)", report
        )
    print(
        f"{path}: {report['rows']} rows pass the contract of {against} "
        f"({len(contract.columns)} columns checked)"
    )
    return EXIT_OK


def check_file(path: Path, contract: Contract, batch_rows: int = 500_000) -> dict[str, Any]:
    """Return the report of a whole file's check: its header or footer, then its rows in batches.

    The header's failures (a missing column, an incompatible Parquet type) are the report when
    there are some: the rows are not read.
    """
    from model_name.batches.sources import read_batches
    from model_name.contracts.checks import frame_report, merge, rows_failure
    from model_name.io.inputs import read_schema

    typed, rows = read_schema(path)
    try:
        from model_name.contracts import check_schema

        check_schema(typed, contract, str(path), rows)
    except ContractViolation as violation:
        return violation.report
    reports = [
        frame_report(batch, contract, str(path), first_row, complete=False)
        for first_row, batch in read_batches(path, batch_rows)
    ]
    report: dict[str, Any] = (
        merge(reports)
        if reports
        else {"source": str(path), "first_row": 0, "rows": 0, "failures": []}
    )
    if contract.min_rows is not None and report["rows"] < contract.min_rows:
        report["failures"].append(rows_failure(report["rows"], contract.min_rows))
    return report


def _columns(path: Path) -> list[str]:
    from model_name.io.inputs import read_columns

    try:
        return read_columns(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UsageError(f"cannot read the columns of {path}: {error}") from None


def _contract(
    args: argparse.Namespace, configuration: Configuration, columns: list[str]
) -> tuple[Contract, str]:
    """Return the contract to check against, and how to name it."""
    from model_name.contracts import Contract

    if args.model is not None:
        match = _MODEL_SPEC.match(args.model)
        if match is None:
            raise UsageError(f"--model {args.model!r}: expected NAME, NAME:VERSION or NAME@ALIAS")
        version = int(match["version"]) if match["version"] else None
        contract, named = _model_contract(configuration, match["name"], match["alias"], version)
        with_target = contract.target is not None and contract.target in columns
        return (contract if with_target else contract.features()), named
    kind = args.job
    sections = configuration.settings.jobs
    if kind not in sections:
        raise UsageError(f"unknown job {kind!r} (jobs: {', '.join(sections)})")
    section = sections[kind]
    if "contract" in section:
        if section["contract"] is None:
            key = f"jobs.{kind}.contract"
            raise UsageError(f"{key} is null (from {configuration.origin(key)}): nothing to check")
        return Contract.model_validate(section["contract"]), f"jobs.{kind}.contract"
    if kind not in MODEL_JOBS:
        raise UsageError(f"job {kind!r} reads no table with a contract")
    name = configuration.settings.mlflow.registry_name
    contract, named = _model_contract(
        configuration, name, section.get("alias"), section.get("version")
    )
    return (contract if kind in WITH_TARGET else contract.features()), f"job {kind}: {named}"


def _model_contract(
    configuration: Configuration, name: str, alias: str | None, version: int | None
) -> tuple[Contract, str]:
    import os

    from model_name.contracts import contract_of_model
    from model_name.io import registries
    from model_name.runs import tracking_service

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one command's output
    with tracking_service(configuration.settings.mlflow) as service:
        client = service.client()
        found = registries.resolve_wanted(client, name, alias, version, "check against")
        contract = contract_of_model(client, name, found.version)
    named = f"version {found.version} of model '{name}'"
    if contract is None:
        raise UsageError(f"{named} was saved without a contract (trained before contracts)")
    return contract, named
