"""Columns turned into numbers, and the rows that cannot be, named: file, column, count, rows.

A model needs finite numbers. A column with missing values, text that is not a number, or
infinities is refused with one line that names the data: the file, the column, how many rows
out of how many, and the first few of them with their values, for example

    data.csv: column 'target' has 2 missing values in 442 rows: lines 7, 19

(for a CSV, the line of the file, the header being line 1; for other tables, the row, the first
being row 1). The error is a `JobError`: the job's own failure, exit 1, without a traceback.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"x": ["1", "2", "abc"]})
    >>> frame.attrs["source"] = "data.csv"
    >>> try:
    ...     numeric_column(frame, "x")
    ... except JobError as error:
    ...     print(error)
    data.csv: column 'x' has 1 non-numeric value in 3 rows: line 4 ('abc')
"""

from __future__ import annotations

from numbers import Integral
from typing import TYPE_CHECKING, Any

from model_name.errors import JobError

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

ROWS_SHOWN = 5
"""At most this many bad rows are named in an error."""

SOURCE = "source"
"""The key of `DataFrame.attrs` naming where a table was read from (`datasets.read_table`)."""


def source_of(frame: pd.DataFrame) -> str:
    """Return where a table came from, as `read_table` or `load_sample` recorded it."""
    return str(frame.attrs.get(SOURCE, "the table"))


def numeric_column(frame: pd.DataFrame, column: str) -> pd.Series[float]:
    """Return a column as float64, refusing missing, non-numeric and infinite values.

    Raises:
        JobError: the column holds a value that is not a finite number, named with its rows.
    """
    import numpy as np
    import pandas as pd

    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
    missing = raw.isna().to_numpy()
    problems = (
        ("missing value", missing, False),
        ("non-numeric value", numbers.isna().to_numpy() & ~missing, True),
        ("infinite value", np.isinf(numbers.to_numpy()), True),
    )
    for kind, bad, show_values in problems:
        if bad.any():
            raise JobError(_describe(frame, column, kind, bad, raw if show_values else None))
    return numbers


def numeric_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return every column of a frame as float64 (`numeric_column` on each).

    A frame of NumPy numbers that are all finite (nearly always) is converted as one block: a
    third of the time of converting it column by column, which only a bad value needs, to be
    named.
    """
    import numpy as np
    import pandas as pd

    if all(isinstance(dtype, np.dtype) and dtype.kind in "biuf" for dtype in frame.dtypes):
        values = frame.to_numpy(dtype="float64")
        if np.isfinite(values).all():
            block = pd.DataFrame(values, index=frame.index, columns=frame.columns, copy=True)
            block.attrs.update(frame.attrs)
            return block
    converted = pd.DataFrame(
        {column: numeric_column(frame, column) for column in frame.columns}, index=frame.index
    )
    converted.attrs.update(frame.attrs)
    return converted


def _describe(
    frame: pd.DataFrame, column: str, kind: str, bad: Any, values: pd.Series[Any] | None
) -> str:
    source = source_of(frame)
    count, rows = int(bad.sum()), len(frame)
    labels = list(frame.index[bad][:ROWS_SHOWN])
    csv = source.lower().endswith(".csv")
    word = "line" if csv else "row"
    named = []
    for position, label in zip(list(_positions(bad))[:ROWS_SHOWN], labels, strict=True):
        # the frame's own row labels when it was read whole (a split keeps them), else positions
        number = (int(label) if isinstance(label, Integral) else position) + (2 if csv else 1)
        if values is None:
            named.append(str(number))
            continue
        shown: Any = values.iloc[position]
        shown = shown.item() if hasattr(shown, "item") else shown  # inf, not np.float64(inf)
        named.append(f"{number} ({shown!r})")
    more = ", ..." if count > ROWS_SHOWN else ""
    plural = "s" if count > 1 else ""
    return (
        f"{source}: column {column!r} has {count} {kind}{plural} in {rows} rows: "
        f"{word}{'s' if len(named) > 1 else ''} {', '.join(named)}{more}"
    )


def _positions(bad: Any) -> Any:
    import numpy as np

    return np.flatnonzero(bad)
