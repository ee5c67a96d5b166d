"""The partitions of a run as tasks on Dask's distributed scheduler.

Each partition is one task (`predict.predict_partition`) sent with `Client.submit`: a worker
reads its rows from the input file, checks them, predicts and writes its own part file. The model
is loaded from a local folder the driver downloaded into the work folder (beside the output), once
per worker process (`predict.cached_model`), so a worker needs neither the tracking server nor
the registry: only the package, the input file and the output's folder, at the same paths.

A worker that dies has its tasks run again on another one by the scheduler (at most
`distributed.scheduler.allowed-failures` times, 3 by default): the part is written again under
the same name, atomically, so no row is written twice. A task that raises (a bad value, a check
that refuses a batch) is not retried: the data would fail again; the error ends the run as it
was raised on the worker, the other tasks cancelled.

Example:
    predict_on_dask(task, partitions, "tcp://127.0.0.1:8786", 2, on_rows=print)
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from model_name.batches.predict import Task, predict_partition
from model_name.batches.sources import Partition


def predict_on_dask(
    task: Task,
    partitions: list[Partition],
    scheduler: str | None,
    workers: int,
    on_rows: Callable[[int], Any],
) -> None:
    """Run the partitions as tasks on the scheduler (or a local cluster), as they complete.

    Args:
        task: what every task needs; its `model_path` is a folder the workers can read.
        partitions: the partitions to predict.
        scheduler: the scheduler's address (`tcp://host:8786`); `None` starts a local cluster.
        workers: the local cluster's number of worker processes (one thread each).
        on_rows: called with a partition's rows when its part is written.

    Raises:
        Whatever a task raised, untouched.
    """
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
    try:
        with Client(scheduler or cluster) as client:  # type: ignore[no-untyped-call]
            run = uuid.uuid4().hex[:8]  # keys of this run only, on a scheduler shared by others
            futures = [
                client.submit(
                    predict_partition,
                    task,
                    partition,
                    key=f"predict-{run}-{partition.index}",
                    pure=False,
                    retries=0,
                )
                for partition in partitions
            ]
            try:
                for future in as_completed(futures):  # type: ignore[no-untyped-call]
                    on_rows(future.result())
            finally:
                client.cancel(futures)
    finally:
        if cluster is not None:
            cluster.close()
