"""The outbox under a server outage: stop the tracking server mid-run, start it again, count.

Each round starts a loopback `mlflow server` (SQLite backend, local artifacts), runs
`model_name run check` logging a heartbeat point every 0.5 s, stops the server (SIGTERM to its
process group) two seconds into the run for `--down` seconds, starts it again on the same store
and port, and waits for the job. Then it counts, on the server: the heartbeat points against the
number the job says it logged (lost, and stored twice), the run's status and its artifacts.

Usage:
    uv run --no-sync python benchmarks/bench_outbox.py [--rounds 5] [--down 30]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / ".venv" / "bin"

sys.path.insert(0, str(REPO))  # the loopback server helper the tests use
from tests.helpers.servers import free_port, start_server, stop  # noqa: E402


def one_round(folder: Path, down: float) -> dict[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(folder, port=port).process
    log = folder / "job.log"
    job = subprocess.Popen(
        [
            str(BIN / "model_name"), "run", "check",
            "--set", f"mlflow.tracking_uri={url}", "--set", "alerts.enable=false",
            "--set", f"logger.sink={log}", "--set", "logger.level=DEBUG",
            "--set", f"jobs.check.hold_seconds={down + 6}", "--set", "jobs.check.beat_seconds=0.5",
            "--set", "mlflow.metrics_flush_seconds=1",
        ],
        cwd=folder, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        while "Check run " not in (log.read_text() if log.exists() else ""):
            if job.poll() is not None:
                raise RuntimeError(
                    f"the job ended early: {job.stderr.read() if job.stderr else ''}"
                )
            time.sleep(0.1)
        time.sleep(2)
        stop(server)
        time.sleep(down)
        server = start_server(folder, port=port).process  # the same store, the same address
        job.communicate(timeout=600)
        from mlflow import MlflowClient

        text = log.read_text()
        run_id = text.split("Check run ", 1)[1].split()[0]
        found = re.search(r"Check done: (\d+) heartbeat", text)
        logged = int(found.group(1)) if found else -1
        client = MlflowClient(url)
        steps = [point.step for point in client.get_metric_history(run_id, "heartbeat")]
        artifacts = sorted(a.path for a in client.list_artifacts(run_id))
        return {
            "exit": job.returncode,
            "logged": logged,
            "stored": len(steps),
            "lost": len(set(range(logged)) - set(steps)),
            "twice": len(steps) - len(set(steps)),
            "status": client.get_run(run_id).info.status,
            "artifacts": artifacts,
        }
    finally:
        if job.poll() is None:
            job.kill()
        stop(server)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--down", type=float, default=30.0)
    args = parser.parse_args(argv)
    failures = 0
    for index in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench-outbox-") as folder:
            result = one_round(Path(folder), args.down)
        ok = result["exit"] == 0 and result["lost"] == 0 and result["status"] == "FINISHED"
        ok = ok and result["artifacts"] == ["config.yaml", "logs"]
        failures += not ok
        print(json.dumps({"round": index + 1, "down_s": args.down, **result, "ok": ok}), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
