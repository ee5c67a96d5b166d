"""Shared pieces of the contracts' tests: the diabetes table, with bad values where asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_name.io import datasets
from tests.jobs.conftest import registered_model, runs_of, services

__all__ = ["registered_model", "runs_of", "services"]  # the jobs' fixtures, shared here

FEATURES = ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")

CONTRACT_YAML = (
    """\
jobs:
  training:
    contract:
      columns:
"""
    + "".join(f"        {name}: {{dtype: float, ge: -0.5, le: 0.5}}\n" for name in FEATURES)
    + "        target: {dtype: float, ge: 0, le: 1000}\n"
)
"""A containers.yaml declaring the training contract, as the README shows it."""


def diabetes_table(path: Path, rows: int = 100, **changes: tuple[list[int], Any]) -> Path:
    """The diabetes rows as CSV or Parquet; `column=(rows, value)` puts a value in some rows."""
    frame = datasets.load_sample().head(rows)
    for column, (indexes, value) in changes.items():
        if isinstance(value, str):
            frame = frame.astype({column: object})
        for index in indexes:
            frame.loc[index, column] = value
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path
