"""The code rows of the staleness matrix, on a toy package whose files a test may edit.

A line changed in a job's module, or in a module it imports, reruns that job and what follows;
a line in a module no job imports reruns nothing. A failed step is run again by the same
command, the steps before it reused: resuming needs no flag.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.toy import PACKAGE, run_toy, write_package

pytestmark = pytest.mark.slow


@dataclasses.dataclass(frozen=True)
class Row:
    """A line appended to one file of the toy package (or a setting), and what reruns."""

    change: str
    reruns: frozenset[str]
    edited: str | None = None
    flags: tuple[str, ...] = ()


MATRIX = [
    Row("nothing", frozenset()),
    Row("a line in the job's module", frozenset({"produce", "consume"}), "produce.py"),
    Row("a line in a module it imports", frozenset({"produce", "consume"}), "helpers.py"),
    Row("a line in a module no job imports", frozenset(), "unrelated.py"),
    Row("a line in the last job's module", frozenset({"consume"}), "consume.py"),
    Row("a setting of the first job", frozenset({"produce", "consume"}),
        flags=("jobs.produce.factor=3",)),
    Row("nothing, with --no-cache", frozenset({"produce", "consume"})),
    Row("nothing, with --force consume", frozenset({"consume"})),
]  # fmt: skip


@pytest.fixture(scope="module")
def toy_baseline(tmp_path_factory: pytest.TempPathFactory, mlflow_store_template: Path) -> Path:
    """A folder with a migrated store, where nothing ran yet."""
    folder = tmp_path_factory.mktemp("toy")
    shutil.copyfile(mlflow_store_template, folder / "mlflow.db")
    return folder


@pytest.mark.parametrize("row", MATRIX, ids=[row.change for row in MATRIX])
def test_a_code_change_reruns_the_jobs_that_run_that_code(
    row: Row,
    toy_baseline: Path,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given the toy pipeline that ran once, every step
    shutil.copyfile(toy_baseline / "mlflow.db", isolated / "mlflow.db")
    jobs = write_package(isolated / "src", monkeypatch)
    assert run_toy(isolated, jobs, capsys)[1] == {"produce": "ran", "consume": "ran"}
    # when exactly one thing changes and it runs again
    if row.edited is not None:
        with (isolated / "src" / PACKAGE / row.edited).open("a") as source:
            source.write("EXTRA = 2  # a line added\n")
    options: dict[str, Any] = {
        "no_cache": "--no-cache" in row.change,
        "force": ["consume"] if "--force" in row.change else [],
    }
    code, statuses = run_toy(isolated, jobs, capsys, *row.flags, **options)
    # then exactly the steps that run the changed code (and those after them) ran
    assert code == 0
    assert {step for step, status in statuses.items() if status == "ran"} == row.reruns


def test_after_a_failed_step_the_same_command_resumes_at_that_step(
    isolated: Path,
    mlflow_store_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a pipeline whose second step failed
    shutil.copyfile(mlflow_store_template, isolated / "mlflow.db")
    jobs = write_package(isolated / "src", monkeypatch)
    (isolated / "broken").touch()
    code, statuses = run_toy(isolated, jobs, capsys)
    assert (code, statuses) == (1, {"produce": "ran", "consume": "failed"})
    # when the cause is fixed and the same command runs again, with no flag
    (isolated / "broken").unlink()
    code, statuses = run_toy(isolated, jobs, capsys)
    # then the first step is reused and the failed one runs
    assert (code, statuses) == (0, {"produce": "reused", "consume": "ran"})
