"""The evaluation and explanations jobs on the diabetes set: wall time, peak memory, CPU time.

One folder holds a copy of the repository's `containers.yaml` and of an already-migrated SQLite
store. The default training runs once there (not measured: it also warms the disk cache), then
each round runs the no-op `check` job (the fixed cost of any job: interpreter, imports, services,
one MLflow run), the `evaluation` job and the `explanations` job (`--set
jobs.explanations.alias=null`: the latest version), each as its own process through the console
script. The figures are information: there is no target.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from harness import PYTHON, REPO, VENV_BIN, BenchmarkError, Sample, Stats, run_process, say
from report import Row
from stores import fresh_store

JOBS: dict[str, list[str]] = {
    "check": ["run", "check"],
    "evaluation": ["run", "evaluation"],
    "explanations": ["run", "explanations", "--set", "jobs.explanations.alias=null"],
}
"""The measured commands (after `model_name`), by job."""

_VERIFY = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri="sqlite:///mlflow.db")
version = client.get_model_version("model_name", "1")
print(json.dumps(dict(version.tags)))
"""


def measure(template: Path, folder: Path, repeat: int) -> list[Row]:
    """Train once, then run the check, evaluation and explanations jobs `repeat` times each.

    Args:
        template: a migrated SQLite store to copy.
        folder: a scratch folder for the store and the runs.
        repeat: measured rounds.

    Raises:
        BenchmarkError: a job failed, or the version was not tagged as passed and explained.
    """
    fresh_store(template, folder)
    (folder / "containers.yaml").write_bytes((REPO / "containers.yaml").read_bytes())
    script = str(VENV_BIN / "model_name")
    say("  training (not measured)")
    run_process([script, "run", "training"], cwd=folder)
    samples: dict[str, list[Sample]] = {job: [] for job in JOBS}
    for round_ in range(1, repeat + 1):
        for job, argv in JOBS.items():
            say(f"  round {round_}/{repeat}: {job}")
            samples[job].append(run_process([script, *argv], cwd=folder))
    _verify(folder)

    rows = []
    measures: tuple[tuple[str, str, Callable[[Sample], float]], ...] = (
        ("wall time", "s", lambda sample: sample.seconds),
        ("peak RSS", "MiB", lambda sample: sample.max_rss_mb),
        ("CPU time (user+sys)", "s", lambda sample: sample.cpu_seconds),
    )
    for job in ("evaluation", "explanations"):
        for label, unit, value in measures:
            digits = 2 if unit == "s" else 0
            measured = Stats.of(value(sample) for sample in samples[job])
            baseline = Stats.of(value(sample) for sample in samples["check"])
            rows.append(
                Row(
                    f"`model_name run {job}` (diabetes): {label}",
                    measured.format(unit, digits),
                    f"no-op check job {baseline.format(unit, digits)}",
                    f"+{measured.median - baseline.median:.{digits}f} {unit} over the no-op job",
                    "(information)",
                    None,
                )
            )
    return rows


def _verify(folder: Path) -> None:
    """Check that version 1 was tagged as passed by the evaluation and linked to explanations."""
    sample = run_process([PYTHON, "-c", _VERIFY], cwd=folder)
    tags = json.loads(sample.stdout)
    if tags.get("model_name.evaluation.status") != "passed" or (
        "model_name.explanations.run_id" not in tags
    ):
        raise BenchmarkError(f"version 1 was not evaluated (passed) and explained: {tags}")
