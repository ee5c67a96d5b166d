"""The lean read: JSON bodies of plain numbers to an array in the signature's order, or not at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_name.serving.arrays import numeric, read_numbers
from model_name.serving.signature import Column

COLUMNS = (Column("age", "double"), Column("bmi", "double"), Column("bp", "double"))
"""A signature of three numbers, in this order."""

IN_ORDER = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
"""The two rows every body below carries, in the signature's order."""


@pytest.mark.parametrize(
    "document",
    [
        {"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": IN_ORDER}},
        {"dataframe_split": {"columns": ["bp", "age", "bmi"], "data": [[3, 1, 2], [6, 4, 5]]}},
        {"dataframe_split": {"columns": ["id", "age", "bmi", "bp"],
                             "data": [[9, 1, 2, 3], [9, 4, 5, 6]]}},
        {"dataframe_split": {"data": IN_ORDER}},
        {"dataframe_records": [{"bmi": 2, "age": 1, "bp": 3}, {"age": 4, "bmi": 5, "bp": 6}]},
        {"instances": IN_ORDER},
        {"inputs": [{"age": 1, "bmi": 2, "bp": 3, "id": "x"}, {"age": 4, "bmi": 5, "bp": 6}],
         "params": {}},
    ],
    ids=["split", "split-reordered", "split-extra-column", "split-unnamed", "records", "instances",
         "inputs-records-with-params"],
)  # fmt: skip
def test_numbers_in_any_of_the_protocols_shapes_come_out_in_the_signatures_order(
    document: dict[str, object],
) -> None:
    array = read_numbers(json.dumps(document).encode(), COLUMNS)

    assert array is not None
    assert array.dtype == np.float64
    assert array.tolist() == IN_ORDER


@pytest.mark.parametrize(
    "document",
    [
        {"dataframe_split": {"columns": ["age", "bmi"], "data": [[1, 2]]}},
        {"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": [[1, "2", 3]]}},
        {"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": [[1, True, 3]]}},
        {"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": [[1, None, 3]]}},
        {"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": [[1, 2, 3], [1, 2]]}},
        {"dataframe_split": {"columns": ["age", "bmi", "bp"], "data": []}},
        {"dataframe_records": [{"age": 1, "bmi": 2}]},
        {"instances": {"age": [1], "bmi": [2], "bp": [3]}},
        {"instances": IN_ORDER, "inputs": IN_ORDER},
        [IN_ORDER],
    ],
    ids=["missing-column", "string", "boolean", "null", "ragged", "no-rows", "record-missing-key",
         "columnar", "two-keys", "not-an-object"],
)  # fmt: skip
def test_anything_in_doubt_is_left_to_the_general_read(document: object) -> None:
    assert read_numbers(json.dumps(document).encode(), COLUMNS) is None


def test_a_body_that_is_not_json_is_left_to_the_general_read() -> None:
    assert read_numbers(b"age,bmi,bp\n1,2,3\n", COLUMNS) is None
    assert read_numbers(b"", COLUMNS) is None


def test_only_signatures_of_numbers_take_the_lean_read() -> None:
    assert numeric(COLUMNS)
    assert not numeric((Column("age", "double"), Column("visits", "long")))
    assert not numeric((Column("name", "string"),))
    assert not numeric(None)
