"""Checking a table against its contract: what a violation says, and what its report holds."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from model_name.contracts import Contract, check_frame, check_schema
from model_name.errors import ContractViolation, JobError, exit_code
from model_name.io import datasets
from model_name.io.inputs import read_schema
from tests.contracts.conftest import CONTRACT_YAML, FEATURES, diabetes_table


def training_contract() -> Contract:
    """The contract containers.yaml declares for the diabetes set (the README's)."""
    import yaml

    return Contract.model_validate(yaml.safe_load(CONTRACT_YAML)["jobs"]["training"]["contract"])


def violation(
    frame: pd.DataFrame, contract: Contract, source: str, first_row: int = 0
) -> ContractViolation:
    with pytest.raises(ContractViolation) as caught:
        check_frame(frame, contract, source, first_row)
    return caught.value


def test_a_value_out_of_range_is_named_by_file_column_check_count_rows_and_values(
    tmp_path: Path,
) -> None:
    # given a CSV whose bmi is out of range on two rows (the file's lines 9 and 22)
    path = diabetes_table(tmp_path / "data.csv", bmi=([7, 20], 1.7))
    frame = datasets.read_table(path)

    # when it is checked against the training contract
    error = violation(frame, training_contract(), str(path))

    # then one line names the file, the column, the check, the count, the lines and values
    assert str(error) == (
        f"{path}: column 'bmi' fails less_than_or_equal_to(0.5) in 2 of 100 rows: "
        "lines 9 (1.7), 22 (1.7)"
    )
    assert "\n" not in str(error)
    # and the report holds the same, rows counted from 0 in the file
    assert error.report["source"] == str(path)
    assert error.report["failures"] == [
        {"column": "bmi", "check": "less_than_or_equal_to(0.5)", "count": 2, "rows": [7, 20], "values": [1.7, 1.7]}
    ]  # fmt: skip
    # and it is a job's failure: exit code 1
    assert isinstance(error, JobError) and exit_code(error) == 1


def test_a_batch_names_the_rows_of_the_file_not_of_the_batch() -> None:
    # given the third batch of 100 rows of a Parquet file, bad on its rows 4 and 5
    batch = datasets.load_sample().head(100).reset_index(drop=True)
    batch.loc[[4, 5], "s1"] = -2.0

    # when it is checked as the rows from 200
    error = violation(batch, training_contract(), "big.parquet", first_row=200)

    # then the rows are the file's (204 and 205 from 0: rows 205 and 206 counted from 1)
    assert str(error).endswith(
        "fails greater_than_or_equal_to(-0.5) in 2 of 100 rows: rows 205 (-2.0), 206 (-2.0)"
    )
    assert error.report["failures"][0]["rows"] == [204, 205]


def test_every_failed_check_is_in_the_report_and_the_line_counts_the_others(
    tmp_path: Path,
) -> None:
    # given a table with a missing value, a word among numbers, and no column s6
    path = diabetes_table(tmp_path / "data.csv", age=([3], np.nan), bp=([10], "n/a?"))
    frame = datasets.read_table(path).drop(columns=["s6"])

    error = violation(frame, training_contract(), str(path))

    assert str(error) == (
        f"{path}: column 'age' has 1 missing value in 100 rows: line 5 "
        "(and 2 more failed check(s): 'bp' dtype('float'), 's6' column_in_dataframe)"
    )
    failures = {(f["column"], f["check"]): f for f in error.report["failures"]}
    assert failures["age", "not_nullable"]["rows"] == [3]
    assert failures["bp", "dtype('float')"] | {} == {
        "column": "bp", "check": "dtype('float')", "count": 1, "rows": [10], "values": ["n/a?"]
    }  # fmt: skip
    assert failures["s6", "column_in_dataframe"]["count"] == 100


def test_more_failing_rows_than_shown_end_with_an_ellipsis_and_keep_the_count() -> None:
    frame = pd.DataFrame({"x": [float(value) for value in range(20)]})
    contract = Contract.model_validate({"columns": {"x": {"le": 3}}})

    error = violation(frame, contract, "t.parquet")

    assert str(error) == (
        "t.parquet: column 'x' fails less_than_or_equal_to(3.0) in 16 of 20 rows: "
        "rows 5 (4.0), 6 (5.0), 7 (6.0), 8 (7.0), 9 (8.0), ..."
    )
    assert error.report["failures"][0]["count"] == 16


def test_allowed_values_types_and_extra_columns() -> None:
    # given a contract on two columns and a table with a third one
    contract = Contract.model_validate(
        {"columns": {"sex": {"dtype": "str", "isin": ["f", "m"]}, "n": {"dtype": "int"}}}
    )
    frame = pd.DataFrame({"sex": ["f", "x", "m"], "n": [1.5, 2.0, 3.0], "id": ["a", "b", "c"]})

    error = violation(frame, contract, "t.parquet")

    # then the value not allowed is named, the float column refused as a whole, the id ignored
    assert str(error).startswith(
        "t.parquet: column 'sex' fails isin(['f', 'm']) in 1 of 3 rows: row 2 ('x')"
    )
    assert [(f["column"], f["check"], f.get("found")) for f in error.report["failures"]] == [
        ("sex", "isin(['f', 'm'])", None),
        ("n", "dtype('int')", "float64"),
    ]


def test_a_table_that_keeps_its_contract_passes_whole_or_in_batches() -> None:
    frame = datasets.load_sample()

    check_frame(frame, training_contract(), "diabetes")
    check_frame(
        frame.iloc[100:200].reset_index(drop=True), training_contract(), "d", 100, complete=False
    )


def test_too_few_rows_fail_a_whole_table_not_a_batch() -> None:
    contract = Contract.model_validate({"columns": {"x": {}}, "min_rows": 5})
    frame = pd.DataFrame({"x": [1.0, 2.0]})

    check_frame(frame, contract, "t.csv", 10, complete=False)
    error = violation(frame, contract, "t.csv")

    assert str(error) == "t.csv: has 2 rows, fewer than the contract's min_rows 5"


def test_a_parquet_footer_says_missing_columns_wrong_types_and_too_few_rows(tmp_path: Path) -> None:
    # given a Parquet file without bmi, with s1 as text, of 30 rows
    path = tmp_path / "data.parquet"
    frame = datasets.load_sample().head(30).drop(columns=["bmi"])
    frame.astype({"s1": str}).to_parquet(path)
    contract = training_contract().model_copy(update={"min_rows": 50})

    # when its footer alone is checked
    columns, rows = _typed(path)
    with pytest.raises(ContractViolation) as caught:
        check_schema(columns, contract, str(path), rows)

    # then each problem is a failed check, the first in the line
    assert str(caught.value).startswith(
        f"{path}: column 'bmi' is missing (the contract requires it); its columns: age, sex, bp, s1,"
    )
    failures = caught.value.report["failures"]
    assert [(f["column"], f["check"], f.get("found")) for f in failures] == [
        ("bmi", "column_in_dataframe", None),
        ("s1", "dtype('float')", "large_string"),
        (None, "min_rows(50)", None),
    ]


def test_a_csv_header_says_only_its_missing_columns(tmp_path: Path) -> None:
    path = diabetes_table(tmp_path / "data.csv", rows=3)
    columns, rows = read_schema(path)

    check_schema(columns, training_contract(), str(path), rows)
    with pytest.raises(ContractViolation, match=re.escape("column 'extra' is missing")):
        check_schema(columns, Contract.model_validate({"columns": {"extra": {}}}), str(path))


def test_a_violation_keeps_its_report_across_processes() -> None:
    error = violation(
        pd.DataFrame({"x": [9.0]}), Contract.model_validate({"columns": {"x": {"le": 1}}}), "t.csv"
    )

    again = pickle.loads(pickle.dumps(error))

    assert str(again) == str(error) and again.report == error.report


def _typed(path: Path) -> tuple[dict[str, str | None], int | None]:
    columns, rows = read_schema(path)
    assert set(FEATURES) - {"bmi"} <= set(columns)
    return columns, rows
