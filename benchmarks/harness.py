"""Measure whole processes: wall time and peak memory of a child, and summarise samples.

A child is started with `subprocess.Popen` and reaped with `os.wait4`, whose resource usage gives
the child's exact peak resident set size (`ru_maxrss`, in KiB on Linux) without polling. Every
child runs under a timeout; a child still running when it expires is killed.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The project's root folder (the one with `pyproject.toml`)."""

VENV_BIN = REPO / ".venv" / "bin"
"""The virtual environment's scripts: the console script runs from here, not through `uv run`."""

PYTHON = str(VENV_BIN / "python")
"""The virtual environment's interpreter."""

DEFAULT_TIMEOUT = 120.0
"""Seconds a measured child may run before it is killed and the benchmark fails."""


class BenchmarkError(RuntimeError):
    """A measurement could not be made: a child failed, timed out, or points were lost."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """One finished child process.

    Attributes:
        seconds: wall time from start to reaped, in seconds.
        cpu_seconds: the child's CPU time (user + system), in seconds: less sensitive than
            wall time to other processes competing for the cores.
        max_rss_mb: the child's peak resident set size, in MiB.
        returncode: the child's exit code (negative: killed by that signal).
        stdout: what the child wrote to its standard output.
        stderr: what the child wrote to its standard error.
    """

    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


@dataclasses.dataclass(frozen=True)
class Stats:
    """A summary of repeated measurements.

    Attributes:
        median: the median value.
        low: the smallest value.
        high: the largest value.
        count: how many values.
    """

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        """Summarise values (at least one)."""
        items = sorted(values)
        if not items:
            raise BenchmarkError("no samples to summarise")
        return cls(statistics.median(items), items[0], items[-1], len(items))

    @property
    def spread(self) -> float:
        """The range relative to the median: (high - low) / median (0 for a single value)."""
        return (self.high - self.low) / self.median if self.median else 0.0

    def format(self, unit: str, digits: int = 3) -> str:
        """Return `median unit [low-high, n=count]`."""
        return (
            f"{self.median:.{digits}f} {unit} "
            f"[{self.low:.{digits}f}-{self.high:.{digits}f}, n={self.count}]"
        )


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for a child: no MLflow, model_name or D-Bus variables.

    `MLFLOW_*` and `MODEL_NAME_*` variables would change the configuration under test, and
    without `DBUS_SESSION_BUS_ADDRESS` desktop notifications fall back to the log. MLflow's
    telemetry is off: a benchmark talks to 127.0.0.1 only (MLflow 3 otherwise calls
    config.mlflow-telemetry.io from every process).

    Args:
        extra: variables to add (after the removal).
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "MODEL_NAME_")) and key != "DBUS_SESSION_BUS_ADDRESS"
    }
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env.update(extra or {})
    return env


def run_process(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
) -> Sample:
    """Run a child to completion and return its wall time and peak memory.

    Args:
        argv: the command line.
        cwd: the child's working folder (default: the project's root).
        env: the child's environment (default: `clean_env()`).
        timeout: seconds before the child is killed.
        check: raise `BenchmarkError` when the child exits non-zero or times out.

    Raises:
        BenchmarkError: the child failed (with `check`) or timed out.
    """
    out_path, err_path = _capture_files()
    try:
        with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
            start = time.perf_counter()
            process = subprocess.Popen(
                list(argv),
                cwd=cwd or REPO,
                env=dict(env) if env is not None else clean_env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
            timer = threading.Timer(timeout, process.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            except BaseException:  # Ctrl-C while waiting: never leave the child behind
                process.kill()
                process.wait(timeout=10)
                raise
            finally:
                timer.cancel()
            seconds = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            sample = Sample(
                seconds=seconds,
                cpu_seconds=usage.ru_utime + usage.ru_stime,
                max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
                returncode=process.returncode,
                stdout=out.read().decode(errors="replace"),
                stderr=err.read().decode(errors="replace"),
            )
    finally:
        for path in (out_path, err_path):
            path.unlink(missing_ok=True)

    if seconds >= timeout:
        raise BenchmarkError(f"timed out after {timeout:.0f} s: {' '.join(argv)}")
    if check and sample.returncode != 0:
        raise BenchmarkError(
            f"exit code {sample.returncode}: {' '.join(argv)}\n{_tail(sample.stderr)}"
        )
    return sample


def _capture_files() -> tuple[Path, Path]:
    import tempfile

    folder = Path(tempfile.gettempdir())
    stem = f"model_name-bench-{os.getpid()}-{threading.get_ident()}"
    return folder / f"{stem}.out", folder / f"{stem}.err"


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def mark(passed: bool) -> str:
    """Return `PASS` or `MISS`."""
    return "PASS" if passed else "MISS"


def say(message: str = "") -> None:
    """Print a progress line to standard error at once (results go to standard output)."""
    print(message, file=sys.stderr, flush=True)
