"""Metric logging through `MlflowService.log_metrics` against a naive `mlflow.log_metric` loop.

Both sides run in child processes (`metrics_worker.py`) on the same kind of store: a copy of a
migrated SQLite file, or a loopback `mlflow server`. The service logs 10 keys x 1,000 steps; the
naive loop, one HTTP request or SQLite transaction a point, logs fewer steps when asked (it takes
about 4.5 s a 1,000 points on SQLite and 13 s over HTTP), so the comparison is per point. Every
worker reads its run back and the benchmark fails loudly if a single point is missing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from harness import PYTHON, REPO, BenchmarkError, Stats, run_process, say
from report import Row

WORKER = str(REPO / "benchmarks" / "metrics_worker.py")
KEYS = 10


@dataclasses.dataclass(frozen=True)
class Plan:
    """How many points each side logs on one backend.

    Attributes:
        backend: `sqlite` or `http`, for the table.
        tracking_uri: the store.
        service_steps: steps the service logs (times `KEYS` points).
        naive_steps: steps the naive loop logs (times `KEYS` points).
        service_rounds: how many times the service side is measured (median taken).
        target: the minimum speed-up per point, outbox off.
        outbox_target: the minimum speed-up per point with the outbox (the job's own time).
    """

    backend: str
    tracking_uri: str
    service_steps: int
    naive_steps: int
    service_rounds: int
    target: float
    outbox_target: float = 0.0


def measure(plan: Plan, timeout: float) -> list[Row]:
    """Measure both sides on one backend and return the table's rows.

    Raises:
        BenchmarkError: a worker failed, or the store lost points.
    """
    say(f"  {plan.backend}: naive loop, {KEYS} x {plan.naive_steps} points")
    naive = _work("naive", plan.tracking_uri, plan.naive_steps, timeout)
    naive_per_point = naive["seconds"] / naive["points"]
    rows = []
    modes = [("service", plan.target)] + (
        [("outbox", plan.outbox_target)] * (plan.outbox_target > 0)
    )
    for mode, target in modes:
        per_point, stored = [], []
        for round_ in range(plan.service_rounds):
            say(f"  {plan.backend}: {mode}, {KEYS} x {plan.service_steps} points ({round_ + 1})")
            result = _work(mode, plan.tracking_uri, plan.service_steps, timeout)
            per_point.append(result["seconds"] / result["points"])
            stored.append(result["stored_seconds"])
        service = Stats.of(per_point)
        speedup = naive_per_point / service.median
        service_points = KEYS * plan.service_steps
        how = "outbox: the job's thread" if mode == "outbox" else "outbox off"
        after = f", all stored after {Stats.of(stored).median:.2f} s" if mode == "outbox" else ""
        rows.append(
            Row(
                f"{service_points:,} points via MlflowService.log_metrics ({plan.backend}, {how})",
                f"{service.median * service_points:.3f} s total, "
                f"{service.median * 1e6:.1f} us/point [{service.low * 1e6:.1f}-"
                f"{service.high * 1e6:.1f}, n={service.count}]{after}; none lost",
                f"naive log_metric, {naive['points']:,} points: {naive['seconds']:.2f} s, "
                f"{naive_per_point * 1e3:.2f} ms/point; none lost",
                f"{speedup:.0f}x faster per point",
                f">= {target:.0f}x, every point stored",
                speedup >= target,
            )
        )
    return rows


def _work(mode: str, tracking_uri: str, steps: int, timeout: float) -> dict[str, Any]:
    sample = run_process(
        [PYTHON, WORKER, mode, tracking_uri, "--keys", str(KEYS), "--steps", str(steps)],
        cwd=Path(tracking_uri.removeprefix("sqlite:///")).parent
        if tracking_uri.startswith("sqlite:")
        else None,
        timeout=timeout,
    )
    try:
        result: dict[str, Any] = json.loads(sample.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as error:
        raise BenchmarkError(
            f"{mode} worker printed no result:\n{sample.stderr[-3000:]}"
        ) from error
    if result["stored"] != result["points"] or result["wrong"]:
        raise BenchmarkError(
            f"POINTS LOST ({mode}, {tracking_uri}): logged {result['points']}, "
            f"stored {result['stored']}: {result['wrong']}"
        )
    say(
        f"    {result['points']} points in {result['seconds']:.3f} s, all {result['stored']} stored"
    )
    return result
