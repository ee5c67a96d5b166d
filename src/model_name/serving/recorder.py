"""What the serve job's MLflow run records: the versions served and when, and the traffic.

At each interval: `requests_total`, `errors_total`, `requests`, `errors` (the interval),
`latency_p50_ms`, `latency_p90_ms`, `latency_p99_ms` and `served_version`, one step an interval,
and one INFO summary line. At each switch: a `served_version` point (its time is the switch's),
`switches`, and the tag `model_name.serve.versions`, the history `1@2026-01-31T10:00:00Z, 2@...`.

Example:
    recorder = Recorder(mlflow_service, logger)
    recorder.switched(served)     # at start and at each switch
    recorder.report(stats)        # every interval
"""

from __future__ import annotations

import time
from typing import Any

from model_name.serving.metrics import Stats
from model_name.serving.models import Served

VERSIONS_TAG = "model_name.serve.versions"
"""The run's tag listing each version served and since when: `1@<UTC time>, 2@<UTC time>`."""

_TAG_LIMIT = 5000
"""Tag values are at most 8000 characters in MLflow: the oldest switches are dropped first."""


class Recorder:
    """Records the serve job's versions and traffic in its MLflow run, and logs a summary.

    Call it from the thread that opened the run (MLflow's active run is per thread).

    Args:
        mlflow_service: the started MLflow service, inside its `run_context`.
        logger: the logger service's logger.
    """

    def __init__(self, mlflow_service: Any, logger: Any) -> None:
        self.mlflow_service = mlflow_service
        self.logger = logger
        self.history: list[str] = []
        self.step = 0
        self.version: int | None = None

    def switched(self, served: Served) -> None:
        """Record that `served` serves from now on (the first version, or a switch)."""
        self.version = served.version
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(served.since))
        self.history.append(f"{served.version}@{since}")
        text = ", ".join(self.history)
        while len(text) > _TAG_LIMIT and len(self.history) > 1:
            self.history.pop(0)
            text = ", ".join(self.history)
        self.mlflow_service.set_tags({VERSIONS_TAG: text})
        self.mlflow_service.log_metrics(
            {"served_version": float(served.version), "switches": float(len(self.history) - 1)},
            step=self.step,
        )

    def report(self, stats: Stats, seconds: float) -> dict[str, float]:
        """Log the interval's traffic to the run, and one INFO summary line.

        Args:
            stats: the server's counters.
            seconds: the interval's length, for the requests per second.

        Returns:
            The metrics logged.
        """
        metrics = stats.interval()
        if self.version is not None:
            metrics["served_version"] = float(self.version)
        self.step += 1
        self.mlflow_service.log_metrics(metrics, step=self.step)
        percentiles = (
            f"p50 {metrics['latency_p50_ms']:.1f} ms, p99 {metrics['latency_p99_ms']:.1f} ms"
            if "latency_p99_ms" in metrics
            else "no latency"
        )
        self.logger.info(
            "Serving version {}: {:.0f} requests ({:.1f}/s), {:.0f} errors in {:.0f} s; {}; "
            "{:.0f} requests since start",
            self.version, metrics["requests"], metrics["requests"] / max(seconds, 1e-9),
            metrics["errors"], seconds, percentiles, metrics["requests_total"],
        )  # fmt: skip
        return metrics
