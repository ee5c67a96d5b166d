"""Run every benchmark and print one results table with ratios and PASS/MISS verdicts.

Usage:
    uv run python benchmarks/run.py [--repeat N] [--quick] [--only NAME]... [--markdown FILE]

Every measurement is compared with its reference in the same run: the light commands with
`python -c pass`, the no-op job with a hand-written script (paired runs), and metric logging
through the service with a naive `mlflow.log_metric` loop, on SQLite and on a loopback MLflow
server that this script starts on 127.0.0.1 and always stops, 1,000,000 points through a job
against synchronous `log_batch` calls, a 12-trial tuning study (one worker and two) with the same
study run by bare Optuna, the lifecycle pipeline against the same five commands
(benchmarks/bench_pipelines.py), the serve job against `mlflow models serve` of the same
version, interleaved rounds of the same client (benchmarks/bench_serve.py), contract checks
with lineage against the inference work they guard, at 5,000,000 rows
(benchmarks/bench_contracts.py), and streaming inference on 1, 5 and 20 M-row Parquet files
against whole-table inference and two Dask workers (benchmarks/bench_inference.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
import types
from pathlib import Path

import bench_alerts
import bench_cli
import bench_contracts
import bench_gate
import bench_inference
import bench_job
import bench_metrics
import bench_million
import bench_pipelines
import bench_serve
import bench_tuning
from harness import BenchmarkError, say
from report import Row, machine, render_markdown, render_text
from stores import fresh_store, migrated_template, mlflow_server, sqlite_uri

BENCHMARKS = (
    "cli",
    "job",
    "alerts",
    "metrics-sqlite",
    "metrics-http",
    "million",
    "gate",
    "tuning",
    "pipelines",
    "serve",
    "contracts",
    "inference",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=__doc__.split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument(
        "--repeat", type=int, default=7, help="measured rounds / pairs after a warm-up (7)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 2 rounds, fewer naive points (numbers are rougher)",
    )
    parser.add_argument(
        "--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)"
    )
    parser.add_argument(
        "--naive-steps-sqlite",
        type=int,
        help="steps of 10 points the naive loop logs on SQLite (1000; --quick: 100)",
    )
    parser.add_argument(
        "--naive-steps-http",
        type=int,
        help="steps of 10 points the naive loop logs over HTTP (100; --quick: 20)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the results to this file")
    parser.add_argument("--check", action="store_true", help="exit with 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat = min(args.repeat, 2)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.naive_steps_sqlite = args.naive_steps_sqlite or (100 if args.quick else 1000)
    args.naive_steps_http = args.naive_steps_http or (20 if args.quick else 100)
    args.only = args.only or list(BENCHMARKS)
    return args


def run(args: argparse.Namespace, scratch: Path) -> list[Row]:
    """Run the selected benchmarks in `scratch` and return the table's rows."""
    rows: list[Row] = []
    if "cli" in args.only:
        say("light commands vs python -c pass (console script run from .venv/bin, not uv run)")
        rows += bench_cli.measure(args.repeat)
    if "inference" in args.only:
        say("inference: streaming at 1/5/20 M rows vs whole-table; Dask (2 workers) vs 1 process")
        sizes = (1_000_000, 2_000_000, 4_000_000) if args.quick else bench_inference.SIZES
        rows += bench_inference.measure(scratch / "inference", min(args.repeat, 3), sizes)
    if not set(BENCHMARKS[1:]) & set(args.only) - {"inference"}:
        return rows
    template = migrated_template(scratch)
    if "job" in args.only:
        say("no-op job `model_name run check` vs benchmarks/reference_job.py (paired)")
        rows += bench_job.measure(template, scratch / "job", args.repeat)
    if "alerts" in args.only:
        say("alert channels: `model_name run check` with 0, 1 and 3 json:// channels")
        rows += bench_alerts.measure(template, scratch / "alerts", args.repeat)
    service_rounds = 1 if args.quick else 3
    if "metrics-sqlite" in args.only:
        say("metric logging on SQLite")
        store = fresh_store(template, scratch / "metrics-sqlite")
        plan = bench_metrics.Plan(
            "SQLite", sqlite_uri(store), 1000, args.naive_steps_sqlite, service_rounds, 40, 40
        )
        rows += bench_metrics.measure(plan, timeout=600)
    if "metrics-http" in args.only:
        say("metric logging over HTTP (mlflow server on 127.0.0.1)")
        with mlflow_server(template, scratch / "metrics-http") as url:
            plan = bench_metrics.Plan(
                "HTTP", url, 1000, args.naive_steps_http, service_rounds, 100, 200
            )
            rows += bench_metrics.measure(plan, timeout=600)
    if "million" in args.only:
        steps = 20_000 if args.quick else 100_000
        say(f"{steps * 10:,} metric points: a job vs synchronous log_batch calls (SQLite)")
        rows += bench_million.measure(template, scratch / "million", steps)
    if "gate" in args.only:
        say("evaluation and explanations jobs on the diabetes set (after one training)")
        rows += bench_gate.measure(template, scratch / "gate", min(args.repeat, 3))
    if "tuning" in args.only:
        say("12-trial study: tuning job (1 and 2 workers, journal file) vs bare Optuna")
        # a round is about a minute on 2 cores: two rounds keep the benchmark under 3 minutes
        rows += bench_tuning.measure(template, scratch / "tuning", min(args.repeat, 2))
    if "pipelines" in args.only:
        say("lifecycle pipeline vs five commands; re-run; input fingerprint of a 500 MB file")
        rows += bench_pipelines.measure(template, scratch / "pipelines", min(args.repeat, 2))
    if "serve" in args.only:
        say("serve job vs `mlflow models serve`: start to ready, interleaved rounds of requests")
        # a round is about 10-30 s on 2 cores (4 x 1,000 one-row and 250 100-row requests)
        rows += bench_serve.measure(scratch / "serve", min(args.repeat, 5), template=template)
    if "contracts" in args.only:
        rows_ = 1_000_000 if args.quick else bench_contracts.ROWS
        say(f"contract checks and lineage vs inference on {rows_:,} rows of diabetes features")
        rows += bench_contracts.measure(template, scratch / "contracts", min(args.repeat, 5), rows_)
    return rows


def _terminate(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str]) -> int:
    """Run the benchmarks, print the table; return 0, or 1 on failure (or a miss with --check)."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # unwind like Ctrl-C: servers get stopped
    command = " ".join(["uv run python benchmarks/run.py", *argv])
    started = time.perf_counter()
    say("load average at start: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))
    scratch = Path(tempfile.mkdtemp(prefix="model_name-bench-"))
    try:
        rows = run(args, scratch)
    except BenchmarkError as error:
        print(f"benchmarks: FAILED: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("benchmarks: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            say(f"scratch folder kept: {scratch}")
        else:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.perf_counter() - started

    info = machine()
    print()
    print(f"command: {command}  ({elapsed:.0f} s)")
    print("; ".join(f"{key}: {value}" for key, value in info.items()))
    print("Light commands run the console script .venv/bin/model_name directly (no `uv run`).")
    print("Figures: median [min-max, n=samples]; ratios are measured / reference.")
    print()
    print(render_text(rows))
    misses = [row.name for row in rows if row.passed is False]
    print()
    print(f"{len(rows) - len(misses)} rows pass or informational, {len(misses)} miss")
    if args.markdown:
        lines = [f"- {key}: {value}" for key, value in info.items()]
        lines += [f"- command: `{command}` ({elapsed:.0f} s)", "", render_markdown(rows), ""]
        args.markdown.write_text("\n".join(lines), encoding="utf-8")
    return 1 if misses and args.check else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
