"""Log metric points one way, time it, count what the store kept; print one JSON line.

Run by `bench_metrics.py` in a child process, so that every measurement starts from a fresh
interpreter and MLflow's process-wide state (active run, `MLFLOW_*` variables) never leaks
between them.

Modes:
    service: `MlflowService.log_metrics(metrics, step)` inside `run_context` (one call a step,
        all keys at once), then `flush_metrics()`, with the outbox off: every flush waits for
        the store.
    outbox: the same with the outbox on (the default): the timer stops when the job's thread
        is done with its calls (its last `log_metrics`, then `flush_metrics`); the time until
        the run context exits, which is when the store has every point, is reported too
        (`stored_seconds`).
    naive: `mlflow.log_metric(key, value, step=step)` for every point, inside `mlflow.start_run`.

The timer starts at the first point and stops when the run has ended (every point stored). A
short warm-up run first takes the first calls' lazy imports out of the measurement.

Usage:
    python benchmarks/metrics_worker.py {service,outbox,naive} TRACKING_URI --keys 10 --steps 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def values(keys: int, step: int) -> dict[str, float]:
    """Return one step's metrics: `metric_0` ... `metric_{keys-1}`."""
    return {f"metric_{key}": step * 0.5 + key for key in range(keys)}


STORED: dict[str, float] = {}
"""For the outbox mode: seconds from the first point until the sender stored every one."""


def log_with_service(
    tracking_uri: str, run_name: str, keys: int, steps: int, outbox: bool = False
) -> tuple[str, float]:
    """Log through `MlflowService.log_metrics` inside `run_context`; return (run id, seconds)."""
    import tempfile

    from model_name.io.services import MlflowService, RunConfig

    service = MlflowService(
        tracking_uri=tracking_uri,
        experiment_name="metrics-benchmark",
        autolog={"disable": True},
        outbox=outbox,
        outbox_dir=tempfile.mkdtemp(prefix="outbox-"),
    )
    service.start()
    try:
        with service.run_context(RunConfig(name=run_name)) as run:
            started = time.perf_counter()
            for step in range(steps):
                service.log_metrics(values(keys, step), step=step)
            service.flush_metrics()
            seconds = time.perf_counter() - started  # with the outbox: what the job's thread paid
        if not service.drain(600):
            raise RuntimeError("the outbox was not sent in 600 s")
        # the context exits once the store has every point (read-your-writes)
        STORED[run_name] = time.perf_counter() - started
        if not outbox:
            seconds = STORED[run_name]
        return run.info.run_id, seconds
    finally:
        service.stop()


def log_with_outbox(tracking_uri: str, run_name: str, keys: int, steps: int) -> tuple[str, float]:
    """Log through `MlflowService.log_metrics` with the outbox; return (run id, job seconds)."""
    return log_with_service(tracking_uri, run_name, keys, steps, outbox=True)


def log_naively(tracking_uri: str, run_name: str, keys: int, steps: int) -> tuple[str, float]:
    """Log with one `mlflow.log_metric` call a point; return (run id, seconds)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("metrics-benchmark")
    with mlflow.start_run(run_name=run_name) as run:
        started = time.perf_counter()
        for step in range(steps):
            for key, value in values(keys, step).items():
                mlflow.log_metric(key, value, step=step)
    seconds = time.perf_counter() - started
    return run.info.run_id, seconds


def count_points(tracking_uri: str, run_id: str, keys: int, steps: int) -> dict[str, Any]:
    """Read every key's history back from the store and compare it with what was logged."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    stored = 0
    wrong: list[str] = []
    for key in range(keys):
        history = client.get_metric_history(run_id, f"metric_{key}")
        stored += len(history)
        found = {(point.step, point.value) for point in history}
        expected = {(step, values(keys, step)[f"metric_{key}"]) for step in range(steps)}
        if found != expected:
            wrong.append(f"metric_{key}: {len(expected - found)} missing, {len(found)} stored")
    return {"stored": stored, "wrong": wrong}


def main(argv: list[str]) -> int:
    """Warm up, measure one run, count its points, print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=("service", "outbox", "naive"))
    parser.add_argument("tracking_uri")
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args(argv)
    log = {"service": log_with_service, "outbox": log_with_outbox, "naive": log_naively}[args.mode]

    log(args.tracking_uri, f"{args.mode}-warm-up", 2, 5)
    run_id, seconds = log(
        args.tracking_uri, f"{args.mode}-{args.keys}x{args.steps}", args.keys, args.steps
    )
    counted = count_points(args.tracking_uri, run_id, args.keys, args.steps)
    result = {
        "mode": args.mode,
        "points": args.keys * args.steps,
        "seconds": seconds,
        "stored_seconds": STORED.get(f"{args.mode}-{args.keys}x{args.steps}", seconds),
        **counted,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
