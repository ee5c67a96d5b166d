"""Contract checks and lineage as a share of an inference-sized workload, at 5,000,000 rows.

A synthetic Parquet file of the ten diabetes features (each column normal with the bundled set's
mean and standard deviation: 5,000,000 rows, about 400 MB, in a temporary folder deleted after)
and a fitted scaler + ridge pipeline. Each round, in this process, one after the other:

- the inference work: read the Parquet file (pandas), predict with the pipeline, write the
  predictions as Parquet;
- the contract and lineage work on the same data: `check_frame` of the frame against the
  training contract's features (pandera, column by column) and `lineage.log_table` of the input
  and of the predictions inside an MLflow run on a SQLite store (digest of each file, no
  profiling).

The share is contracts + lineage over the whole (inference work + contracts + lineage), per
round, median; the target is at most 15%. The check alone against predicting alone is given for
information, as is `check_frame` over the same rows in batches of 500,000 (as streaming does).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from harness import REPO, Stats, say
from report import Row
from stores import fresh_store, sqlite_uri

ROWS = 5_000_000
BATCH_ROWS = 500_000
TARGET_SHARE = 0.15


def measure(template: Path, folder: Path, repeat: int, rows: int = ROWS) -> list[Row]:
    """Generate the file, run the paired rounds, return the table's rows."""
    import yaml

    from model_name.contracts import Contract

    declared = yaml.safe_load((REPO / "containers.yaml").read_text())["jobs"]["training"]
    contract = Contract.model_validate(declared["contract"]).model_copy(update={"target": "target"})
    store = sqlite_uri(fresh_store(template, folder))
    with tempfile.TemporaryDirectory(prefix="model_name-bench-contracts-") as scratch:
        path = Path(scratch) / "features.parquet"
        say(f"  writing {rows:,} rows of the diabetes features to {path.name}")
        _write_features(path, rows)
        model = _fitted_pipeline()
        started = time.perf_counter()
        import pandera.pandas  # noqa: F401  (paid once per process: timed apart)

        imported = time.perf_counter() - started
        shares, checks, predicts, batched, lineages = [], [], [], [], []
        for round_ in range(1, repeat + 1):
            work, predict = _inference(path, model, Path(scratch) / "predictions.parquet")
            check, batches, lineage = _contracts(
                path, Path(scratch) / "predictions.parquet", contract.features(), store
            )
            shares.append((check + lineage) / (work + check + lineage))
            checks.append(check)
            predicts.append(predict)
            batched.append(batches)
            lineages.append(lineage)
            say(
                f"  round {round_}/{repeat}: inference {work:.2f} s (predict {predict:.2f} s), "
                f"check {check:.2f} s, lineage {lineage:.3f} s: {shares[-1]:.1%}"
            )
    share = Stats.of(shares)
    ratio = Stats.of(c / p for c, p in zip(checks, predicts, strict=True))
    return [
        Row(
            f"contract check + lineage at {rows:,} rows, share of inference (read, predict, write)",
            f"check {Stats.of(checks).format('s', 2)}, lineage {Stats.of(lineages).format('s', 3)}",
            f"share {share.median:.1%} [{share.low:.1%}-{share.high:.1%}]",
            f"{share.median:.3f}",
            f"<= {TARGET_SHARE:.0%}",
            share.median <= TARGET_SHARE,
        ),
        Row(
            f"check_frame vs predicting the same {rows:,} rows (scaler + ridge)",
            f"predict {Stats.of(predicts).format('s', 2)}",
            f"check in batches of {BATCH_ROWS:,}: {Stats.of(batched).format('s', 2)}",
            f"{ratio.median:.2f}x",
            "(information)",
        ),
        Row(
            "import pandera.pandas, once per process that checks (not in the share)",
            f"{imported:.2f} s",
            target="(information)",
        ),
    ]


def _write_features(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    from model_name.io import datasets

    sample = datasets.load_sample().drop(columns=[datasets.SAMPLE_TARGET])
    rng = np.random.default_rng(42)
    frame = pd.DataFrame(
        {name: rng.normal(sample[name].mean(), sample[name].std(), rows) for name in sample.columns}
    )
    frame.to_parquet(path, index=False, row_group_size=BATCH_ROWS)


def _fitted_pipeline() -> Any:
    from model_name.io import datasets
    from model_name.jobs.training import build_pipeline

    sample = datasets.load_sample()
    features = sample.drop(columns=[datasets.SAMPLE_TARGET])
    return build_pipeline("ridge", {"alpha": 1.0}, 42).fit(features, sample["target"])


def _inference(path: Path, model: Any, output: Path) -> tuple[float, float]:
    """Read, predict, write: the inference job's own work; return its time and predict's."""
    import pandas as pd

    started = time.perf_counter()
    frame = pd.read_parquet(path)
    before = time.perf_counter()
    predictions = model.predict(frame)
    predict = time.perf_counter() - before
    pd.DataFrame({"prediction": predictions}).to_parquet(output, index=False)
    return time.perf_counter() - started, predict


def _contracts(path: Path, output: Path, contract: Any, store: str) -> tuple[float, float, float]:
    """Check the frame whole and in batches, and log both tables; return the three times.

    The frame is read outside the timings: inference has read it already.
    """
    import mlflow
    import pandas as pd

    from model_name.batches.sources import read_batches
    from model_name.contracts import check_frame, lineage

    frame = pd.read_parquet(path)
    started = time.perf_counter()
    check_frame(frame, contract, str(path))
    check = time.perf_counter() - started
    del frame
    batched = 0.0
    for first_row, batch in read_batches(path, BATCH_ROWS):
        started = time.perf_counter()
        check_frame(batch, contract, str(path), first_row, complete=False)
        batched += time.perf_counter() - started
    mlflow.set_tracking_uri(store)
    try:
        with mlflow.start_run():
            started = time.perf_counter()
            lineage.log_table(path, "inference", contract)
            lineage.log_table(output, "inference", role="output")
            logged = time.perf_counter() - started
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    return check, batched, logged
