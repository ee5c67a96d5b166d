"""The tables a job reads are checked before anything starts: exit 2, one line, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from model_name.cli import main


def write_tables(folder: Path) -> None:
    (folder / "data.csv").write_text("age,bmi,target\n1,2,3\n4,5,6\n")
    pd.DataFrame({"age": [1.0], "bmi": [2.0], "target": [3.0]}).to_parquet(folder / "data.parquet")
    (folder / "broken.parquet").write_bytes(b"not parquet")
    (folder / "empty.csv").write_text("")
    (folder / "folder.csv").mkdir()


CASES = {
    "missing file": (
        ["training", "--set", "jobs.training.inputs=nope.csv"],
        "jobs.training.inputs (from --set jobs.training.inputs): input file nope.csv does not exist",
    ),
    "wrong suffix": (
        ["inference", "--set", "jobs.inference.inputs=data.txt"],
        "jobs.inference.inputs (from --set jobs.inference.inputs): Value error, 'data.txt' must end with one of .csv, .parquet, .pq (got '.txt')",
    ),
    "a directory": (
        ["explanations", "--set", "jobs.explanations.inputs=folder.csv"],
        "jobs.explanations.inputs (from --set jobs.explanations.inputs): input file folder.csv is a directory",
    ),
    "missing target in the CSV header": (
        ["training", "--set", "jobs.training.inputs=data.csv", "--set", "jobs.training.target=y"],
        "jobs.training.target (from --set jobs.training.target): column 'y' is not in data.csv (jobs.training.inputs); its columns: age, bmi, target",
    ),
    "missing target in the Parquet footer": (
        ["tuning", "--set", "jobs.tuning.inputs=data.parquet", "--set", "jobs.tuning.target=price"],
        "jobs.tuning.target (from --set jobs.tuning.target): column 'price' is not in data.parquet (jobs.tuning.inputs); its columns: age, bmi, target",
    ),
    "evaluation table without the target": (
        ["evaluation", "--set", "jobs.evaluation.inputs=data.csv", "--set", "jobs.evaluation.target=y"],
        "jobs.evaluation.target (from --set jobs.evaluation.target): column 'y' is not in data.csv (jobs.evaluation.inputs); its columns: age, bmi, target",
    ),
    "not a Parquet file": (
        ["training", "--set", "jobs.training.inputs=broken.parquet"],
        "jobs.training.inputs (from --set jobs.training.inputs): cannot read the columns of broken.parquet: not a Parquet file",
    ),
    "an empty CSV": (
        ["training", "--set", "jobs.training.inputs=empty.csv"],
        "jobs.training.inputs (from --set jobs.training.inputs): cannot read the columns of empty.csv: the file is empty",
    ),
}  # fmt: skip


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["run", "dry-run"])
@pytest.mark.parametrize(("arguments", "message"), CASES.values(), ids=CASES)
def test_a_bad_input_is_a_configuration_error_before_anything_starts(
    isolated: Path,
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    message: str,
    dry_run: list[str],
) -> None:
    # given tables, good and bad, in the current folder
    write_tables(isolated)
    before = sorted(os.listdir(isolated))

    # when a job is run (or dry-run) on a bad one
    code = main(["run", *arguments, *dry_run])

    # then exit 2, one line naming the key, where it was set, the file and the columns
    out, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines() == [err.splitlines()[0]]
    assert err.startswith(f"model_name: error: {message}"), err
    assert "configuration valid" not in out
    # and nothing was started nor written: no store, no run
    assert sorted(os.listdir(isolated)) == before


def test_a_good_input_passes_the_dry_run(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tables(isolated)

    code = main(["run", "training", "--set", "jobs.training.inputs=data.parquet", "--dry-run"])

    assert code == 0
    assert "configuration valid; would run job training" in capsys.readouterr().out
