"""The lifecycle as one pipeline vs five commands, a re-run with nothing changed, input digests.

Each round, in two fresh folders (a copy of `containers.yaml` and of a migrated SQLite store):

- `model_name run pipeline` (first run: every step runs), then the same command again, three
  times (nothing changed: every step reused; once more under `python -X importtime` in the first
  round, to check that MLflow, scikit-learn, pandas and Optuna are not imported);
- the same five steps as five commands, one after the other: `run tuning`, `run training --set
  jobs.training.study=model_name`, `run evaluation`, `run promotion --set
  jobs.promotion.require_evaluation=true`, `run inference`.

Both use a smaller study than the default (`TUNING` below: 5 trials, 3 folds) so the comparison
is about what a pipeline saves (interpreter, imports, services, paid once), not about Optuna.
Then the input fingerprint of a 500 MB file (random bytes in a temporary folder, deleted after;
the digest never parses the file, so a Parquet file costs the same), warm page cache, against a
full BLAKE2b of the same file; and the code fingerprint of the training job.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

from harness import PYTHON, REPO, VENV_BIN, BenchmarkError, Sample, Stats, run_process, say
from report import Row
from stores import fresh_store

TUNING = ["--set", "jobs.tuning.n_trials=5", "--set", "jobs.tuning.cv_folds=3"]
QUIET = ["--set", "alerts.enable=false"]
FIVE_COMMANDS = [
    ["run", "tuning"],
    ["run", "training", "--set", "jobs.training.study=model_name"],
    ["run", "evaluation"],
    ["run", "promotion", "--set", "jobs.promotion.require_evaluation=true"],
    ["run", "inference"],
]
BIG_FILE_MB = 500
RERUNS = 3
"""Re-runs with nothing changed after each first run: the median is over all of them."""
HEAVY = ("mlflow", "sklearn", "pandas", "optuna")
"""What a re-run with nothing changed must not import (`python -X importtime`, once)."""


def measure(template: Path, folder: Path, repeat: int) -> list[Row]:
    """Run the rounds and the digests; return the table's rows.

    Raises:
        BenchmarkError: a command failed, or the re-run executed a step.
    """
    script = str(VENV_BIN / "model_name")
    first: list[Sample] = []
    again: list[Sample] = []
    five: list[float] = []
    heavy: tuple[str, ...] = ()
    for round_ in range(1, repeat + 1):
        pipeline_folder = _project(template, folder / f"pipeline-{round_}")
        say(f"  round {round_}/{repeat}: model_name run pipeline (first run)")
        first.append(
            run_process(
                [script, "run", "pipeline", *TUNING, *QUIET], cwd=pipeline_folder, timeout=600
            )
        )
        for rerun in range(1, RERUNS + 1):
            say(f"  round {round_}/{repeat}: model_name run pipeline (nothing changed, {rerun})")
            sample = run_process([script, "run", "pipeline", *TUNING, *QUIET], cwd=pipeline_folder)
            if "reused" not in sample.stdout or ": ran (" in sample.stdout:
                raise BenchmarkError(f"the re-run executed steps:\n{sample.stdout}")
            again.append(sample)
        if round_ == 1:
            heavy = _heavy_imports(pipeline_folder, [script, "run", "pipeline", *TUNING, *QUIET])
        commands_folder = _project(template, folder / f"commands-{round_}")
        say(f"  round {round_}/{repeat}: the same five steps as five commands")
        seconds = 0.0
        for argv in FIVE_COMMANDS:
            seconds += run_process(
                [script, *argv, *TUNING, *QUIET], cwd=commands_folder, timeout=600
            ).seconds
        five.append(seconds)

    first_stats = Stats.of(s.seconds for s in first)
    heavy_said = ", ".join(heavy) or "none of " + ", ".join(HEAVY)
    again_stats = Stats.of(s.seconds for s in again)
    five_stats = Stats.of(five)
    speedup = five_stats.median / first_stats.median
    rerun_speedup = first_stats.median / again_stats.median
    rows = [
        Row(
            "lifecycle pipeline, first run (5 steps, 5-trial study)",
            first_stats.format("s", 1),
            f"five commands {five_stats.format('s', 1)}",
            f"{speedup:.2f}x faster",
            ">= 1.3x faster",
            speedup >= 1.3,
        ),
        Row(
            "lifecycle pipeline, re-run, nothing changed (0 steps run)",
            again_stats.format("s", 2),
            f"first run {first_stats.format('s', 1)}",
            f"{rerun_speedup:.1f}x faster",
            "< 5 s and >= 10x faster",
            again_stats.median < 5 and rerun_speedup >= 10,
        ),
        Row(
            "lifecycle pipeline, re-run, nothing changed: heavy modules imported",
            heavy_said,
            target="none",
            passed=not heavy,
        ),
    ]
    return rows + _digests()


def _heavy_imports(folder: Path, argv: list[str]) -> tuple[str, ...]:
    """Run a command under `python -X importtime` in `folder`; return the `HEAVY` it imported."""
    sample = run_process([PYTHON, "-X", "importtime", *argv], cwd=folder)
    if ": ran (" in sample.stdout:
        raise BenchmarkError(f"the re-run executed steps:\n{sample.stdout}")
    imported = {
        line.split("|")[-1].strip()
        for line in sample.stderr.splitlines()
        if line.startswith("import time:")
    }
    return tuple(
        module for module in HEAVY
        if any(name == module or name.startswith(f"{module}.") for name in imported)
    )  # fmt: skip


def _project(template: Path, folder: Path) -> Path:
    fresh_store(template, folder)
    (folder / "containers.yaml").write_bytes((REPO / "containers.yaml").read_bytes())
    return folder


def _digests() -> list[Row]:
    """Fingerprint a 500 MB file (sampled) and hash it whole, in a temporary folder."""
    from model_name.digests import file_digest
    from model_name.pipelines.fingerprint import code_part

    with tempfile.TemporaryDirectory(prefix="model_name-bench-digest-") as scratch:
        path = Path(scratch) / "big.parquet"
        say(f"  writing a {BIG_FILE_MB} MB file")
        with path.open("wb") as handle:
            for _ in range(BIG_FILE_MB):
                handle.write(os.urandom(2**20))
        sampled = _timed(lambda: file_digest(path), 5)
        whole = _timed(lambda: _full_hash(path), 3)
    code = _timed(lambda: code_part("model_name.jobs.training"), 5)
    return [
        Row(
            f"input fingerprint of a {BIG_FILE_MB} MB file (size + sampled BLAKE2b, warm cache)",
            sampled.format("s", 3),
            f"whole-file BLAKE2b {whole.format('s', 2)}",
            f"{whole.median / sampled.median:.0f}x faster",
            "< 1 s",
            sampled.median < 1,
        ),
        Row(
            "code fingerprint of the training job (ast import closure + versions)",
            code.format("s", 3),
            target="(information)",
        ),
    ]


def _full_hash(path: Path) -> str:
    hasher = hashlib.blake2b(digest_size=20)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _timed(action: object, repeat: int) -> Stats:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return Stats.of(samples)
