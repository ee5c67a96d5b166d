"""A request's table checked against a model's signature: the columns it needs, in their types.

`conform` returns the signature's columns, in its order and types, or raises a `PayloadError`
whose one line names the column and why (`missing column 'bmi': the model needs age, sex, ...`,
`column 'bmi' must be a number: row 2 has 'abc'`). The checks are done once, here: the server
then calls the model's flavor directly, without MLflow's pyfunc checking the schema again.

Example:
    >>> import pandas as pd
    >>> columns = (Column("age", "double"), Column("visits", "long"))
    >>> conform(pd.DataFrame({"visits": [3], "age": [0.5], "id": ["a"]}), columns).dtypes.tolist()
    [dtype('float64'), dtype('int64')]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

_NUMBERS = {"double": "float64", "float": "float32"}
_INTEGERS = {"long": "int64", "integer": "int32"}


class PayloadError(ValueError):
    """A request the server refuses; the message is one line, `status` the HTTP status.

    Attributes:
        status: 400 (bad body), 413 (too large) or 415 (unsupported content type).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Column:
    """One input column of a model's signature.

    Attributes:
        name: the column's name.
        kind: MLflow's type name: `double`, `float`, `long`, `integer`, `boolean`, `string`, ...
    """

    name: str
    kind: str


def signature_columns(model: Any) -> tuple[Column, ...] | None:
    """Return the input columns of a pyfunc model's signature; `None` without a column schema."""
    signature = model.metadata.signature
    if signature is None or signature.inputs is None or signature.inputs.is_tensor_spec():
        return None
    schema = signature.inputs
    names = schema.input_names()
    if not names or any(not isinstance(name, str) for name in names):
        return None
    return tuple(
        Column(str(name), getattr(kind, "name", str(kind)))
        for name, kind in zip(names, schema.input_types(), strict=True)
    )


def conform(frame: pd.DataFrame, columns: tuple[Column, ...] | None) -> pd.DataFrame:
    """Return the signature's columns of a table, in its order and types, or say what is wrong.

    Extra columns (a target, an id) are left out, as the inference job does.

    Args:
        frame: the table read from a request.
        columns: the model's signature columns; `None` passes the table as it is.

    Raises:
        PayloadError: no rows, a missing column, or a value of the wrong type (400).
    """
    if len(frame) == 0:
        raise PayloadError("the request has no rows")
    if columns is None:
        return frame
    names = [column.name for column in columns]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        quoted = ", ".join(f"'{name}'" for name in missing)
        raise PayloadError(
            f"missing column{'s' if len(missing) > 1 else ''} {quoted}: "
            f"the model needs {', '.join(names)}"
        )
    selected = frame[names]
    if _all_numbers(selected, columns):  # the common case, in one step rather than per column
        return selected.astype("float64")
    converted = {column.name: _convert(selected[column.name], column) for column in columns}
    import pandas as pd

    return pd.DataFrame(converted, index=selected.index)


def _all_numbers(frame: pd.DataFrame, columns: tuple[Column, ...]) -> bool:
    """Say whether every column is a `double` of the signature and already holds numbers."""
    if any(column.kind != "double" for column in columns):
        return False
    return all(dtype.kind in "fiu" for dtype in frame.dtypes)


def _convert(values: pd.Series, column: Column) -> pd.Series:
    """Return a column in its signature type, or say which row holds what value instead."""
    import numpy as np
    import pandas as pd
    from pandas.api.types import (  # type: ignore[import-untyped, unused-ignore]
        is_bool_dtype,
        is_numeric_dtype,
    )

    wanted = _NUMBERS.get(column.kind) or _INTEGERS.get(column.kind)
    if wanted is None:
        return values  # strings, booleans, dates: the model's own enforcement checks them
    if is_numeric_dtype(values.dtype) and not is_bool_dtype(values.dtype):
        numbers = values
    else:
        numbers = pd.to_numeric(values, errors="coerce")
        wrong = values.notna() & (numbers.isna() | values.map(_is_bool))
        if wrong.any():
            row = int(np.flatnonzero(wrong.to_numpy())[0])
            what = "a number" if column.kind in _NUMBERS else "an integer"
            raise PayloadError(
                f"column '{column.name}' must be {what}: row {row} has {_value(values, row)!r}"
            )
    if column.kind in _INTEGERS:
        fractional = numbers.notna() & (numbers != np.floor(numbers))
        if fractional.any():
            row = int(np.flatnonzero(fractional.to_numpy())[0])
            raise PayloadError(
                f"column '{column.name}' must be an integer: row {row} has {_value(values, row)!r}"
            )
        if numbers.isna().any():
            row = int(np.flatnonzero(numbers.isna().to_numpy())[0])
            raise PayloadError(f"column '{column.name}' must be an integer: row {row} is empty")
    return numbers.astype(wanted)


def _value(values: pd.Series, row: int) -> Any:
    """The value at a row, as Python writes it (`2.5`, not `np.float64(2.5)`)."""
    value = values.iloc[row]
    return value.item() if hasattr(value, "item") else value


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)
