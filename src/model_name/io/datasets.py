"""Reading and writing the tables the jobs train on and predict for: CSV, Parquet, the sample data.

The jobs read their inputs and write their outputs through these functions, so the file formats
are chosen by suffix in one place. pandas and scikit-learn are imported inside the functions:
importing this module stays cheap.

Example:
    >>> frame = load_sample()
    >>> frame.shape
    (442, 11)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pydantic as pdt

from model_name.io.data_errors import SOURCE, numeric_column, numeric_frame

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
"""The file suffixes a table may have: CSV, or Parquet (`.parquet` or `.pq`)."""

SAMPLE_SOURCE = "sklearn.datasets.load_diabetes"
"""The source name of the sample data set (`load_sample`): what a run records as its `inputs`
when a job reads no file, and how evaluation knows to load the sample again."""

SAMPLE_TARGET = "target"
"""The target column of the sample data set (`load_sample`)."""


def check_table_path(path: Path) -> Path:
    """Return the path if its suffix names a table format the jobs read and write.

    Args:
        path: a CSV or Parquet file path.

    Raises:
        ValueError: the suffix is neither `.csv`, `.parquet` nor `.pq`.
    """
    if path.suffix.lower() not in TABLE_SUFFIXES:
        allowed = ", ".join(TABLE_SUFFIXES)
        raise ValueError(f"'{path}' must end with one of {allowed} (got '{path.suffix}')")
    return path


TablePath = Annotated[Path, pdt.AfterValidator(check_table_path)]
"""A pydantic field type: the path of a CSV or Parquet file, checked when the job is built."""


@dataclasses.dataclass(frozen=True)
class TableInput:
    """Marks a job's field as a table it reads: checked before the job starts (`io.inputs`).

    The file must exist and be readable, and its header (CSV) or footer (Parquet) must hold the
    columns named by the job's fields listed in `columns` (a `None` value is not checked), and
    agree with the data contract held by the job's field named `contract`, if any.

    Example:
        inputs: Annotated[TablePath | None, TableInput(columns=("target",))] = None
    """

    columns: tuple[str, ...] = ()
    contract: str | None = None


def load_sample() -> pd.DataFrame:
    """Return scikit-learn's bundled diabetes data set: 10 features and a `target` column.

    The data ships with scikit-learn, so nothing is downloaded.

    Returns:
        A frame of 442 rows: the features `age`, `sex`, `bmi`, `bp`, `s1`..`s6` and `target`.
    """
    from sklearn.datasets import load_diabetes  # SAMPLE_SOURCE

    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    frame.attrs[SOURCE] = "sklearn.datasets.load_diabetes"
    return frame


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file, chosen by its suffix.

    Args:
        path: the file to read.

    Raises:
        ValueError: the suffix is not a table format (see `check_table_path`).
        FileNotFoundError: the file does not exist.
    """
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    check_table_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file '{path}' does not exist")
    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    frame.attrs[SOURCE] = str(path)  # errors about its values name the file (data_errors)
    return frame


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as CSV or Parquet, chosen by the suffix, creating the parent folders.

    Args:
        frame: the table to write (its index is not written).
        path: the destination file.

    Returns:
        The path written.

    Raises:
        ValueError: the suffix is not a table format (see `check_table_path`).
    """
    check_table_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def numeric_features(frame: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Return the feature columns of a frame as float64, refusing non-numeric ones.

    Args:
        frame: the table holding the features.
        columns: the columns to keep, in this order; `None` keeps all of them.

    Raises:
        ValueError: a requested column is missing.
        JobError: a value is missing, not a number or infinite (`data_errors.numeric_column`).
    """
    if columns is not None:
        missing = [column for column in columns if column not in frame.columns]
        if missing:
            raise ValueError(
                f"missing feature column(s) {missing}; the table has {list(frame.columns)}"
            )
        frame = frame[columns]
    return numeric_frame(frame)


def numeric_target(frame: pd.DataFrame, target: str) -> pd.Series[float]:
    """Return the target column as float64, refusing missing, non-numeric and infinite values.

    Raises:
        JobError: a value that is not a finite number, named with the file and its rows.
    """
    return numeric_column(frame, target)
