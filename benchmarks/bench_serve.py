"""The serve job against `mlflow models serve`: the same version, the same client, interleaved.

Usage:
    uv run python benchmarks/bench_serve.py [--rounds R] [--requests N] [--clients C] [--keep]
    uv run python benchmarks/run.py --only serve        (the same, in the results table)

In a scratch folder: one training and one promotion (version 1 of `model_name`, a scaler and a
ridge). Each server is started as a process on 127.0.0.1, one after the other, timed from the
start of the process to its first 200 on `/ready` (`/ping` for MLflow): `model_name run serve`,
and `mlflow models serve -m models:/model_name/1 --env-manager local` (one worker each). Both
then stay up, and the same client (C threads, one keep-alive `http.client` connection each) sends,
in each of R rounds, N one-row requests then N/4 100-row requests to each server, the order of the
two servers alternating from round to round, after 50 warm-up requests to each. Each round gives
each server's requests per second, p50 and p99 latency and failed requests; the table reports the
medians and the median of the per-round ratios (serve / mlflow). The servers are stopped
(SIGTERM, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from harness import BenchmarkError, Stats, clean_env, say
from report import Row, render_text
from serve_client import cpu_seconds, load
from stores import fresh_store

BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def prepare(folder: Path, env: dict[str, str]) -> None:
    """Train and promote version 1 in `folder`."""
    for job in ("training", "promotion"):
        subprocess.run(
            [str(BIN / "model_name"), "run", job, "--set", "alerts.enable=false"],
            cwd=folder, env=env, check=True, capture_output=True,
        )  # fmt: skip


@contextmanager
def started(
    argv: list[str], folder: Path, env: dict[str, str], ready: str
) -> Iterator[tuple[float, int]]:
    """Start a server; yield the seconds from its start to a 200 on `ready`, and its process
    group; always stop it."""
    log = (folder / f"server-{time.monotonic_ns()}.log").open("w")
    began = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited {process.returncode}: see {log.name}")
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} not ready after 180 s")
            time.sleep(0.05)
        yield time.perf_counter() - began, process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
        log.close()


OURS, THEIRS = "model_name run serve", "mlflow models serve"
LOADS = ((1, 1), (100, 4))
"""The payloads: (rows a request, divisor of the request count)."""


def measure(
    folder: Path,
    rounds: int,
    requests: int = 1000,
    clients: int = 8,
    template: Path | None = None,
) -> list[Row]:
    """Prepare version 1 in `folder`, start both servers, run the interleaved rounds.

    Args:
        folder: a scratch folder (created) for the store, the models and the servers' logs.
        template: a migrated SQLite store to start from (`None`: the training migrates one).
        rounds: interleaved rounds of both loads on both servers.
        requests: one-row requests a server and round (a quarter as many 100-row requests).
        clients: concurrent client threads.

    Raises:
        BenchmarkError: the preparation or a server failed.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if template is not None:
        fresh_store(template, folder)
    env = clean_env(
        {
            "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow runs `uvicorn`
        }
    )
    say("  training and promotion (not measured)")
    try:
        prepare(folder, env)
    except subprocess.CalledProcessError as error:
        raise BenchmarkError(f"preparing the model failed: {error.stderr!r:.2000}") from error
    ours_port, theirs_port = free_port(), free_port()
    servers = {
        OURS: (
            [str(BIN / "model_name"), "run", "serve", "--set", f"jobs.serve.port={ours_port}",
             "--set", "alerts.enable=false", "--set", "logger.level=WARNING"],
            f"http://127.0.0.1:{ours_port}", "/ready",
        ),
        THEIRS: (
            [str(BIN / "mlflow"), "models", "serve", "-m", "models:/model_name/1",
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(theirs_port)],
            f"http://127.0.0.1:{theirs_port}", "/ping",
        ),
    }  # fmt: skip
    starts: dict[str, float] = {}
    groups: dict[str, int] = {}
    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        with contextlib.ExitStack() as stack:
            for name, (argv, url, ready) in servers.items():
                say(f"  starting {name}")
                starts[name], groups[name] = stack.enter_context(
                    started(argv, folder, env, url + ready)
                )
            for _, url, _ in servers.values():
                for rows, _ in LOADS:
                    load(url, rows, 50, 1)  # warm-up: imports, first predictions
            for round_ in range(rounds):
                order = [OURS, THEIRS] if round_ % 2 == 0 else [THEIRS, OURS]
                say(f"  round {round_ + 1}/{rounds}: {' then '.join(order)}")
                for rows, divisor in LOADS:
                    for name in order:
                        count = requests // divisor
                        cpu = cpu_seconds(groups[name])
                        result = load(servers[name][1], rows, count, clients)
                        used = cpu_seconds(groups[name]) - cpu
                        result["cpu_ms"] = 1000 * used / result["requests"]
                        samples.setdefault((name, rows), []).append(result)
    except RuntimeError as error:
        raise BenchmarkError(str(error)) from error
    return rows_of(starts, samples, requests, clients)


def rows_of(
    starts: dict[str, float],
    samples: dict[tuple[str, int], list[dict[str, float]]],
    requests: int,
    clients: int,
) -> list[Row]:
    """The results table's rows: start to ready, then each load's throughput and latency."""
    table = [
        Row(
            "serve: start to ready (s)",
            f"{starts[OURS]:.2f} s",
            f"{THEIRS} {starts[THEIRS]:.2f} s",
            f"{starts[OURS] / starts[THEIRS]:.2f}x",
            "(information)",
        )
    ]
    for rows, divisor in LOADS:
        ours, theirs = samples[(OURS, rows)], samples[(THEIRS, rows)]
        what = f"serve: {rows}-row requests ({requests // divisor} a round, {clients} clients)"
        failed = sum(sample["failed"] for sample in ours)
        for key, unit, target, bound in (
            ("rps", "req/s", ">= 1.5x, none failed", 1.5),
            ("p50_ms", "ms p50", "(information)", None),
            ("p99_ms", "ms p99", "<= 1.0x", 1.0),
            ("cpu_ms", "ms CPU a request (server)", "(information)", None),
        ):
            ratios = Stats.of(a[key] / b[key] for a, b in zip(ours, theirs, strict=True))
            measured = Stats.of(sample[key] for sample in ours).format(unit, 1)
            if key == "rps":
                measured += f", {failed:.0f} failed"
            table.append(
                Row(
                    f"{what}: {unit}",
                    measured,
                    f"{THEIRS} {statistics.median(b[key] for b in theirs):.1f} {unit}",
                    f"{ratios.median:.2f}x [{ratios.low:.2f}-{ratios.high:.2f}] per round",
                    target,
                    _verdict(key, ratios.median, bound, failed),
                )
            )
    return table


def _verdict(key: str, ratio: float, bound: float | None, failed: float) -> bool | None:
    """Throughput at least `bound` with no failed request; latency at most `bound`."""
    if bound is None:
        return None
    return ratio >= bound and not failed if key == "rps" else ratio <= bound


def main() -> int:
    """Run the comparison and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--requests", type=int, default=1000, help="one-row requests (1000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    say("load average at start: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))
    try:
        table = measure(folder, args.rounds, args.requests, args.clients)
    finally:
        if args.keep:
            say(f"scratch folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    say("load average at end: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))
    print(render_text(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
