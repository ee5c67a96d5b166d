"""What alert channels add to a job: `model_name run check` with 0, 1 and 3 json:// channels.

The channels point at a recording HTTP server on 127.0.0.1 (`tests/helpers/http_server.py`,
answering 200 at once), so what is measured is the channels' own cost: importing Apprise,
building each channel, one POST each (in parallel threads). The three variants run back to back
in each round, their order rotating; the added time is taken within the round (variant minus the
no-channel run) and its median reported. Every run's folder has a fresh SQLite store; the server
must have received exactly one alert per channel per run.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from harness import PYTHON, REPO, VENV_BIN, BenchmarkError, Sample, Stats, run_process, say
from report import Row
from stores import fresh_store

sys.path.insert(0, str(REPO))  # the test helpers: the recording HTTP server
from tests.helpers.http_server import start_http_server, stop_http_server

VARIANTS = (0, 1, 3)
"""Numbers of channels measured."""

TARGET_ADDED_SECONDS = 0.5
"""What one answering channel may add to a job's wall time (Apprise's import included)."""


def measure(template: Path, folder: Path, repeat: int) -> list[Row]:
    """Run the check job with 0, 1 and 3 channels, `repeat` rounds after a warm-up.

    Args:
        template: a migrated SQLite store to copy for every run.
        folder: a scratch folder for the runs.
        repeat: measured rounds.

    Raises:
        BenchmarkError: a run failed, or the server did not receive one alert per channel.
    """
    server, thread = start_http_server()
    try:
        rows = _notify_rows(server.netloc, repeat)
        samples: dict[int, list[Sample]] = {count: [] for count in VARIANTS}
        for round_ in range(repeat + 1):
            say(f"  round {round_}/{repeat}" + (" (warm-up)" if round_ == 0 else ""))
            order = VARIANTS[round_ % 3 :] + VARIANTS[: round_ % 3]
            for count in order:
                before = len(server.requests)
                sample = _run(template, folder / f"{round_}-{count}", server.netloc, count)
                if len(server.requests) - before != count:
                    raise BenchmarkError(
                        f"{count} channel(s): the server received "
                        f"{len(server.requests) - before} alert(s)"
                    )
                if round_:
                    samples[count].append(sample)
    finally:
        stop_http_server(server, thread)

    base = Stats.of(sample.seconds for sample in samples[0])
    base_cpu = Stats.of(sample.cpu_seconds for sample in samples[0])
    rows += [
        Row("job with 0 alert channels: wall time", base.format("s")),
        Row("job with 0 alert channels: CPU time (user+sys)", base_cpu.format("s")),
    ]
    for count in VARIANTS[1:]:
        for label, value in (
            ("wall time", lambda sample: sample.seconds),
            ("CPU time (user+sys)", lambda sample: sample.cpu_seconds),
        ):
            measured = Stats.of(value(sample) for sample in samples[count])
            added = Stats.of(
                value(with_channels) - value(without)
                for with_channels, without in zip(samples[count], samples[0], strict=True)
            )
            target = count == 1 and label == "wall time"
            rows.append(
                Row(
                    f"job with {count} alert channel(s) (json:// on 127.0.0.1): {label}",
                    measured.format("s"),
                    "0 channels (same round)",
                    f"{added.median:+.3f} s [{added.low:+.3f} to {added.high:+.3f}] per round",
                    f"<= +{TARGET_ADDED_SECONDS} s" if target else "(information)",
                    added.median <= TARGET_ADDED_SECONDS if target else None,
                )
            )
    return rows


def _notify_rows(netloc: str, repeat: int) -> list[Row]:
    """Time `AlertsService.notify` itself, cold (Apprise imported) and warm, in fresh processes.

    What a job pays for its channels is exactly this call (the rest of the job is unchanged);
    timed inside the process, it is far less noisy than whole-process wall times on busy cores.
    """
    say("  AlertsService.notify timed in fresh processes (alerts_worker.py)")
    worker = str(REPO / "benchmarks" / "alerts_worker.py")
    rows = []
    for count in VARIANTS:
        cold, warm = [], []
        for _ in range(repeat):
            sample = run_process([PYTHON, worker, netloc, str(count), "5"])
            timings = json.loads(sample.stdout)
            cold.append(timings["cold"])
            warm.append(statistics.median(timings["warm"]))
        for label, values in (("first alert (imports Apprise)", cold), ("next alerts", warm)):
            stats = Stats.of(values)
            rows.append(
                Row(
                    f"notify with {count} channel(s): {label}",
                    stats.format("s"),
                    target="<= 0.5 s" if count == 1 and values is cold else "(information)",
                    passed=stats.median <= 0.5 if count == 1 and values is cold else None,
                )
            )
    return rows


def _run(template: Path, run_dir: Path, netloc: str, count: int) -> Sample:
    fresh_store(template, run_dir)
    argv = [str(VENV_BIN / "model_name"), "run", "check", "--set", "alerts.enable=false"]
    if count:
        urls = " ".join(f"json://{netloc}/bench/{index}" for index in range(count))
        argv += ["--set", f"alerts.channels={urls}"]
    return run_process(argv, cwd=run_dir)
