"""Log N metric points one way on a SQLite store, time it, count what the store kept; print JSON.

Run by `bench_million.py` in a child process (a fresh interpreter a measurement).

Modes:
    job: what a job does: `MlflowService` (default settings: the outbox on) started, one
        `run_context` whose body calls `log_metrics` once a step (10 keys), the context exits
        (the run FINISHED and every point stored, read-your-writes), the service stops.
    batch: the reference: `MlflowClient.create_run`, then the same points through synchronous
        `MlflowClient.log_batch` calls of 1,000 metrics, then `set_terminated`.

Both timers start before the run is created and stop once it is ended with every point stored.
`--profile` (job mode) also reports where the time went: the job's thread's outbox writes, the
sender's outbox reads and its writes into the store.

Usage:
    python benchmarks/million_worker.py {job,batch} TRACKING_URI --steps 100000 [--profile]
"""

from __future__ import annotations

import argparse
import collections
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

KEYS = 10
TIMES: collections.Counter[str] = collections.Counter()


def values(step: int) -> dict[str, float]:
    """One step's metrics: `metric_0` ... `metric_9`."""
    return {f"metric_{key}": step * 0.5 + key for key in range(KEYS)}


def timed(owner: Any, name: str, label: str) -> None:
    """Wrap `owner.name` so that the seconds spent in it add up under `label`."""
    function: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TIMES[label] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def profile() -> None:
    """Time the outbox's writes and reads and the sender's writes into the store."""
    import model_name.tracking.outbox as outbox
    import model_name.tracking.sqlite_metrics as sqlite_metrics

    timed(outbox.Outbox, "put", "job's thread: outbox writes (JSON, SQLite WAL commit)")
    timed(outbox.Outbox, "pending", "sender: outbox reads (SQLite, JSON)")
    timed(outbox.Outbox, "done", "sender: outbox deletes")
    timed(sqlite_metrics, "write_points", "sender: writes into the store (one transaction a pass)")


def with_job(tracking_uri: str, steps: int) -> tuple[str, float, float]:
    """Log through a started `MlflowService`; return (run id, seconds, job's loop seconds)."""
    from model_name.io.services import MlflowService, RunConfig

    service = MlflowService(
        tracking_uri=tracking_uri,
        experiment_name="million",
        autolog={"disable": True},
        outbox_dir=tempfile.mkdtemp(prefix="outbox-"),
    )
    service.start()
    try:
        started = time.perf_counter()
        with service.run_context(RunConfig(name=f"job-{steps}")) as run:
            for step in range(steps):
                service.log_metrics(values(step), step=step)
            loop = time.perf_counter() - started
        return run.info.run_id, time.perf_counter() - started, loop
    finally:
        service.stop()


def with_batches(tracking_uri: str, steps: int) -> tuple[str, float, float]:
    """Log through synchronous `log_batch` calls of 1,000; return (run id, seconds, seconds)."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name("million")
    experiment = found.experiment_id if found else client.create_experiment("million")
    started = time.perf_counter()
    run_id = client.create_run(experiment, run_name=f"batch-{steps}").info.run_id
    batch: list[Metric] = []
    for step in range(steps):
        timestamp = int(time.time() * 1000)
        batch += [Metric(key, value, timestamp, step) for key, value in values(step).items()]
        if len(batch) >= 1000:
            client.log_batch(run_id, metrics=batch)
            batch = []
    if batch:
        client.log_batch(run_id, metrics=batch)
    client.set_terminated(run_id, "FINISHED")
    seconds = time.perf_counter() - started
    return run_id, seconds, seconds


def main(argv: list[str]) -> int:
    """Measure one run, count its points, print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("job", "batch"))
    parser.add_argument("tracking_uri")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    if args.profile:
        profile()
    log = with_job if args.mode == "job" else with_batches
    run_id, seconds, loop = log(args.tracking_uri, args.steps)
    from mlflow import MlflowClient

    status = MlflowClient(tracking_uri=args.tracking_uri).get_run(run_id).info.status
    store = args.tracking_uri.removeprefix("sqlite:///")
    with sqlite3.connect(store) as database:  # 1,000,000 points: counted in SQL, not read back
        (stored,) = database.execute(
            "SELECT COUNT(*) FROM metrics WHERE run_uuid = ?", (run_id,)
        ).fetchone()
    result = {
        "mode": args.mode,
        "points": KEYS * args.steps,
        "stored": stored,
        "status": status,
        "seconds": seconds,
        "loop_seconds": loop,
        "profile": dict(TIMES),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
