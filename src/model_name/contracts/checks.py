"""Checking a table against its contract: column by column with pandera, one line per failure.

`check_frame` validates a frame (the whole table, or one batch of a bigger file whose first row
in the file is `first_row`): each column on its own (`pandera.SeriesSchema`, lazily, on the
column's own array: the frame is never copied whole), so memory stays bounded by one column of
one batch. A failure raises `ContractViolation`, whose message is one line naming the file, the
column, the check, how many rows fail and the first rows with their values:

    data.csv: column 'bmi' fails less_than_or_equal_to(0.5) in 2 of 442 rows: lines 9 (1.7), 30 (2)

Rows are numbered as the file shows them: a CSV's lines (the header is line 1), the rows of any
other table from 1. The report (`ContractViolation.report`, JSON-able) holds every failure, with
`rows` counted from 0 in the file (`first_row` + the position in the frame).

`check_schema` checks what a CSV header or a Parquet footer already says: missing columns, Parquet
types the contract's cannot take, and too few rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from model_name.contracts.model import ColumnRule, Contract
from model_name.errors import ContractViolation

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

ROWS_SHOWN = 5
"""At most this many failing rows (and their values) are kept for each failed check."""

KINDS = {"float": "iuf", "int": "iu", "bool": "b", "str": "OSU", "datetime": "M"}
"""The numpy kinds of the pandas columns each contract type takes."""

ARROW_TYPES = {
    "float": r"u?int\d+|halffloat|float|double|decimal\d*\(.*",
    "int": r"u?int\d+",
    "bool": r"bool",
    "str": r"(large_)?(string|utf8)|string_view",
    "datetime": r"timestamp\[.*|date(32|64).*",
}
"""The Parquet (Arrow) types each contract type takes; other types (`null`, `dictionary<...>`)
are left for the rows to say."""


def check_frame(
    frame: pd.DataFrame,
    contract: Contract,
    source: str,
    first_row: int = 0,
    *,
    complete: bool = True,
) -> None:
    """Check a frame against a contract; raise `ContractViolation` naming what fails.

    Args:
        frame: the table, or one batch of it.
        contract: what it must hold; columns beyond the contract's are not checked.
        source: where it was read from (a file name), named in the message.
        first_row: the row of the file the frame starts at (0 for a whole table).
        complete: the frame is the whole table: `min_rows` is checked (a batch: it is not).

    Raises:
        ContractViolation: a column is missing, has the wrong type, a missing value it may not
            have, or values out of its range or set; or the table has too few rows.
    """
    report = frame_report(frame, contract, source, first_row, complete=complete)
    if report["failures"]:
        raise ContractViolation(summary(report), report)


def frame_report(
    frame: pd.DataFrame,
    contract: Contract,
    source: str,
    first_row: int = 0,
    *,
    complete: bool = True,
) -> dict[str, Any]:
    """Return the report of a frame's check (`check_frame`), empty `failures` when it passes."""
    failures: list[dict[str, Any]] = []
    for name, rule in contract.columns.items():
        if name not in frame.columns:
            failures.append(_failure(name, "column_in_dataframe", len(frame), [], []))
            continue
        failures += _column_failures(frame[name], name, rule)
    if complete and contract.min_rows is not None and len(frame) < contract.min_rows:
        failures.append(rows_failure(len(frame), contract.min_rows))
    for failure in failures:
        failure["rows"] = [first_row + position for position in failure["rows"]]
    return {"source": source, "first_row": first_row, "rows": len(frame), "failures": failures}


def check_schema(
    columns_with_types: Mapping[str, str | None],
    contract: Contract,
    source: str,
    rows: int | None = None,
) -> None:
    """Check what a table's header or footer says: its columns, their types, its rows.

    Args:
        columns_with_types: each column of the table and its Parquet (Arrow) type, or `None`
            where the file does not say (a CSV header).
        contract: what the table must hold.
        source: the file, named in the message.
        rows: the table's number of rows, when known (a Parquet footer).

    Raises:
        ContractViolation: a contract column is missing, its type cannot hold the contract's, or
            the table has fewer rows than `min_rows`.
    """
    failures: list[dict[str, Any]] = []
    for name, rule in contract.columns.items():
        if name not in columns_with_types:
            failures.append(_failure(name, "column_in_dataframe", rows or 0, [], []))
            continue
        found = columns_with_types[name]
        if found is None or found == "null" or found.startswith("dictionary"):
            continue
        if not re.fullmatch(ARROW_TYPES[rule.dtype], found):
            failure = _failure(name, f"dtype('{rule.dtype}')", rows or 0, [], [])
            failure["found"] = found
            failures.append(failure)
    if rows is not None and contract.min_rows is not None and rows < contract.min_rows:
        failures.append(rows_failure(rows, contract.min_rows))
    report = {"source": source, "first_row": 0, "rows": rows, "failures": failures}
    if failures:
        report["columns"] = list(columns_with_types)
        raise ContractViolation(summary(report), report)


def merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Return one report for the batches of one file: counts added, the first rows kept."""
    merged: dict[tuple[Any, str], dict[str, Any]] = {}
    for report in reports:
        for failure in report["failures"]:
            key = (failure["column"], failure["check"])
            if key not in merged:
                merged[key] = {**failure, "rows": list(failure["rows"])}
                merged[key]["values"] = list(failure["values"])
                continue
            kept = merged[key]
            kept["count"] += failure["count"]
            room = ROWS_SHOWN - len(kept["rows"])
            kept["rows"] += failure["rows"][:room]
            kept["values"] += failure["values"][:room]
    return {
        "source": reports[0]["source"] if reports else "the table",
        "first_row": 0,
        "rows": sum(report["rows"] or 0 for report in reports),
        "failures": list(merged.values()),
    }


def summary(report: dict[str, Any]) -> str:
    """Return the one line saying what failed first, and how many other checks failed."""
    failures = report["failures"]
    line = describe(failures[0], report)
    if len(failures) > 1:
        others = ", ".join(_short(failure) for failure in failures[1:4])
        more = ", ..." if len(failures) > 4 else ""
        line += f" (and {len(failures) - 1} more failed check(s): {others}{more})"
    return line


def describe(failure: dict[str, Any], report: dict[str, Any]) -> str:
    """Return one failed check as a line: the file, the column, the check, the count, the rows."""
    source, check, count = report["source"], failure["check"], failure["count"]
    column = failure["column"]
    if column is None:
        return f"{source}: {failure['detail']}"
    if check == "column_in_dataframe":
        its = report.get("columns")
        listed = f"; its columns: {', '.join(map(str, its[:20]))}" if its else ""
        return f"{source}: column {column!r} is missing (the contract requires it){listed}"
    if "found" in failure:
        return f"{source}: column {column!r} is {failure['found']}, the contract says {check}"
    total = report["rows"]
    csv = source.lower().endswith(".csv")
    word = ("line" if csv else "row") + ("s" if len(failure["rows"]) > 1 else "")
    shown = [
        # a CSV's lines (the header is line 1), any other table's rows from 1
        f"{row + (2 if csv else 1)}" + (f" ({value!r})" if check != "not_nullable" else "")
        for row, value in zip(failure["rows"], failure["values"], strict=True)
    ]
    rows = f"{word} {', '.join(shown)}"
    more = ", ..." if count > len(failure["rows"]) else ""
    what = {
        "not_nullable": f"has {count} missing value{'s' if count > 1 else ''} in {total} rows",
    }.get(check, f"fails {check} in {count} of {total} rows")
    return f"{source}: column {column!r} {what}: {rows}{more}"


def _short(failure: dict[str, Any]) -> str:
    column = failure["column"]
    return failure["check"] if column is None else f"{column!r} {failure['check']}"


def _failure(
    column: str | None, check: str, count: int, rows: list[int], values: list[Any]
) -> dict[str, Any]:
    return {"column": column, "check": check, "count": count, "rows": rows, "values": values}


def rows_failure(rows: int, minimum: int) -> dict[str, Any]:
    """Return the failure of a table with fewer rows than the contract's `min_rows`."""
    failure = _failure(None, f"min_rows({minimum})", 1, [], [])
    failure["detail"] = f"has {rows} rows, fewer than the contract's min_rows {minimum}"
    return failure


def _column_failures(column: pd.Series[Any], name: str, rule: ColumnRule) -> list[dict[str, Any]]:
    """Check one column: its type, then its nulls and values with pandera."""
    import numpy as np
    import pandas as pd

    values = column.to_numpy(copy=False)  # positions as labels: no copy of a numeric column
    failures = []
    bad = np.empty(0, dtype="int64")
    if column.dtype.kind not in KINDS[rule.dtype]:
        check = f"dtype('{rule.dtype}')"
        if rule.dtype in ("float", "int") and column.dtype.kind == "O":
            numbers = pd.to_numeric(column, errors="coerce").to_numpy()  # text among numbers
            bad = np.flatnonzero(pd.isna(numbers) & ~pd.isna(values))
            if len(bad):
                failures.append(_failure(name, check, len(bad), *_shown(bad, values)))
            values = numbers
        else:
            failure = _failure(name, check, len(column), [], [])
            failure["found"] = str(column.dtype)
            return [failure]
    series = pd.Series(values, name=name, copy=False)
    return failures + _pandera_failures(series, name, rule, bad)


def _pandera_failures(
    series: pd.Series[Any], name: str, rule: ColumnRule, counted: Any
) -> list[dict[str, Any]]:
    """Run pandera's checks on one column; rows in `counted` (text among numbers) are left out."""
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

    checks = []
    if rule.ge is not None:
        checks.append(pa.Check.ge(rule.ge))
    if rule.le is not None:
        checks.append(pa.Check.le(rule.le))
    if rule.isin is not None:
        checks.append(pa.Check.isin(rule.isin))
    schema = pa.SeriesSchema(None, checks=checks, nullable=rule.nullable, name=name)
    try:
        schema.validate(series, lazy=True, inplace=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return []
    failures = []
    cases = cases[~cases["index"].isin(counted)] if len(counted) else cases
    for check, group in cases.groupby("check", sort=False):
        positions = group["index"].dropna().astype("int64").to_numpy()
        order = positions.argsort(kind="stable")[:ROWS_SHOWN]
        rows = [int(position) for position in positions[order]]
        shown = [_plain(value) for value in group["failure_case"].to_numpy()[order]]
        failures.append(_failure(name, str(check), len(group), rows, shown))
    return failures


def _shown(positions: Any, values: Any) -> tuple[list[int], list[Any]]:
    first = positions[:ROWS_SHOWN]
    return [int(position) for position in first], [_plain(values[i]) for i in first]


def _plain(value: Any) -> Any:
    """A value as JSON holds it: a Python number or text, NaN as None, a timestamp as text."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)
