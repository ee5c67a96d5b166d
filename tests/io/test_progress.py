"""Progress of long work: a bar with counts and an estimate on a terminal, one line a step elsewhere."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from model_name.io.progress import Progress
from tests.helpers.servers import without_coverage


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_bar_counts_the_steps_with_an_estimate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    terminal, said = Terminal(), []

    with Progress(4, "trial", said.append, stream=terminal, description="study s") as progress:
        progress.advance("Trial 0 complete")
        progress.reach(3, "Trial 2 complete")

    shown = terminal.getvalue().split("\r")[-1]
    assert shown.startswith("study s:  75%|") and "| 3/4 [" in shown and "<" in shown
    assert "Trial 2 complete" in shown
    assert said == []


def test_under_ci_or_in_a_file_each_step_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    terminal, said = Terminal(), []

    with Progress(2, "item", said.append, stream=terminal) as progress:
        progress.advance("sent 1 of 2")
        progress.reach(2, "sent 2 of 2")

    assert said == ["sent 1 of 2", "sent 2 of 2"]
    assert terminal.getvalue() == ""


def tune(folder: Path, *, terminal: bool) -> str:
    command = [
        sys.executable, "-m", "model_name", "run", "tuning", "--set", "alerts.enable=false",
        "--set", "jobs.tuning.n_trials=3", "--set", "jobs.tuning.cv_folds=2",
    ]  # fmt: skip
    env = {**without_coverage(os.environ), "CI": "", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env = {k: v for k, v in env.items() if not k.startswith(("MODEL_NAME_", "MLFLOW_TRACKING"))}
    if not terminal:
        result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stderr
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, cwd=folder, env=env, stdin=follower, stdout=follower, stderr=follower)  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=300) == 0
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_tuning_draws_a_bar_on_a_terminal_and_logs_one_line_a_trial_elsewhere(
    isolated: Path,
) -> None:
    # when the same study runs on a terminal, then in a pipe (a log file, CI)
    on_terminal = tune(isolated, terminal=True)
    (isolated / "optuna.journal").unlink()
    in_a_pipe = tune(isolated, terminal=False)

    # then the terminal shows a bar with the count and no line a trial
    assert "study model_name: 100%|" in on_terminal and "3/3 [" in on_terminal
    assert "Study model_name complete: best trial" in on_terminal  # other lines still there
    assert " - Trial 0 complete" not in on_terminal
    # and elsewhere one line a trial, and no bar
    trials = [
        line
        for line in in_a_pipe.splitlines()
        if " - Trial " in line and " complete: rmse=" in line
    ]
    assert len(trials) == 3
    assert "3/3 [" not in in_a_pipe


def test_with_an_interval_a_log_gets_the_count_rate_and_estimate_at_most_once_per_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given rows counted in a log file, a line at most once an hour, 100 rows done before
    monkeypatch.setenv("CI", "true")
    said: list[str] = []

    with Progress(1000, "row", said.append, interval=3600, initial=100) as progress:
        for _ in range(9):
            progress.advance(steps=100)

    # then only the last step is said, with the count and the rate
    assert len(said) == 1
    assert said[0].startswith("1,000/1,000 rows (100%), ") and said[0].endswith(" rows/s")
