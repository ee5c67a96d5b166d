"""The partitions of a run as tasks on Dask's distributed scheduler.

A task is a run of consecutive partitions (`predict.predict_partitions`) sent with
`Client.submit`: a worker reads each one's rows from the input file, checks them, predicts and
writes its part file. A task holds several partitions because Dask adds a few milliseconds to
each task on a busy worker, up to a third of the 30 ms of predicting 100,000 rows: there are
`TASKS_PER_THREAD` tasks for each thread of the cluster, enough to keep every thread busy to
the end and to run little again when a worker dies. The model is loaded from a local folder the
driver downloaded into the work folder (beside the output), once per worker process
(`predict.cached_model`), so a worker needs neither the tracking server nor the registry: only
the package, the input file and the output's folder, at the same paths.

A worker that dies has its tasks run again on another one by the scheduler (at most
`distributed.scheduler.allowed-failures` times, 3 by default): the parts it wrote are kept and
the others written under the same names, atomically, so no row is written twice. A task that
raises (a bad value, a check that refuses a batch) is not retried: the data would fail again;
the error ends the run as it was raised on the worker, the other tasks cancelled.

Example:
    predict_on_dask(task, partitions, "tcp://127.0.0.1:8786", 2, on_part=print)
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from typing import Any

from model_name.batches.predict import Task, predict_partitions
from model_name.batches.sources import Partition

TASKS_PER_THREAD = 4
"""Tasks for each worker thread: a late or lost task is a quarter of a thread's share."""


def predict_on_dask(
    task: Task,
    partitions: list[Partition],
    scheduler: str | None,
    workers: int,
    on_part: Callable[[Partition, int], Any],
) -> None:
    """Run the partitions as tasks on the scheduler (or a local cluster), as they complete.

    Args:
        task: what every task needs; its `model_path` is a folder the workers can read.
        partitions: the partitions to predict.
        scheduler: the scheduler's address (`tcp://host:8786`); `None` starts a local cluster.
        workers: the local cluster's number of worker processes (one thread each).
        on_part: called with a partition and its rows once its part is written.

    Raises:
        Whatever a task raised, untouched.
    """
    from distributed import Client, as_completed

    cluster = local_cluster(workers) if scheduler is None else None
    try:
        with Client(scheduler or cluster) as client:  # type: ignore[no-untyped-call]
            run = uuid.uuid4().hex[:8]  # keys of this run only, on a scheduler shared by others
            threads = sum(client.nthreads().values())
            futures = {
                client.submit(
                    predict_partitions,
                    task,
                    group,
                    key=f"predict-{run}-{group[0].index}",
                    pure=False,
                    retries=0,
                ): group
                for group in consecutive(partitions, max(1, threads) * TASKS_PER_THREAD)
            }
            try:
                for future in as_completed(futures):  # type: ignore[no-untyped-call]
                    for partition, rows in zip(futures[future], future.result(), strict=True):
                        on_part(partition, rows)
            finally:
                client.cancel(list(futures))
    finally:
        if cluster is not None:
            cluster.close()


def local_cluster(workers: int) -> Any:
    """Start a `distributed.LocalCluster` of `workers` processes of one thread, no dashboard.

    With no dashboard to show them, the workers do not profile their tasks (Dask samples a
    running task's stack every 10 ms for it).
    """
    import dask.config
    from distributed import LocalCluster

    # a worker process takes the configuration its nanny was created with
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        return LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )


def consecutive(partitions: list[Partition], count: int) -> list[list[Partition]]:
    """Cut partitions into at most `count` runs of consecutive ones, of sizes within one.

    Example:
        >>> [len(run) for run in consecutive([Partition(i, i, 1) for i in range(10)], 4)]
        [2, 3, 2, 3]
    """
    count = min(count, len(partitions))
    if count == 0:
        return []
    bounds = [len(partitions) * number // count for number in range(count + 1)]
    return [partitions[start:stop] for start, stop in itertools.pairwise(bounds)]
