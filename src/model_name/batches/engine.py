"""The partitions of a run predicted, in this process or on Dask, with progress in rows.

`predict_all` predicts the partitions whose part is not written yet, counting rows on a bar (a
terminal) or in one line per interval (a log file), the rows of parts already written counted
as done from the start. The local engine predicts them in order, one at a time: memory holds one
partition. The Dask engine (`cluster`) sends them as tasks.

Example:
    predict_all(task, partitions, done, model, engine=Engine("local"), say=logger.info)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

from model_name.batches.predict import Task, predict_partition
from model_name.batches.sources import Partition
from model_name.io.progress import Progress

EngineName = Literal["local", "dask"]
"""Where the partitions are predicted: this process, or Dask's distributed scheduler."""

PROGRESS_INTERVAL = 10.0
"""Seconds between two progress lines in a log file (a terminal shows a bar instead)."""


@dataclasses.dataclass(frozen=True)
class Engine:
    """Where and how the partitions run.

    Attributes:
        name: `local` (this process) or `dask`.
        scheduler: a Dask scheduler's address (`tcp://host:8786`); `None` starts a local
            cluster of `workers` processes.
        workers: the local cluster's size when no scheduler is given.
    """

    name: EngineName = "local"
    scheduler: str | None = None
    workers: int = 2


def predict_all(
    task: Task,
    partitions: list[Partition],
    done: set[int],
    model: Any,
    *,
    engine: Engine,
    say: Callable[[str], Any],
    bar: bool | None = None,
    written: Callable[[int], Any] = lambda index: None,
) -> int:
    """Predict every partition not in `done`; return the number of rows predicted now.

    Args:
        task: what the partitions share (the Dask engine sends it to the workers).
        partitions: every partition of the table.
        done: the partitions whose part is already written: skipped.
        model: the model (the local engine); Dask workers load `task.model_path`.
        engine: where the partitions run.
        say: where a progress line goes when there is no bar.
        bar: draw a bar (`None`: when standard error is a terminal, not under CI).
        written: called with a partition's number once its part is written (in the order
            they complete: on Dask, not the order of the rows).

    Raises:
        Whatever reading, checking or predicting a partition raised, untouched.
    """
    todo = [partition for partition in partitions if partition.index not in done]
    total = sum(partition.rows for partition in partitions)
    already = total - sum(partition.rows for partition in todo)
    with Progress(
        total, "row", say, bar=bar, description="predicted", interval=PROGRESS_INTERVAL,
        initial=already,
    ) as progress:  # fmt: skip
        if engine.name == "dask":
            from model_name.batches.cluster import predict_on_dask

            def on_part(partition: Partition, rows: int) -> None:
                progress.advance(steps=rows)
                written(partition.index)

            predict_on_dask(task, todo, engine.scheduler, engine.workers, on_part)
        else:
            for partition in todo:
                progress.advance(steps=predict_partition(task, partition, model))
                written(partition.index)
    return total - already
