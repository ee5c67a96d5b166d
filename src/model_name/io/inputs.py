"""The tables a job reads, checked before anything starts: the file, its format, its columns.

A job marks each table it reads with `datasets.TableInput` on the field. Before the job's
services start (`model_name run`, and `--dry-run` too) `check_inputs` makes sure each given file
exists, is a readable file with a table suffix, and, from the CSV header or the Parquet footer
alone (never the rows), that it holds the columns the job's settings name (`target`). A problem is
a `ConfigurationError`: exit 2, one line naming the key, where it was set, the file and the
columns; no run is opened and nothing is written.

When the job's settings hold a data contract (`TableInput(contract="contract")`), the header or
footer is also checked against it (`contracts.check_schema`: its columns, the Parquet types, the
footer's row count): a violation is a `ContractViolation`, exit 1, before any run is opened.

Example:
    check_inputs(TrainingJob, {"inputs": "data.csv", "target": "y"}, "jobs.training", origin)
    # ConfigurationError: jobs.training.target (from --set jobs.training.target): column 'y'
    # is not in data.csv; its columns: age, bmi, bp, target
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pydantic as pdt

from model_name.contracts import Contract, check_schema
from model_name.errors import ConfigurationError
from model_name.io.datasets import TABLE_SUFFIXES, TableInput

COLUMNS_SHOWN = 20
"""At most this many of a table's columns are listed in an error."""


def table_inputs(job: type[pdt.BaseModel]) -> dict[str, TableInput]:
    """Return the job's fields marked as tables it reads, with what each must hold."""
    return {
        name: marker
        for name, field in job.model_fields.items()
        for marker in field.metadata
        if isinstance(marker, TableInput)
    }


def check_inputs(
    job: type[pdt.BaseModel],
    params: Mapping[str, Any],
    prefix: str,
    origin: Callable[[str], str],
) -> None:
    """Check every table the job reads, from its header or footer only.

    Args:
        job: the job's class.
        params: the job's validated settings.
        prefix: the job's section, `jobs.<kind>`.
        origin: where a dotted key's value came from (`Configuration.origin`).

    Raises:
        ConfigurationError: a file is missing, unreadable, not a table, or lacks a column.
    """
    for name, marker in table_inputs(job).items():
        if params.get(name) is None:
            continue
        path = Path(params[name])
        key = f"{prefix}.{name}"
        problem = _file_problem(path)
        if problem is not None:
            raise ConfigurationError(f"{key} (from {origin(key)}): {problem}")
        try:
            columns = read_columns(path)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise ConfigurationError(
                f"{key} (from {origin(key)}): cannot read the columns of {path}: {error}"
            ) from None
        for field in marker.columns:
            column = params.get(field)
            if column is not None and column not in columns:
                where = f"{prefix}.{field}"
                raise ConfigurationError(
                    f"{where} (from {origin(where)}): column {column!r} is not in {path} "
                    f"({key}); its columns: {_listed(columns)}"
                )
        contract = params.get(marker.contract) if marker.contract else None
        if contract is not None:
            typed, rows = read_schema(path)
            check_schema(typed, Contract.model_validate(contract), str(path), rows)


def read_columns(path: Path) -> list[str]:
    """Return a table's column names: a CSV's first line, or a Parquet file's schema (footer).

    Raises:
        ValueError: the file is not a CSV or Parquet table (empty, or a bad footer).
        OSError: the file cannot be read.
    """
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8-sig") as file:
            header = next(csv.reader(file), None)
        if not header:
            raise ValueError("the file is empty: a CSV table starts with a header line")
        return header
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    try:
        return list(pq.read_schema(path).names)
    except pa.ArrowInvalid as error:
        raise ValueError(f"not a Parquet file ({error})") from None


def read_schema(path: Path) -> tuple[dict[str, str | None], int | None]:
    """Return a table's columns with their Parquet types, and its rows, from its footer alone.

    A CSV's header names its columns, not their types nor its rows: `None` for those.

    Raises:
        ValueError: the file is not a CSV or Parquet table (empty, or a bad footer).
        OSError: the file cannot be read.
    """
    if path.suffix.lower() == ".csv":
        return dict.fromkeys(read_columns(path)), None
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    try:
        metadata = pq.read_metadata(path)
    except pa.ArrowInvalid as error:
        raise ValueError(f"not a Parquet file ({error})") from None
    fields = metadata.schema.to_arrow_schema()
    return {field.name: str(field.type) for field in fields}, metadata.num_rows


def _file_problem(path: Path) -> str | None:
    if path.suffix.lower() not in TABLE_SUFFIXES:
        return f"{path} must end with one of {', '.join(TABLE_SUFFIXES)} (got '{path.suffix}')"
    if not path.exists():
        return f"input file {path} does not exist (the current folder is {Path.cwd()})"
    if path.is_dir():
        return f"input file {path} is a directory"
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        return f"cannot read input file {path}: {error.strerror or error}"
    return None


def _listed(columns: list[str]) -> str:
    shown = ", ".join(columns[:COLUMNS_SHOWN])
    more = len(columns) - COLUMNS_SHOWN
    return f"{shown} (and {more} more)" if more > 0 else shown or "none"
