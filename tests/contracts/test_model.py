"""The contract model: declared in YAML, saved as JSON, read back the same."""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import pydantic as pdt
import pytest

from model_name.contracts import ColumnRule, Contract

DECLARED = """\
columns:
  bmi: {dtype: float, ge: -0.5, le: 0.5}
  sex: {dtype: str, isin: [f, m], nullable: true}
  target: {dtype: float}
min_rows: 10
target: target
"""


def test_a_contract_declared_in_yaml_round_trips_through_json_in_column_order() -> None:
    # given a contract as containers.yaml declares one
    contract = Contract.from_yaml(DECLARED)

    # when it is saved as JSON (with a model) and read back
    text = contract.to_json()
    again = Contract.from_json(text)

    # then nothing is lost, the columns keep their order, and YAML says it the same way
    assert again == contract
    assert list(json.loads(text)["columns"]) == ["bmi", "sex", "target"]
    assert json.loads(text)["columns"]["sex"] == {
        "dtype": "str",
        "nullable": True,
        "isin": ["f", "m"],
    }
    assert Contract.from_yaml(contract.to_yaml()) == contract


def test_the_features_of_a_contract_leave_its_target_out() -> None:
    contract = Contract.from_yaml(DECLARED)

    features = contract.features()

    assert list(features.columns) == ["bmi", "sex"]
    assert features.target is None and features.min_rows == 10


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"columns": {"x": {"ge": 2, "le": 1}}}, "ge (2) is above le (1)"),
        ({"columns": {"x": {}}, "target": "y"}, "target 'y' is not one of the columns: x"),
        ({"columns": {"x": {"dtype": "decimal"}}}, "Input should be 'float', 'int'"),
        ({"columns": {"x": {"rnage": 1}}}, "Extra inputs are not permitted"),
        ({"columns": {}}, "at least 1 item"),
    ],
)
def test_a_contract_that_cannot_hold_is_refused_saying_why(
    data: dict[str, Any], message: str
) -> None:
    with pytest.raises(pdt.ValidationError, match=re.escape(message)):
        Contract.model_validate(data)


def test_a_contract_from_a_table_keeps_its_columns_and_types_not_its_ranges() -> None:
    frame = pd.DataFrame(
        {"n": [1, 2], "x": [0.5, None], "s": ["a", "b"], "b": [True, False],
         "t": pd.to_datetime(["2026-01-01", "2026-01-02"])}
    )  # fmt: skip

    contract = Contract.from_frame(frame, target="x")

    assert contract.columns == {
        "n": ColumnRule(dtype="float"),
        "x": ColumnRule(dtype="float", nullable=True),
        "s": ColumnRule(dtype="str"),
        "b": ColumnRule(dtype="bool"),
        "t": ColumnRule(dtype="datetime"),
    }
    assert contract.target == "x"
