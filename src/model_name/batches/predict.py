"""One partition predicted: read, checked, its features to the model, its part file written.

`predict_partition` is what the local engine calls for each partition, and what a Dask task
runs on a worker for each of its partitions (`predict_partitions`): it gets everything it needs
in a picklable `Task`, and loads the model from a local path once per process (`cached_model`),
so a worker loads it for its first partition only.

Example:
    rows = predict_partition(task, partition, model=registries.load_model(uri))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_name.batches.parts import WorkFolder
from model_name.batches.sources import Partition, TableSource

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

Check = Callable[["pd.DataFrame", int], None]
"""A check of each batch before it is predicted: `check(batch, first_row)`, raising to refuse.

`first_row` is the position of the batch's first row in the table (0: the first data row); the
batch's index holds every row's position too. Whatever it raises ends the run, untouched."""

_MODELS: dict[str, Any] = {}
"""The models this process loaded, by path: a Dask worker loads a model once."""


@dataclasses.dataclass(frozen=True)
class Task:
    """What predicting any partition of a run needs, sent to each Dask worker as it is.

    Attributes:
        source: the table the partitions are read from.
        batch_rows: the most rows of a partition.
        features: the model's input columns, in its order (`None`: every column read).
        passthrough: input columns copied to the output before the prediction.
        prediction_column: the name of the predictions' column.
        folder: the work folder the parts are written to.
        check: the check of each batch, or `None`.
        model_path: a local folder of the model (`None`: the caller gives the model).
    """

    source: TableSource
    batch_rows: int
    features: list[str] | None
    passthrough: list[str]
    prediction_column: str
    folder: WorkFolder
    check: Check | None = None
    model_path: str | None = None


def cached_model(path: str) -> Any:
    """Return the MLflow pyfunc model in a local folder, loaded once per process."""
    if path not in _MODELS:
        from model_name.io import registries

        _MODELS[path] = registries.load_model(Path(path).as_uri())
    return _MODELS[path]


def loaded_models() -> list[str]:
    """The paths of the models this process holds (on a Dask worker: `client.run`)."""
    return sorted(_MODELS)


def predict_frame(task: Task, batch: pd.DataFrame, model: Any) -> pd.DataFrame:
    """Return a batch's output rows: its passthrough columns, then the predictions."""
    import numpy as np
    import pandas as pd

    from model_name.io import datasets

    kept = batch
    if task.features is None:  # a model without a signature: every column but the passthrough
        batch = batch.drop(columns=task.passthrough)
    features = datasets.numeric_features(batch, task.features)
    predictions = np.asarray(model.predict(features)).ravel()
    output = pd.DataFrame({column: kept[column].to_numpy() for column in task.passthrough})
    output[task.prediction_column] = predictions
    return output


def predict_partition(task: Task, partition: Partition, model: Any = None) -> int:
    """Read, check, predict and write one partition; return its number of rows.

    Args:
        task: what the run's partitions share.
        partition: the partition to predict.
        model: the model; `None` loads `task.model_path` (once per process).
    """
    batch = task.source.read(partition, task.batch_rows)
    if task.check is not None:
        task.check(batch, partition.first_row)
    if model is None:
        assert task.model_path is not None, "a task with no model names the model's folder"
        model = cached_model(task.model_path)
    task.folder.write_part(partition.index, predict_frame(task, batch, model))
    return len(batch)


def predict_partitions(task: Task, partitions: list[Partition]) -> list[int]:
    """Predict consecutive partitions (a Dask task); return each one's number of rows.

    A partition whose part is already written (by this task's earlier attempt, on a worker
    that died) is not predicted again.
    """
    rows = []
    for partition in partitions:
        written = task.folder.part(partition.index).exists()
        rows.append(partition.rows if written else predict_partition(task, partition))
    return rows
