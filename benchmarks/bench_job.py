"""A no-op job through `model_name run check` against `reference_job.py`, in paired runs.

Each measured run gets its own folder holding a copy of the repository's `containers.yaml` and a
copy of an already-migrated SQLite store as `mlflow.db` (the configuration's default store), so
schema migrations are never measured. All three services are on; alerts are enabled but there is
no D-Bus session in the child's environment, so they fall back to the log. The job and the
reference alternate (job first in even pairs, reference first in odd ones), and the ratio is
taken pair by pair.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from harness import PYTHON, REPO, VENV_BIN, BenchmarkError, Sample, Stats, run_process, say
from report import Row
from stores import fresh_store

TARGET_RATIO = 1.05
"""The job may take at most this much of the reference's wall time and peak memory."""

_VERIFY = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
print(json.dumps([
    {"status": r.info.status, "metrics": sorted(r.data.metrics), "artifacts":
     [a.path for a in client.list_artifacts(r.info.run_id)]} for r in runs
]))
"""


def measure(template: Path, folder: Path, repeat: int) -> list[Row]:
    """Run the check job and the reference in `repeat` pairs (after one warm-up pair).

    Args:
        template: a migrated SQLite store to copy for every run.
        folder: a scratch folder for the runs.
        repeat: measured pairs.

    Raises:
        BenchmarkError: a run failed or did not record its run and metric.
    """
    job_argv = [str(VENV_BIN / "model_name"), "run", "check"]
    reference_argv = [PYTHON, str(REPO / "benchmarks" / "reference_job.py"), "sqlite:///mlflow.db"]
    pairs: list[tuple[Sample, Sample]] = []
    for pair in range(repeat + 1):
        say(f"  pair {pair}/{repeat}" + (" (warm-up)" if pair == 0 else ""))
        job_dir, reference_dir = (
            _run_folder(template, folder, f"job-{pair}"),
            _run_folder(template, folder, f"reference-{pair}"),
        )
        if pair % 2 == 0:
            job = run_process(job_argv, cwd=job_dir)
            reference = run_process(reference_argv, cwd=reference_dir)
        else:
            reference = run_process(reference_argv, cwd=reference_dir)
            job = run_process(job_argv, cwd=job_dir)
        if pair == 0:
            say("  the job's log (warm-up):")
            for line in job.stderr.strip().splitlines():
                say(f"    | {line}")
        else:
            pairs.append((job, reference))
        if pair in (0, repeat):  # the first and last pairs: check what they recorded
            _verify(job_dir, "job")
            _verify(reference_dir, "reference")
        else:
            for path in (job_dir, reference_dir):
                shutil.rmtree(path, ignore_errors=True)

    rows = []
    measures: tuple[tuple[str, str, Callable[[Sample], float]], ...] = (
        ("wall time", "s", lambda sample: sample.seconds),
        ("peak RSS", "MiB", lambda sample: sample.max_rss_mb),
        ("CPU time (user+sys)", "s", lambda sample: sample.cpu_seconds),
    )
    for label, unit, value in measures:
        job_stats = Stats.of(value(job) for job, _ in pairs)
        reference_stats = Stats.of(value(reference) for _, reference in pairs)
        ratios = Stats.of(value(job) / value(reference) for job, reference in pairs)
        digits = 3 if unit == "s" else 0
        rows.append(
            Row(
                f"no-op job `model_name run check`: {label}",
                job_stats.format(unit, digits),
                f"reference_job.py {reference_stats.format(unit, digits)}",
                f"{ratios.median:.3f}x [{ratios.low:.3f}-{ratios.high:.3f}] per pair",
                f"<= {TARGET_RATIO}x" if label != "CPU time (user+sys)" else "(information)",
                ratios.median <= TARGET_RATIO if label != "CPU time (user+sys)" else None,
            )
        )
    return rows


def _run_folder(template: Path, folder: Path, name: str) -> Path:
    run_dir = folder / name
    shutil.rmtree(run_dir, ignore_errors=True)
    fresh_store(template, run_dir)
    shutil.copyfile(REPO / "containers.yaml", run_dir / "containers.yaml")
    return run_dir


def _verify(run_dir: Path, who: str) -> None:
    """Check that the run folder's store holds exactly one FINISHED run with its heartbeat."""
    sample = run_process([PYTHON, "-c", _VERIFY, "sqlite:///mlflow.db"], cwd=run_dir)
    runs = json.loads(sample.stdout)
    if len(runs) != 1 or runs[0]["status"] != "FINISHED" or "heartbeat" not in runs[0]["metrics"]:
        raise BenchmarkError(f"the {who} did not record one FINISHED run with a heartbeat: {runs}")
