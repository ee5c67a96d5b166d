"""The serve job against `mlflow models serve`: the same version, the same client, side by side.

Usage:
    uv run python benchmarks/bench_serve.py [--requests N] [--clients C] [--keep]

In a scratch folder: one training and one promotion (version 1 of `model_name`, a scaler and a
ridge), then each server in turn on 127.0.0.1, started as a process (`model_name run serve`, and
`mlflow models serve -m models:/model_name/1 --env-manager local`, one worker each), timed from
the start of the process to its first 200 on `/ready` (`/ping` for MLflow). The same client (C
threads, keep-alive connections, httpx) then sends N requests of one row, then N/4 of 100 rows,
after 50 warm-up requests; requests per second, p50 and p99 latency, and failed requests.
The servers are stopped (SIGTERM, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
ROW = [0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]
BIN = Path(sys.executable).parent


def payload(rows: int) -> dict[str, object]:
    """A `dataframe_split` request of `rows` rows (each row a little different)."""
    data = [[value + i * 1e-4 for value in ROW] for i in range(rows)]
    return {"dataframe_split": {"columns": FEATURES, "data": data}}


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
def started(argv: list[str], folder: Path, env: dict[str, str], ready: str) -> Iterator[float]:
    """Start a server; yield the seconds from its start to a 200 on `ready`; always stop it."""
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
        yield time.perf_counter() - began
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
        log.close()


def load(url: str, rows: int, requests: int, clients: int) -> dict[str, float]:
    """Send `requests` requests of `rows` rows from `clients` threads; measure them.

    The client is the standard library's `http.client` on one keep-alive connection a thread:
    lighter than httpx, so that on two cores the servers, not the client, set the pace.
    """
    body = json.dumps(payload(rows)).encode()
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    per_client = requests // clients

    def connect() -> http.client.HTTPConnection:
        # No Nagle: http.client sends the headers and the body in two writes, and the second
        # would wait for the server's delayed ACK (40 ms a request, whatever the server).
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def post(connection: http.client.HTTPConnection) -> bool:
        connection.request(
            "POST", "/invocations", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        answer = response.read()
        return response.status == 200 and len(json.loads(answer)["predictions"]) == rows

    def client() -> None:
        mine: list[float] = []
        failed = 0
        connection = connect()
        for _ in range(per_client):
            began = time.perf_counter()
            try:
                ok = post(connection)
            except (OSError, http.client.HTTPException):
                ok = False
                connection.close()
                connection = connect()
            mine.append(time.perf_counter() - began)
            failed += not ok
        connection.close()
        with lock:
            latencies.extend(mine)
            failures[0] += failed

    warm = connect()
    for _ in range(50):
        post(warm)
    warm.close()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "failed": float(failures[0]),
    }


def main() -> int:
    """Run the comparison and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000, help="one-row requests (2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (8)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "MODEL_"))
    }
    env |= {
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # mlflow runs `uvicorn` from the PATH
    }
    try:
        prepare(folder, env)
        ours_port, theirs_port = free_port(), free_port()
        servers = {
            "model_name run serve": (
                [str(BIN / "model_name"), "run", "serve", "--set", f"jobs.serve.port={ours_port}",
                 "--set", "alerts.enable=false", "--set", "logger.level=WARNING"],
                f"http://127.0.0.1:{ours_port}", "/ready",
            ),
            "mlflow models serve": (
                [str(BIN / "mlflow"), "models", "serve", "-m", "models:/model_name/1",
                 "--env-manager", "local", "--host", "127.0.0.1", "--port", str(theirs_port)],
                f"http://127.0.0.1:{theirs_port}", "/ping",
            ),
        }  # fmt: skip
        results: dict[str, dict[str, dict[str, float]]] = {}
        for name, (argv, url, ready) in servers.items():
            with started(argv, folder, env, url + ready) as seconds:
                results[name] = {"start": {"ready_s": seconds}}
                for rows, count in ((1, args.requests), (100, args.requests // 4)):
                    results[name][f"{rows} row"] = load(url, rows, count, args.clients)
        report(results, args)
    finally:
        if args.keep:
            print(f"scratch folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


def report(results: dict[str, dict[str, dict[str, float]]], args: argparse.Namespace) -> None:
    """Print one line a measure, and the ratios."""
    ours, theirs = results["model_name run serve"], results["mlflow models serve"]
    print(f"\n{args.clients} concurrent clients, {args.requests} one-row and "
          f"{args.requests // 4} 100-row requests, keep-alive, 127.0.0.1\n")  # fmt: skip
    print(f"{'measure':28} {'model_name serve':>18} {'mlflow models serve':>20} {'ratio':>8}")
    start_ours, start_theirs = ours["start"]["ready_s"], theirs["start"]["ready_s"]
    print(f"{'start to ready (s)':28} {start_ours:18.2f} {start_theirs:20.2f} "
          f"{start_ours / start_theirs:8.2f}")  # fmt: skip
    for load_name in ("1 row", "100 row"):
        a, b = ours[load_name], theirs[load_name]
        for key, label in (("rps", "req/s"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms")):
            print(f"{load_name + ' ' + label:28} {a[key]:18.1f} {b[key]:20.1f} "
                  f"{a[key] / b[key]:8.2f}")  # fmt: skip
        print(f"{load_name + ' failed':28} {a['failed']:18.0f} {b['failed']:20.0f}")


if __name__ == "__main__":
    sys.exit(main())
