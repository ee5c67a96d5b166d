"""What the pipeline tests share: running `model_name run pipeline` and reading what it did."""

from __future__ import annotations

import re

import pytest

from model_name.cli import main

TWO_CHECKS = """
pipelines:
  checks:
    steps:
      - {job: check, name: first}
      - {job: check, name: second}
"""
"""A `containers.yaml` with a pipeline `checks` of two `check` steps, `first` and `second`."""

STEP_LINE = re.compile(r"^model_name: ([\w.-]+): (ran|reused|failed|interrupted|not reached)\b")


def run_pipeline(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, str]]:
    """Run `model_name run pipeline ARGS...` in this process; return its code and each step's
    status as printed on stdout (`ran`, `reused`, `failed`, ...)."""
    capsys.readouterr()
    code = main(["run", "pipeline", *args])
    out = capsys.readouterr().out
    print(out)  # shown when the test fails: each step's reason
    return code, statuses(out)


def statuses(out: str) -> dict[str, str]:
    """Each step's status in a pipeline's output (`model_name: STEP: ran (run ...)...`)."""
    found = (STEP_LINE.match(line) for line in out.splitlines())
    return {match.group(1): match.group(2) for match in found if match}


def ran(statuses: dict[str, str]) -> set[str]:
    """The steps that ran (not reused)."""
    return {step for step, status in statuses.items() if status == "ran"}
