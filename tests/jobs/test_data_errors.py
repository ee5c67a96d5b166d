"""Data errors name the data: the file, the column, how many rows, the first rows and values."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from model_name.cli import main
from model_name.errors import JobError
from model_name.io import datasets
from model_name.jobs import EvaluationJob, InferenceJob, TrainingJob
from tests.jobs.conftest import RunsOf


def diabetes_csv(path: Path, rows: int = 100, **changes: tuple[list[int], Any]) -> Path:
    """The diabetes rows as a CSV; `column=(rows, value)` puts a value in some rows first."""
    frame = datasets.load_sample().head(rows).astype(object)
    for column, (indexes, value) in changes.items():
        for index in indexes:
            frame.loc[index, column] = value
    frame.to_csv(path, index=False)
    return path


CASES = {
    # what the file holds: (column=(rows, value)), the message (rows are the file's lines)
    "missing target": (
        {"target": ([3, 10, 20], np.nan)},
        "column 'target' has 3 missing values in 100 rows: lines 5, 12, 22",
    ),
    "a word among numbers": (
        {"bmi": ([7], "n/a?")},
        "column 'bmi' has 1 non-numeric value in 100 rows: line 9 ('n/a?')",
    ),
    "infinities": (
        {"age": ([0, 1, 2, 3, 4, 5, 6], "inf")},
        "column 'age' has 7 infinite values in 100 rows: lines 2 (inf), 3 (inf), 4 (inf), 5 (inf), 6 (inf), ...",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("changes", "message"), CASES.values(), ids=CASES)
def test_training_names_the_bad_rows(
    services: dict[str, Any], tmp_path: Path, runs_of: RunsOf, changes: dict[str, Any], message: str
) -> None:
    path = diabetes_csv(tmp_path / "data.csv", **changes)

    job = TrainingJob(inputs=path, register_version=False, **services)
    with pytest.raises(JobError, match=re.escape(f"{path}: {message}")), job:
        job.run()

    assert runs_of("training")[0].info.status == "FAILED"


def test_evaluation_names_the_bad_rows(
    services: dict[str, Any], registered_model: str, tmp_path: Path
) -> None:
    path = diabetes_csv(tmp_path / "eval.csv", rows=40, target=([39], np.nan))

    job = EvaluationJob(inputs=path, plots=False, **services)
    with pytest.raises(JobError, match=re.escape(f"{path}: column 'target' has 1 missing value in 40 rows: line 41")), job:  # fmt: skip
        job.run()


def test_inference_names_the_bad_rows(
    services: dict[str, Any], registered_model: str, tmp_path: Path
) -> None:
    path = diabetes_csv(tmp_path / "new.csv", rows=30, s1=([2, 4], "x"))

    job = InferenceJob(version=1, inputs=path, outputs=tmp_path / "p.csv", **services)
    with pytest.raises(JobError, match=re.escape(f"{path}: column 's1' has 2 non-numeric values in 30 rows: lines 4 ('x'), 6 ('x')")), job:  # fmt: skip
        job.run()
    assert not (tmp_path / "p.csv").exists()


def test_the_terminal_shows_the_data_error_in_one_line(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    diabetes_csv(isolated / "data.csv", target=([3], np.nan))

    code = main(["run", "training", "--set", "jobs.training.inputs=data.csv", "--set", f"mlflow.tracking_uri={tracking_uri}"])  # fmt: skip

    err = capsys.readouterr().err
    assert code == 1
    assert (
        "model_name: error: job training failed: data.csv: column 'target' has 1 missing value in 100 rows: line 5"
        in err.splitlines()
    )
    assert "Traceback" not in err and "  at " not in err
