"""What the server counts: requests, errors and latencies, for the run and for Prometheus.

`Stats` is filled by the request threads and read by the job's thread at an interval: totals since
start, and the latencies of the interval for its percentiles. `Prometheus` holds the same counts in
Prometheus' own types, in a registry of its own (not the process-wide default, so that two servers
in one process, as in tests, do not collide), rendered by `/metrics`.

Example:
    stats = Stats()
    stats.record(200, 0.004)
    stats.interval()["latency_p99_ms"]   # 4.0
"""

from __future__ import annotations

import threading
from typing import Any

PERCENTILES = (50, 90, 99)
"""The latency percentiles logged to the run at each interval."""

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""The upper bounds, in seconds, of the Prometheus latency histogram's buckets."""


class Stats:
    """Counts of requests and errors since start, and the latencies of the current interval."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.errors = 0
        self._latencies: list[float] = []
        self._interval_requests = 0
        self._interval_errors = 0

    def record(self, status: int, seconds: float) -> None:
        """Count one answered request of `/invocations`: its HTTP status and how long it took."""
        with self._lock:
            self.requests += 1
            self._interval_requests += 1
            if status >= 400:
                self.errors += 1
                self._interval_errors += 1
            self._latencies.append(seconds)

    def interval(self) -> dict[str, float]:
        """Return the metrics of the interval that ends now, and start the next one.

        Returns:
            `requests_total`, `errors_total` (since start), `requests`, `errors` (this interval)
            and `latency_p50_ms`, `latency_p90_ms`, `latency_p99_ms` (this interval; absent when
            it had no request).
        """
        with self._lock:
            latencies, self._latencies = self._latencies, []
            requests, self._interval_requests = self._interval_requests, 0
            errors, self._interval_errors = self._interval_errors, 0
            totals = {"requests_total": float(self.requests), "errors_total": float(self.errors)}
        metrics = {**totals, "requests": float(requests), "errors": float(errors)}
        if latencies:
            latencies.sort()
            for percentile in PERCENTILES:
                metrics[f"latency_p{percentile}_ms"] = 1000 * _rank(latencies, percentile)
        return metrics


def _rank(ordered: list[float], percentile: int) -> float:
    """The nearest-rank percentile of sorted values.

    Example:
        >>> _rank([1.0, 2.0, 3.0, 4.0], 50), _rank([1.0, 2.0, 3.0, 4.0], 99)
        (2.0, 4.0)
    """
    rank = max(1, -(-percentile * len(ordered) // 100))  # ceil without floats
    return ordered[rank - 1]


class Prometheus:
    """The server's metrics in Prometheus' text format, in a registry of their own.

    `model_name_serve_requests_total{status}`, `model_name_serve_errors_total`,
    `model_name_serve_request_seconds` (a histogram) and `model_name_serve_model_version`.
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "model_name_serve_requests",
            "Requests to /invocations, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "model_name_serve_errors", "Requests answered 4xx or 5xx.", registry=self.registry
        )
        self.latency = Histogram(
            "model_name_serve_request_seconds",
            "Time to answer /invocations.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.version = Gauge(
            "model_name_serve_model_version",
            "The registered model version served.",
            ["name", "alias"],
            registry=self.registry,
        )

    def record(self, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(status=str(status)).inc()
        if status >= 400:
            self.errors.inc()
        self.latency.observe(seconds)

    def serving(self, name: str, alias: str | None, version: int) -> None:
        """Say which version is served (after a switch)."""
        self.version.clear()
        self.version.labels(name=name, alias=alias or "").set(version)

    def render(self) -> tuple[bytes, str]:
        """Return the text exposition and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        body: Any = generate_latest(self.registry)
        return bytes(body), str(CONTENT_TYPE_LATEST)
