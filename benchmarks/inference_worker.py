"""One measured inference in a child process: streaming, whole-table, or on a local Dask cluster.

Usage (run by benchmarks/bench_inference.py):
    python inference_worker.py generate PATH ROWS
    python inference_worker.py model FOLDER
    python inference_worker.py stream|whole|dask INPUT OUTPUT MODEL [BATCH_ROWS]

`generate` writes ROWS rows of synthetic diabetes features (the ten columns, floats like the
scaled originals) to a Parquet file in row groups of 100,000 rows, a group at a time. `model`
saves a ridge regression of the diabetes set with its signature (an MLflow pyfunc folder).
`stream` is the inference job's path (`model_name.batches`: partitions, part files, assembly);
`whole` is the job's path before it streamed (read the whole table, predict, write); `dask` is
the streaming path on a local cluster of two worker processes, then 200 no-op tasks to measure
the scheduler's overhead per task. Each prints one JSON line: the seconds from the model loaded
(by every worker too) to the output written, the fixed costs around it, the rows, and for `dask`
the overhead.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
GROUP_ROWS = 100_000


def generate(path: Path, rows: int) -> None:
    """Write `rows` rows of synthetic features, one row group of 100,000 rows at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    generator = np.random.default_rng(0)
    schema = pa.schema([(name, pa.float64()) for name in FEATURES])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, GROUP_ROWS):
            count = min(GROUP_ROWS, rows - start)
            values = generator.normal(0.0, 0.05, size=(count, len(FEATURES)))
            writer.write_table(pa.table(dict(zip(FEATURES, values.T, strict=True)), schema=schema))


def save_model(folder: Path) -> None:
    """Save a ridge regression of the diabetes set as an MLflow pyfunc folder."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import Ridge

    from model_name.io import datasets, registries

    frame = datasets.load_sample()
    features = datasets.numeric_features(frame.drop(columns=[datasets.SAMPLE_TARGET]))
    model = Ridge().fit(features, frame[datasets.SAMPLE_TARGET])
    mlflow.sklearn.save_model(
        model,
        str(folder),
        signature=infer_signature(features),
        pip_requirements=registries.requirements(),
    )


def _warm(model_path: str) -> None:
    """Load the model in this worker, and import what reading and writing a part needs."""
    import pyarrow.parquet  # noqa: F401

    from model_name.batches.predict import cached_model

    cached_model(model_path)


def _noop(value: int) -> int:
    return value


def infer(
    mode: str, inputs: Path, output: Path, model_path: Path, batch_rows: int
) -> dict[str, float]:
    """Predict for `inputs` into `output` the mode's way; return seconds, rows and costs.

    `seconds` runs from the model loaded (by this process, and for `dask` by every worker too)
    to the output written; `fixed_seconds` is what came before and after it: the model's load,
    and for `dask` the local cluster's start, each worker's load of the model, and the
    cluster's close.
    """
    from model_name.io import registries

    started = time.perf_counter()
    model = registries.load_model(model_path.as_uri())
    cluster = None
    if mode == "dask":
        from distributed import Client

        from model_name.batches.cluster import local_cluster

        cluster = local_cluster(2)  # as the job starts it
        with Client(cluster) as client:
            client.run(_warm, str(model_path))  # each worker loads the model and its readers
    loaded = time.perf_counter()
    try:
        rows = _predict(mode, inputs, output, model, model_path, batch_rows, cluster)
        finished = time.perf_counter()
    finally:
        if cluster is not None:
            cluster.close()
    result = {
        "seconds": finished - loaded,
        "fixed_seconds": loaded - started + time.perf_counter() - finished,
        "rows": float(rows),
    }
    if mode == "dask":
        result["overhead_per_task"] = _overhead()
    return result


def _predict(
    mode: str, inputs: Path, output: Path, model: Any, model_path: Path, batch_rows: int,
    cluster: Any,
) -> int:  # fmt: skip
    if mode == "whole":  # the inference job before it streamed
        import numpy as np
        import pandas as pd

        from model_name.io import datasets

        frame = datasets.read_table(inputs)
        signature = model.metadata.signature
        features = datasets.numeric_features(frame, signature.inputs.input_names())
        predictions = pd.DataFrame({"prediction": np.asarray(model.predict(features)).ravel()})
        datasets.write_table(predictions, output)
        return len(predictions)
    from model_name.batches import engine, parts, predict, sources
    from model_name.batches.output import Assembly

    features = model.metadata.signature.inputs.input_names()
    source = sources.table_source(inputs, features, [])
    partitions = source.plan(batch_rows)
    folder = parts.WorkFolder.for_output(output)
    done = folder.prepare({"run": time.time()})  # never resumed: each run starts clean
    task = predict.Task(
        source, batch_rows, features, [], "prediction", folder,
        model_path=str(model_path) if mode == "dask" else None,
    )  # fmt: skip
    where = engine.Engine("local")
    if cluster is not None:
        where = engine.Engine("dask", cluster.scheduler_address, 2)
    with Assembly(folder, output, len(partitions), ["prediction"]) as assembly:  # as the job
        engine.predict_all(
            task, partitions, done, model, engine=where, say=lambda line: None, bar=False,
            written=lambda index: assembly.add({index}),
        )  # fmt: skip
        return assembly.finish()


def _overhead(tasks: int = 200) -> float:
    """Seconds per task of no-op tasks on two local workers: what the scheduler adds."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.gather(client.map(_noop, range(10), pure=False))  # warm
        started = time.perf_counter()
        client.gather(client.map(_noop, range(tasks), pure=False))
        return (time.perf_counter() - started) / tasks


def main(argv: list[str]) -> int:
    """Run one command; print its JSON line."""
    if argv[0] == "generate":
        generate(Path(argv[1]), int(argv[2]))
    elif argv[0] == "model":
        save_model(Path(argv[1]))
    else:
        batch_rows = int(argv[4]) if len(argv) > 4 else GROUP_ROWS
        result = infer(argv[0], Path(argv[1]), Path(argv[2]), Path(argv[3]), batch_rows)
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
