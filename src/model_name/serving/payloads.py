"""Requests of MLflow's scoring protocol read into the table a model's signature asks for.

The same bodies as `mlflow models serve` accepts, so existing clients work unchanged:

- `application/json`: an object with exactly one of `dataframe_split` (`{"columns": [...],
  "data": [[...], ...]}`), `dataframe_records` (`[{"col": value, ...}, ...]`), `instances` or
  `inputs` (records, a mapping of column to values, or rows of values in the signature's order);
  a `params` key is accepted and ignored (the project's models take none);
- `text/csv`: a table with a header line;
- `application/vnd.apache.parquet`: a Parquet table.

Anything else is refused with a `PayloadError`: its message is the one line the client gets, and
names the column and why (`column 'bmi' must be a number: row 2 has 'abc'`). Checking here, before
the model, is what lets the server answer 400 rather than a model's traceback.

Example:
    >>> columns = (Column("age", "double"), Column("bmi", "double"))
    >>> body = b'{"dataframe_split": {"columns": ["bmi", "age"], "data": [[0.1, 0.2]]}}'
    >>> conform(parse(body, "application/json", columns), columns).to_dict("records")
    [{'age': 0.2, 'bmi': 0.1}]
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from model_name.serving.signature import Column, PayloadError, conform

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = ["CONTENT_TYPES", "FORMATS", "Column", "PayloadError", "conform", "parse"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
"""The JSON keys of MLflow's scoring protocol: a request has exactly one of them."""

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)


def parse(
    body: bytes, content_type: str | None, columns: tuple[Column, ...] | None
) -> pd.DataFrame:
    """Read a request body into a table, by its content type, as `mlflow models serve` does.

    Args:
        body: the request's body.
        content_type: its `Content-Type` header (`application/json` when missing).
        columns: the model's signature columns, for rows sent without column names.

    Raises:
        PayloadError: an empty or malformed body (400), an unsupported content type (415).
    """
    mime, _, options = (content_type or JSON).partition(";")
    mime = mime.strip().lower()
    charset = options.strip().lower().removeprefix("charset=").strip() or "utf-8"
    if mime not in CONTENT_TYPES:
        raise PayloadError(
            f"unsupported content type '{mime}': send {', '.join(CONTENT_TYPES)}", status=415
        )
    if charset not in ("utf-8", "utf8"):
        raise PayloadError(f"unsupported charset '{charset}': send UTF-8", status=415)
    if not body.strip():
        raise PayloadError(
            f"empty body: send a JSON object with one of {', '.join(FORMATS)}, or a CSV table"
        )
    if mime == CSV:
        return _csv(body)
    if mime == PARQUET:
        return _parquet(body)
    return _json(body, columns)


def _csv(body: bytes) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"the CSV body cannot be read: {_first_line(error)}") from error


def _parquet(body: bytes) -> pd.DataFrame:
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(body))
    except Exception as error:  # pyarrow raises its own types for a damaged file
        raise PayloadError(f"the Parquet body cannot be read: {_first_line(error)}") from error


def _json(body: bytes, columns: tuple[Column, ...] | None) -> pd.DataFrame:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"the body is not valid JSON: {_first_line(error)}") from error
    if not isinstance(document, dict):
        raise PayloadError(
            f"the JSON body must be an object with one of {', '.join(FORMATS)}; "
            f"got {type(document).__name__}"
        )
    found = [key for key in FORMATS if key in document]
    if len(found) != 1:
        got = ", ".join(sorted(map(str, document))) or "no key"
        raise PayloadError(
            f"the JSON body must have exactly one of {', '.join(FORMATS)}; it has: {got}"
        )
    key = found[0]
    value = document[key]
    if key == "dataframe_split":
        return _split(value, columns)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise PayloadError("dataframe_records must be a list of objects, one per row")
        return _records(value, key)
    return _instances(value, key, columns)


def _split(value: Any, columns: tuple[Column, ...] | None) -> pd.DataFrame:
    import pandas as pd

    if not isinstance(value, dict) or "data" not in value:
        raise PayloadError('dataframe_split must be an object {"columns": [...], "data": [[...]]}')
    names = value.get("columns")
    rows = value["data"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise PayloadError("dataframe_split.data must be a list of rows, each a list of values")
    if names is None:
        names = _names_for(rows, columns, "dataframe_split.data")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise PayloadError("dataframe_split.columns must be a list of column names")
    _check_widths(rows, len(names), "dataframe_split.data")
    return pd.DataFrame(rows, columns=names)


def _records(rows: list[Any], key: str) -> pd.DataFrame:
    import pandas as pd

    for number, row in enumerate(rows):
        if not isinstance(row, dict):
            raise PayloadError(f"{key} row {number} must be an object of column: value")
    return pd.DataFrame.from_records(rows)


def _instances(value: Any, key: str, columns: tuple[Column, ...] | None) -> pd.DataFrame:
    import pandas as pd

    if isinstance(value, dict):  # columnar: {"age": [..], ...}, or one row {"age": 0.1, ...}
        lists = [isinstance(item, list) for item in value.values()]
        if all(lists):
            lengths = {len(item) for item in value.values()}
            if len(lengths) > 1:
                raise PayloadError(f"{key}: every column must have the same number of values")
            return pd.DataFrame(value)
        if any(lists):
            raise PayloadError(f"{key}: give every column a list of values, or every one a value")
        return pd.DataFrame([value])
    if not isinstance(value, list):
        raise PayloadError(f"{key} must be a list of rows or an object of columns")
    if all(isinstance(row, dict) for row in value):
        return _records(value, key)
    if all(isinstance(row, list) for row in value):
        names = _names_for(value, columns, key)
        _check_widths(value, len(names), key)
        return pd.DataFrame(value, columns=names)
    raise PayloadError(f"{key} must hold rows of the same shape: all objects or all lists")


def _names_for(rows: list[list[Any]], columns: tuple[Column, ...] | None, where: str) -> list[str]:
    """Name the values of rows sent without column names: the signature's columns, in order."""
    if columns is None:
        raise PayloadError(f"{where} has no column names and the model has no signature")
    return [column.name for column in columns]


def _check_widths(rows: list[list[Any]], width: int, where: str) -> None:
    for number, row in enumerate(rows):
        if len(row) != width:
            raise PayloadError(f"{where} row {number} has {len(row)} values for {width} columns")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
