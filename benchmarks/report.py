"""The results table: one row per measurement with its reference, ratio, target and verdict."""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
from collections.abc import Sequence

from harness import PYTHON


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of the results table.

    Attributes:
        name: what was measured.
        measured: the measurement, with its unit and spread.
        reference: the reference measured side by side in the same run ("" when none).
        ratio: measured / reference, or the speed-up ("" when none).
        target: the target, in words.
        passed: whether the target is met (`None`: no target, information only).
    """

    name: str
    measured: str
    reference: str = ""
    ratio: str = ""
    target: str = ""
    passed: bool | None = None

    @property
    def verdict(self) -> str:
        """`PASS`, `MISS` or `-` when the row has no target."""
        if self.passed is None:
            return "-"
        return "PASS" if self.passed else "MISS"


HEADERS = ("benchmark", "measured", "reference", "ratio", "target", "verdict")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.name, row.measured, row.reference, row.ratio, row.target, row.verdict)


def render_text(rows: Sequence[Row]) -> str:
    """Return the rows as a plain-text table, one field a column."""
    table = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(HEADERS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def render_markdown(rows: Sequence[Row]) -> str:
    """Return the rows as a Markdown table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        cells = (cell.replace("|", "\\|") or " " for cell in _cells(row))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """Describe the machine and software the benchmarks ran on."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores (nproc)": str(len(os.sched_getaffinity(0))),
        "memory (free -h)": _total_memory(),
        "os": f"{platform.system()} {platform.release()}",
        "load average (1/5/15 min)": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "python": _child_output(
            [PYTHON, "-c", "import platform; print(platform.python_version())"]
        ),
        "mlflow": _child_output(
            [PYTHON, "-c", "import importlib.metadata as m; print(m.version('mlflow'))"]
        ),
        "dependency-injector": _child_output(
            [
                PYTHON,
                "-c",
                "import importlib.metadata as m; print(m.version('dependency-injector'))",
            ]
        ),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _total_memory() -> str:
    try:
        output = subprocess.run(
            ["free", "-h"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    for line in output.splitlines():
        if line.startswith("Mem:"):
            fields = line.split()
            return f"{fields[1]} total, {fields[-1]} available"
    return "unknown"


def _child_output(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()
