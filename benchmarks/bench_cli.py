"""The light commands (`--help`, `jobs`, `config show`) against `python -c pass`.

The console script runs straight from `.venv/bin/model_name` (not through `uv run`, whose own
start-up would be measured too). The commands and the reference are interleaved, round by round,
after one warm-up round, so that they share the same machine conditions. A second pass runs each
command under `python -X importtime` and says whether MLflow or the container were imported.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence

from harness import PYTHON, REPO, VENV_BIN, Sample, Stats, run_process, say
from report import Row

sys.path.insert(0, str(REPO))  # the list the tests check too
from tests.helpers.expected import HEAVY_MODULES

SCRIPT = str(VENV_BIN / "model_name")

COMMANDS: dict[str, tuple[list[str], float]] = {
    "model_name --help": (["--help"], 0.2),
    "model_name jobs": (["jobs"], 0.8),
    "model_name config show": (["config", "show"], 0.8),
}
"""Each light command: its arguments and its target wall time in seconds."""


@dataclasses.dataclass(frozen=True)
class ImportReport:
    """What one command imported, from `python -X importtime`.

    Attributes:
        heavy: the forbidden modules it imported.
        slowest: the slowest top-level imports: (module, cumulative seconds).
    """

    heavy: tuple[str, ...]
    slowest: tuple[tuple[str, float], ...]


def measure(repeat: int) -> list[Row]:
    """Time each light command against `python -c pass`, and check their imports.

    Args:
        repeat: measured rounds (after one warm-up round).
    """
    reference_argv = [PYTHON, "-c", "pass"]
    argvs = {name: [SCRIPT, *arguments] for name, (arguments, _) in COMMANDS.items()}
    samples: dict[str, list[Sample]] = {name: [] for name in ["python -c pass", *argvs]}
    for round_ in range(repeat + 1):
        say(f"  round {round_}/{repeat}" + (" (warm-up)" if round_ == 0 else ""))
        for name, taken in samples.items():
            sample = run_process(argvs.get(name, reference_argv))
            if round_:
                taken.append(sample)

    reference = Stats.of(sample.seconds for sample in samples["python -c pass"])
    reference_memory = Stats.of(sample.max_rss_mb for sample in samples["python -c pass"])
    rows = [
        Row(
            "python -c pass (reference)",
            f"{reference.format('s')}, {reference_memory.median:.0f} MiB",
        )
    ]
    for name, (arguments, target) in COMMANDS.items():
        wall = Stats.of(sample.seconds for sample in samples[name])
        memory = Stats.of(sample.max_rss_mb for sample in samples[name])
        imports = import_report(arguments)
        heavy = ", ".join(imports.heavy) if imports.heavy else "none"
        rows.append(
            Row(
                name,
                f"{wall.format('s')}, {memory.median:.0f} MiB",
                f"{reference.median:.3f} s",
                f"{wall.median / reference.median:.1f}x",
                f"<= {target} s; imports of {'/'.join(HEAVY_MODULES)}: {heavy}",
                wall.median <= target and not imports.heavy,
            )
        )
        slowest = ", ".join(f"{module} {seconds:.2f} s" for module, seconds in imports.slowest)
        say(f"  {name}: slowest imports: {slowest}")
    return rows


def import_report(arguments: Sequence[str]) -> ImportReport:
    """Run the console script under `-X importtime` and read which modules it imported.

    This is the console script's own code path (the interpreter runs the script file).
    """
    sample = run_process([PYTHON, "-X", "importtime", SCRIPT, *arguments])
    imported: set[str] = set()
    top_level: list[tuple[str, float]] = []
    for line in sample.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if (
            not line.startswith("import time:")
            or len(fields) != 3
            or not fields[1].strip().isdigit()
        ):
            continue  # not an import line, or the header
        name = fields[2].strip()
        imported.add(name)
        if not fields[2].startswith("  "):  # nested imports are indented further
            top_level.append((name, int(fields[1]) / 1e6))
    heavy = tuple(
        module
        for module in HEAVY_MODULES
        if any(name == module or name.startswith(f"{module}.") for name in imported)
    )
    slowest = tuple(sorted(top_level, key=lambda item: -item[1])[:5])
    return ImportReport(heavy, slowest)
