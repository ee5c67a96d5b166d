"""Inference on large Parquet files: streaming against whole-table, and on two Dask workers.

Synthetic diabetes features at 1 M, 5 M and 20 M rows are generated in the scratch folder
(`inference_worker.py generate`, row groups of 100,000 rows; about 90 bytes a row on disk) with a
ridge model saved beside them. Each measurement is a child process (`inference_worker.py`),
reaped with `os.wait4` for its exact peak memory; its own time is measured from the model loaded
to the output written (the interpreter's and MLflow's imports left out, the same for both).

- peak memory of streaming inference at 1 M, 5 M and 20 M rows (target: within 10%), against
  the whole-table inference the job did before, at 5 M rows (target: at least 4x less);
- rows per second, streaming against whole-table at 1 M rows, in interleaved pairs (target: at
  least 0.9x);
- a local Dask cluster of two worker processes (`cluster.local_cluster`, as the job starts it)
  against streaming in one process on the same file, in interleaved pairs, from the model loaded
  (in the process, and in every worker) to the output written: on the 20 M-row file (target:
  1.4x faster), and on the 5 M-row one (information: a second of work, where the fixed costs of
  a run on Dask weigh); then end to end, the local cluster's start and each worker's load of the
  model counted (information); and the scheduler's overhead per task (no-op tasks).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from harness import PYTHON, REPO, BenchmarkError, Sample, Stats, run_process, say
from report import Row

WORKER = str(REPO / "benchmarks" / "inference_worker.py")
SIZES = (1_000_000, 5_000_000, 20_000_000)
TIMEOUT = 900.0


def _run(*argv: str) -> tuple[Sample, dict[str, float]]:
    sample = run_process([PYTHON, WORKER, *argv], timeout=TIMEOUT)
    lines = sample.stdout.strip().splitlines()
    if not lines:
        return sample, {}
    try:
        return sample, json.loads(lines[-1])
    except ValueError as error:
        raise BenchmarkError(f"{argv[0]}: no result line ({error}): {lines[-1]}") from None


def _infer(mode: str, inputs: Path, folder: Path, model: Path) -> tuple[Sample, dict[str, float]]:
    output = folder / f"{mode}-{inputs.stem}.parquet"
    sample, result = _run(mode, str(inputs), str(output), str(model))
    output.unlink(missing_ok=True)
    return sample, result


def measure(folder: Path, repeat: int, sizes: tuple[int, ...] = SIZES) -> list[Row]:
    """Generate the files, then measure memory, speed and the Dask engine; return the rows."""
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "model"
    _run("model", str(model))
    files = {}
    for rows in sizes:
        files[rows] = folder / f"features-{rows // 1_000_000}m.parquet"
        say(f"  generating {rows:,} rows")
        _run("generate", str(files[rows]), str(rows))
    small, middle = sizes[0], sizes[min(1, len(sizes) - 1)]

    peaks: dict[int, float] = {}
    for rows, path in files.items():
        say(f"  streaming inference, {rows:,} rows")
        peaks[rows] = _infer("stream", path, folder, model)[0].max_rss_mb
    say(f"  whole-table inference, {middle:,} rows")
    whole_peak = _infer("whole", files[middle], folder, model)[0].max_rss_mb

    speeds: list[float] = []
    stream_rates: list[float] = []
    whole_rates: list[float] = []
    for pair in range(repeat):
        say(f"  pair {pair + 1}/{repeat}: streaming and whole-table, {small:,} rows")
        order = ("stream", "whole") if pair % 2 == 0 else ("whole", "stream")
        rates = {}
        for mode in order:
            _, result = _infer(mode, files[small], folder, model)
            rates[mode] = result["rows"] / result["seconds"]
        stream_rates.append(rates["stream"])
        whole_rates.append(rates["whole"])
        speeds.append(rates["stream"] / rates["whole"])

    pairs = max(1, min(repeat, 3))
    dask = {rows: _dask_pairs(files[rows], pairs) for rows in (middle, sizes[-1])}
    big = sizes[-1]

    spread = max(peaks.values()) / min(peaks.values()) - 1
    less = whole_peak / peaks[middle]
    speed = Stats.of(speeds).median
    peak_list = ", ".join(f"{rows // 1_000_000} M: {peak:.0f} MiB" for rows, peak in peaks.items())
    return [
        Row(
            "streaming inference: peak memory, 1 M / 5 M / 20 M rows",
            peak_list,
            "",
            f"{spread * 100:.1f}% apart",
            "within 10%",
            spread <= 0.10,
        ),
        Row(
            f"streaming inference: peak memory at {middle // 1_000_000} M rows",
            f"{peaks[middle]:.0f} MiB",
            f"whole-table {whole_peak:.0f} MiB",
            f"{less:.1f}x less",
            ">= 4x less",
            less >= 4,
        ),
        Row(
            f"streaming inference: rows/s at {small // 1_000_000} M rows (paired)",
            Stats.of(stream_rates).format("rows/s", 0),
            f"whole-table {Stats.of(whole_rates).format('rows/s', 0)}",
            f"{speed:.2f}x",
            ">= 0.9x",
            speed >= 0.9,
        ),
        Row(
            f"Dask, 2 local workers, vs one process at {big // 1_000_000} M rows, model loaded",
            Stats.of(dask[big].dask_times).format("s", 1),
            f"one process {Stats.of(dask[big].local_times).format('s', 1)}",
            f"{dask[big].speedup:.2f}x faster",
            ">= 1.4x faster",
            dask[big].speedup >= 1.4,
        ),
        Row(
            f"the same at {middle // 1_000_000} M rows: 1 s of work, the fixed costs weigh",
            Stats.of(dask[middle].dask_times).format("s", 1),
            f"one process {Stats.of(dask[middle].local_times).format('s', 1)}",
            f"{dask[middle].speedup:.2f}x faster",
            target="(information)",
        ),
        Row(
            f"at {big // 1_000_000} M rows end to end: the cluster's start and model loads counted",
            Stats.of(dask[big].dask_totals).format("s", 1),
            f"one process {Stats.of(dask[big].local_totals).format('s', 1)}",
            f"{dask[big].end_to_end:.2f}x faster",
            target="(information)",
        ),
        Row(
            "Dask scheduler overhead per task (no-op tasks, 2 local workers)",
            Stats.of([*dask[middle].overheads, *dask[big].overheads]).format("ms", 1),
            target="(information)",
        ),
    ]


@dataclasses.dataclass
class DaskPairs:
    """Interleaved pairs of Dask (two local workers) and one process on the same file."""

    dask_times: list[float] = dataclasses.field(default_factory=list)
    local_times: list[float] = dataclasses.field(default_factory=list)
    dask_totals: list[float] = dataclasses.field(default_factory=list)
    local_totals: list[float] = dataclasses.field(default_factory=list)
    speedups: list[float] = dataclasses.field(default_factory=list)
    overheads: list[float] = dataclasses.field(default_factory=list)

    @property
    def speedup(self) -> float:
        """The median of the pairs' speed-ups (one process's time over Dask's)."""
        return Stats.of(self.speedups).median

    @property
    def end_to_end(self) -> float:
        """One process's median time over Dask's, the cluster's start and model loads counted."""
        return Stats.of(self.local_totals).median / Stats.of(self.dask_totals).median


def _dask_pairs(path: Path, pairs: int) -> DaskPairs:
    measured = DaskPairs()
    for pair in range(pairs):
        say(f"  pair {pair + 1}/{pairs}: Dask (two local workers) and one process, {path.name}")
        order = ("dask", "stream") if pair % 2 == 0 else ("stream", "dask")
        seconds, totals = {}, {}
        for mode in order:
            _, result = _infer(mode, path, path.parent, path.parent / "model")
            seconds[mode] = result["seconds"]
            totals[mode] = result["seconds"] + result["fixed_seconds"]
            if mode == "dask":
                measured.overheads.append(result["overhead_per_task"] * 1000)
        measured.dask_times.append(seconds["dask"])
        measured.local_times.append(seconds["stream"])
        measured.speedups.append(seconds["stream"] / seconds["dask"])
        measured.dask_totals.append(totals["dask"])
        measured.local_totals.append(totals["stream"])
    return measured
