"""MLflow's scoring protocol read into the signature's table, and bad requests named in one line."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd
import pytest

from model_name.serving.payloads import Column, PayloadError, conform, parse

COLUMNS = (Column("age", "double"), Column("bmi", "double"), Column("visits", "long"))
EXPECTED = [{"age": 0.1, "bmi": 0.2, "visits": 3}, {"age": 0.4, "bmi": 0.5, "visits": 6}]
"""The two rows every format below encodes, as the model receives them."""


def read(body: bytes | str, content_type: str = "application/json") -> list[dict[str, Any]]:
    raw = body.encode() if isinstance(body, str) else body
    records: list[dict[str, Any]] = conform(parse(raw, content_type, COLUMNS), COLUMNS).to_dict(
        "records"
    )
    return records


def refused(body: bytes | str, content_type: str = "application/json") -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        read(body, content_type)
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    "document",
    [
        {"dataframe_split": {"columns": ["bmi", "age", "visits"], "data": [[0.2, 0.1, 3], [0.5, 0.4, 6]]}},
        {"dataframe_split": {"data": [[0.1, 0.2, 3], [0.4, 0.5, 6]]}},
        {"dataframe_records": [{"age": 0.1, "bmi": 0.2, "visits": 3}, {"age": 0.4, "bmi": 0.5, "visits": 6}]},
        {"instances": [{"age": 0.1, "bmi": 0.2, "visits": 3}, {"age": 0.4, "bmi": 0.5, "visits": 6}]},
        {"inputs": {"age": [0.1, 0.4], "bmi": [0.2, 0.5], "visits": [3, 6]}},
        {"inputs": [[0.1, 0.2, 3], [0.4, 0.5, 6]], "params": {}},
    ],
    ids=["split", "split-no-columns", "records", "instances", "inputs-columns", "inputs-rows"],
)  # fmt: skip
def test_every_json_format_of_mlflow_gives_the_same_rows(document: dict[str, Any]) -> None:
    assert read(json.dumps(document)) == EXPECTED


def test_csv_and_parquet_give_the_same_rows_and_extra_columns_are_dropped() -> None:
    csv = "visits,age,bmi,target\n3,0.1,0.2,151\n6,0.4,0.5,75\n"
    buffer = io.BytesIO()
    pd.DataFrame(EXPECTED).to_parquet(buffer)

    assert read(csv, "text/csv; charset=utf-8") == EXPECTED
    assert read(buffer.getvalue(), "application/vnd.apache.parquet") == EXPECTED


def test_one_record_as_an_object_is_one_row() -> None:
    assert read('{"inputs": {"age": 0.1, "bmi": 0.2, "visits": 3}}') == EXPECTED[:1]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ('{"dataframe_split": {"columns": ["age", "visits"], "data": [[0.1, 3]]}}',
         "missing column 'bmi': the model needs age, bmi, visits"),
        ('{"dataframe_records": [{"age": 0.1, "bmi": "high", "visits": 3}]}',
         "column 'bmi' must be a number: row 0 has 'high'"),
        ('{"dataframe_records": [{"age": 0.1, "bmi": 0.2, "visits": 3}, {"age": 0.1, "bmi": 0.2, "visits": 2.5}]}',
         "column 'visits' must be an integer: row 1 has 2.5"),
        ('{"dataframe_records": [{"age": true, "bmi": 0.2, "visits": 3}]}',
         "column 'age' must be a number: row 0 has True"),
        ("", "empty body"),
        ("{not json", "the body is not valid JSON"),
        ("[1, 2]", "must be an object with one of dataframe_split"),
        ('{"data": [[1]]}', "exactly one of dataframe_split, dataframe_records, instances, inputs"),
        ('{"dataframe_split": {"columns": ["age"], "data": [[1, 2]]}}',
         "dataframe_split.data row 0 has 2 values for 1 columns"),
        ('{"dataframe_records": []}', "the request has no rows"),
        ('{"inputs": [[0.1, 0.2]]}', "inputs row 0 has 2 values for 3 columns"),
    ],
)  # fmt: skip
def test_a_bad_request_is_refused_with_one_line_saying_what_and_where(body: str, says: str) -> None:
    error = refused(body)

    assert says in str(error)
    assert error.status == 400


def test_an_unsupported_content_type_is_415() -> None:
    error = refused("age\n1\n", "text/plain")

    assert error.status == 415
    assert "unsupported content type 'text/plain'" in str(error)


def test_a_table_for_a_model_without_signature_is_passed_as_sent() -> None:
    frame = conform(parse(b'{"inputs": [{"x": "a"}]}', None, None), None)

    assert frame.to_dict("records") == [{"x": "a"}]
