"""The first command on a fresh clone, and a later one, with and without uv's bytecode compilation.

    uv run python benchmarks/bench_first_run.py [--repeat 3] [--keep]

For each case it clones this repository (the committed tree) into a scratch folder, times the
first `uv run model_name run training` (which creates `.venv` from uv's warm cache), then a later
`uv run model_name jobs` and a later `uv run model_name run training`, and prints the medians over
`--repeat` clones. The cases:

- `compile`: `compile-bytecode = true` in pyproject.toml, with and without PYTHONDONTWRITEBYTECODE;
- `no-compile`: the setting removed (Python writes each `.pyc` the first time it imports a module);
- `no-compile, PYTHONDONTWRITEBYTECODE=1`: the Docker case: no `.pyc` is ever written;
- `UV_COMPILE_BYTECODE=1, PYTHONDONTWRITEBYTECODE=1`: the setting as an environment variable only.

Each case's first run is measured on `--repeat` fresh clones. Slow (minutes): run it by hand.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAINING = ["uv", "run", "model_name", "run", "training", "--set", "alerts.enable=false"]

CASES: dict[str, tuple[bool, dict[str, str]]] = {
    "compile-bytecode = true": (True, {}),
    "compile-bytecode = true, PYTHONDONTWRITEBYTECODE=1": (True, {"PYTHONDONTWRITEBYTECODE": "1"}),
    "setting removed": (False, {}),
    "setting removed, PYTHONDONTWRITEBYTECODE=1": (False, {"PYTHONDONTWRITEBYTECODE": "1"}),
    "removed, UV_COMPILE_BYTECODE=1 + PYTHONDONTWRITEBYTECODE=1": (
        False,
        {"UV_COMPILE_BYTECODE": "1", "PYTHONDONTWRITEBYTECODE": "1"},
    ),
}


def _environment(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODEL_NAME_"))}
    for name in (
        "VIRTUAL_ENV",
        "PYTHONDONTWRITEBYTECODE",
        "UV_COMPILE_BYTECODE",
        "DBUS_SESSION_BUS_ADDRESS",
    ):
        keep.pop(name, None)
    return {**keep, **extra}


def _timed(command: list[str], folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """Run a command; return its wall time and its CPU time (user + system, its children too).

    On a shared machine the wall time grows with the load; the CPU time much less.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, command)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def _median(times: list[tuple[float, float]]) -> str:
    wall = statistics.median(wall for wall, _ in times)
    cpu = statistics.median(cpu for _, cpu in times)
    return f"{wall:.2f} s ({cpu:.2f} s CPU)"


def _clone(scratch: Path, name: str, compile_bytecode: bool) -> Path:
    folder = scratch / name
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    pyproject = folder / "pyproject.toml"
    text = pyproject.read_text().replace("compile-bytecode = true\n", "")
    if compile_bytecode:
        text = text.replace("[tool.uv]\n", "[tool.uv]\ncompile-bytecode = true\n")
        assert "compile-bytecode = true" in text, "pyproject.toml has no [tool.uv] table"
    pyproject.write_text(text)
    return folder


def main() -> int:
    """Measure every case and print a Markdown table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--only", help="measure only the cases whose name contains this text")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-first-run-"))
    rows = []
    try:
        for index, (case, (compile_bytecode, extra)) in enumerate(CASES.items()):
            if args.only and args.only not in case:
                continue
            env = _environment(extra)
            firsts, laters, trainings = [], [], []
            for round_ in range(args.repeat):
                folder = _clone(scratch, f"{index}-{round_}", compile_bytecode)
                firsts.append(_timed(TRAINING, folder, env))
                laters.append(_timed(["uv", "run", "model_name", "jobs"], folder, env))
                trainings.append(_timed(TRAINING, folder, env))
                print(
                    f"{case}: first {firsts[-1]}, later jobs {laters[-1]}, "
                    f"later training {trainings[-1]} (wall s, CPU s)",
                    file=sys.stderr,
                    flush=True,
                )
                if not args.keep:
                    shutil.rmtree(folder)
            rows.append((case, *(_median(times) for times in (firsts, laters, trainings))))
            print(f"| {case} | {rows[-1][1]} | {rows[-1][2]} | {rows[-1][3]} |", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(
        "| case | first `uv run model_name run training` | later `uv run model_name jobs` "
        "| later `uv run model_name run training` |"
    )
    print("|---|---|---|---|")
    for case, first, later, training in rows:
        print(f"| {case} | {first} | {later} | {training} |")
    print("\nEach cell: median wall time (median CPU time, user + system) over the clones.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
