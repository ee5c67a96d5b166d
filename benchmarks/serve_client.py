"""The serve benchmark's client: requests from threads on keep-alive connections, measured.

`load` sends a bounded number of `dataframe_split` requests to `/invocations` and returns
requests per second, p50 and p99 latency and failed requests; `cpu_seconds` reads the CPU time a
server's process group has used, from `/proc`.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading
import time
from pathlib import Path

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
ROW = [0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]


def payload(rows: int) -> dict[str, object]:
    """A `dataframe_split` request of `rows` rows (each row a little different)."""
    data = [[value + i * 1e-4 for value in ROW] for i in range(rows)]
    return {"dataframe_split": {"columns": FEATURES, "data": data}}


def cpu_seconds(group: int) -> float:
    """The CPU time (user + system) used so far by the live processes of a process group.

    `mlflow models serve` runs uvicorn as a child process: the group counts both.
    """
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ...
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


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

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": float(len(latencies)),
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "failed": float(failures[0]),
    }
