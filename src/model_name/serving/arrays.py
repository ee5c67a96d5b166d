"""The lean read of a request: a JSON body of plain numbers straight to a NumPy array.

For a model whose signature is all `double` columns, the common JSON bodies of MLflow's scoring
protocol (`dataframe_split`, `dataframe_records`, `instances` / `inputs` as rows or records) are
read into one `float64` array, its columns in the signature's order, without building a pandas
frame (which costs more than predicting a small model). `read_numbers` only takes the bodies it
can read without doubt: anything else (a boolean, a null, a string value, a missing column, a
ragged row, CSV, Parquet, another signature) returns `None` and goes the general way
(`payloads.parse` then `signature.conform`), which gives the same answer or the one-line error.
So the two ways never disagree: this one only ever accepts what the general one accepts.

Example:
    >>> columns = (Column("age", "double"), Column("bmi", "double"))
    >>> read_numbers(b'{"inputs": [[0.1, 2]]}', columns)
    array([[0.1, 2. ]])
    >>> read_numbers(b'{"dataframe_split": {"columns": ["bmi", "age"], "data": [[0.1, 2]]}}',
    ...              columns)
    array([[2. , 0.1]])
    >>> read_numbers(b'{"dataframe_records": [{"age": 1.0, "bmi": true}]}', columns) is None
    True
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from model_name.serving.signature import Column

if TYPE_CHECKING:
    import numpy as np

_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")

_DOUBTFUL = (b"true", b"false", b"null")
"""Tokens the general way checks value by value (booleans are refused, nulls are missing values):
a body holding one of them anywhere, even inside a string, goes the general way."""


def numeric(columns: tuple[Column, ...] | None) -> bool:
    """Say whether a signature is one the lean read serves: every column a `double`."""
    return bool(columns) and all(column.kind == "double" for column in columns or ())


def read_numbers(body: bytes, columns: tuple[Column, ...]) -> np.ndarray[Any, Any] | None:
    """Return a JSON body's rows as a `float64` array in the signature's order, or `None`.

    Args:
        body: the request's body, `application/json` in UTF-8.
        columns: the model's signature, every column a `double` (`numeric`).

    Returns:
        A 2-D array, one row a request row, one column a signature column; `None` when the body
        is not one this read takes without doubt (the general way then reads it, or refuses it).
    """
    if any(token in body for token in _DOUBTFUL):
        return None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    found = [key for key in _FORMATS if key in document]
    if len(found) != 1:
        return None
    names = [column.name for column in columns]
    try:
        return _rows(document[found[0]], found[0], names)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None  # ragged rows, a missing key, a string: the general way says which


def _rows(value: Any, key: str, names: list[str]) -> np.ndarray[Any, Any] | None:
    """The rows of one of the protocol's keys, in `names`' order, or `None`."""
    if key == "dataframe_split":
        if not isinstance(value, dict):
            return None
        return _table(value["data"], value.get("columns", names), names)
    if not isinstance(value, list) or not value:
        return None
    if isinstance(value[0], dict):  # records: [{"age": 0.1, ...}, ...], extra keys ignored
        return _numbers([[row[name] for name in names] for row in value])
    if key != "dataframe_records":  # instances / inputs: rows in the signature's order
        return _table(value, names, names)
    return None


def _table(rows: Any, given: Any, names: list[str]) -> np.ndarray[Any, Any] | None:
    """Rows of values named by `given`, reordered to `names` (extra columns dropped)."""
    if not isinstance(given, list) or len(set(given)) != len(given):
        return None
    array = _numbers(rows)
    if array is None or array.shape[1] != len(given):
        return None
    if given == names:
        return array
    return array[:, [given.index(name) for name in names]]  # ValueError: a missing column


def _numbers(rows: Any) -> np.ndarray[Any, Any] | None:
    """A non-empty 2-D array of numbers (ints and floats only), as `float64`, or `None`."""
    import numpy as np

    if not isinstance(rows, list) or not rows:
        return None
    array = np.array(rows)  # strings make a text array, mixed shapes raise: both refused
    if array.ndim != 2 or array.dtype.kind not in "fi":
        return None
    return array.astype(np.float64, copy=False)
