"""A 12-trial study by the tuning job (one worker, then two) against bare Optuna.

The job runs as `model_name run tuning` in a folder holding a migrated SQLite tracking store and
the default journal storage; the reference is `tuning_reference.py` (same objective, sampler and
per-trial seeds, no service). Only the study is timed, not the processes' start: for one worker,
from its "Study ..." log line (data loaded, study and parent run opened) to its last trial's
progress line; for the reference, `study.optimize`. Two workers are compared by throughput:
trials completed per second from the moment both run trials to the last trial.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from harness import PYTHON, VENV_BIN, BenchmarkError, Stats, clean_env, run_process, say
from report import Row
from stores import fresh_store

N_TRIALS = 12
SEED = 7
TARGET_RATIO = 1.10
"""The job's time a trial may be at most this much of bare Optuna's."""

CONFIG = {
    "alerts": {"enable": False},
    "logger": {"format": "{time:x} {message}", "level": "INFO"},  # microsecond timestamps
    "jobs": {
        "tuning": {
            "n_trials": N_TRIALS,
            "sampler": "random",
            "seed": SEED,
            "cv_folds": 3,
            "search_space": {
                "random_forest": {
                    "n_estimators": {"type": "int", "low": 50, "high": 150},
                    "max_depth": [4, 8],
                }
            },
        }
    },
}
"""The workers' containers.yaml: the reference's objective, sampler and seed; alerts off."""


def study_window(logs: list[str]) -> tuple[float, int]:
    """Return the seconds from the last worker's "Study" line to the last progress line, and
    how many trials completed in that window (all of them with one worker).

    With two workers, the window opens when both run trials: the second one's start (imports,
    a few CPU-seconds) would otherwise slow the first one's trials and count against them.
    """
    starts, ends = [], []
    for log in logs:
        for line in log.splitlines():
            stamp, _, message = line.partition(" ")
            if message.startswith("Study ") and "parent run" in message:
                starts.append(int(stamp))
            elif " complete | best " in message:
                ends.append(int(stamp))
    if len(starts) != len(logs) or len(ends) != N_TRIALS:
        raise BenchmarkError(f"expected {N_TRIALS} trial lines, got {len(ends)}:\n{logs}")
    opened = max(starts)
    return (max(ends) - opened) / 1e6, sum(end > opened for end in ends)


def run_workers(template: Path, folder: Path, workers: int) -> tuple[float, int]:
    """Run `workers` tuning processes together on a fresh study; return `study_window`."""
    fresh_store(template, folder)
    (folder / "containers.yaml").write_text(json.dumps(CONFIG))  # JSON is YAML
    env = clean_env()
    command = [str(VENV_BIN / "model_name"), "run", "tuning"]
    processes = [
        subprocess.Popen(command, cwd=folder, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]  # fmt: skip
    outputs = [process.communicate(timeout=300)[1] for process in processes]
    if any(process.returncode for process in processes):
        raise BenchmarkError(f"a tuning worker failed:\n{outputs}")
    return study_window(outputs)


def measure(template: Path, folder: Path, repeat: int) -> list[Row]:
    """Measure bare Optuna, one worker and two workers, `repeat` times each (interleaved)."""
    bare: list[float] = []
    one: list[float] = []
    rates: list[float] = []
    for index in range(repeat):
        sample = run_process([PYTHON, "benchmarks/tuning_reference.py", str(N_TRIALS), str(SEED)])
        bare.append(json.loads(sample.stdout)["seconds"])
        one.append(run_workers(template, folder / f"one-{index}", 1)[0])
        seconds, trials = run_workers(template, folder / f"two-{index}", 2)
        rates.append(trials / seconds)
        say(f"  round {index + 1}: bare {bare[-1]:.2f} s, 1 worker {one[-1]:.2f} s, "
            f"2 workers {trials} trials in {seconds:.2f} s once both ran")  # fmt: skip
    bare_stats, one_stats, two_stats = Stats.of(bare), Stats.of(one), Stats.of(rates)
    ratio = one_stats.median / bare_stats.median
    speedup = two_stats.median / (N_TRIALS / one_stats.median)
    per_trial = (one_stats.median - bare_stats.median) / N_TRIALS
    return [
        Row(
            f"tuning: {N_TRIALS}-trial study, 1 worker vs bare Optuna",
            one_stats.format("s", 2),
            bare_stats.format("s", 2),
            f"{ratio:.2f}x ({per_trial * 1000:+.0f} ms/trial)",
            f"<= {TARGET_RATIO:.2f}x",
            ratio <= TARGET_RATIO,
        ),
        Row(
            f"tuning: {N_TRIALS}-trial study, 2 workers vs 1 (trials/s once both run)",
            two_stats.format("trials/s", 2),
            f"{N_TRIALS / one_stats.median:.2f} trials/s",
            f"{speedup:.2f}x speed-up",
            "information (2 cores)",
            None,
        ),
    ]
