"""1,000,000 metric points: a job through `MlflowService.log_metrics` against synchronous batches.

The job (outbox on, the default) against the same points written with `MlflowClient.log_batch`
in calls of 1,000, on fresh copies of one migrated SQLite store, each in its own process
(`million_worker.py`). The job's time runs until its run context exits: the run FINISHED and
every point in the store (read-your-writes). A second job run, profiled, says where the sender's
time goes. The benchmark fails loudly when a point is missing or the run is not FINISHED.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import PYTHON, REPO, BenchmarkError, run_process, say
from report import Row
from stores import fresh_store, sqlite_uri

WORKER = str(REPO / "benchmarks" / "million_worker.py")


def measure(template: Path, folder: Path, steps: int) -> list[Row]:
    """Measure the job, the reference and a profiled job; return the table's rows.

    Raises:
        BenchmarkError: a worker failed, a point is missing, or a run did not finish.
    """
    points = 10 * steps
    say(f"  reference: {points:,} points through log_batch calls of 1,000")
    batch = _work("batch", fresh_store(template, folder / "batch"), steps)
    say(f"  job: {points:,} points through MlflowService.log_metrics")
    job = _work("job", fresh_store(template, folder / "job"), steps)
    say("  job again, profiled")
    profiled = _work("job", fresh_store(template, folder / "profiled"), steps, "--profile")
    ratio = job["seconds"] / batch["seconds"]
    spent = "; ".join(f"{name} {seconds:.1f} s" for name, seconds in profiled["profile"].items())
    return [
        Row(
            f"{points:,} points via log_metrics, job until its run is FINISHED and stored (SQLite)",
            f"{job['seconds']:.1f} s ({points / job['seconds']:,.0f} points/s; the job's loop "
            f"{job['loop_seconds']:.1f} s); all stored",
            f"MlflowClient.log_batch in calls of 1,000: {batch['seconds']:.1f} s "
            f"({points / batch['seconds']:,.0f} points/s); all stored",
            f"{ratio:.2f}x",
            "<= 1.00x, every point stored, FINISHED",
            ratio <= 1.0,
        ),
        Row(
            "where a profiled job's time goes (informational)",
            f"{profiled['seconds']:.1f} s in all: {spent}",
        ),
    ]


def _work(mode: str, store: Path, steps: int, *flags: str) -> dict[str, Any]:
    uri = sqlite_uri(store)
    sample = run_process(
        [PYTHON, WORKER, mode, uri, "--steps", str(steps), *flags], cwd=store.parent, timeout=1800
    )
    try:
        result: dict[str, Any] = json.loads(sample.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        message = f"{mode} worker printed no result:\n{sample.stderr[-3000:]}"
        raise BenchmarkError(message) from error
    if result["stored"] != result["points"] or result["status"] != "FINISHED":
        raise BenchmarkError(
            f"POINTS LOST or run not ended ({mode}): logged {result['points']}, stored "
            f"{result['stored']}, status {result['status']}"
        )
    say(f"    {result['points']:,} points in {result['seconds']:.1f} s, all stored, FINISHED")
    return result
