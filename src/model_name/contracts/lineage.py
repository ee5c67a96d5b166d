"""Lineage: every table a run reads or writes, as an MLflow dataset, without reading its rows.

`log_table` records a file (or any source) as a dataset input of the active run: its source,
its schema (from the contract, or a Parquet footer) and a digest, with `mlflow.data.MetaDataset`,
so nothing profiles or hashes the frame (`mlflow.data.from_pandas` hashes and profiles every
row: minutes on large frames, mlflow #13020). The digest is `model_name.digests.file_digest`'s
BLAKE2b (the whole file up to 64 MiB; beyond, its size, first and last MiB and 64 sampled
blocks: about 0.05 s for 500 MB), cut to the 32 characters MLflow stores; it changes when the
content changes, not when the file is touched. The full file digest is the input's tag
`model_name.file_digest`.

A table a run writes is logged the same way with the context `output`: MLflow 3.17's
`log_outputs` takes models only. The version a training registers is tagged with its training
data (`model_name.training_data`, `model_name.training_data.digest`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from model_name.contracts.model import Contract
from model_name.digests import file_digest

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.data.dataset import Dataset
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.types import Schema

OUTPUT_CONTEXT = "output"
"""The context of a table a run wrote (MLflow has dataset inputs only)."""

DIGEST_LENGTH = 32
"""The characters of the digest MLflow keeps (its column holds 36)."""

FILE_DIGEST_TAG = "model_name.file_digest"
"""The dataset input's tag holding the full `file_digest` (size, and `sampled` when it is)."""

TRAINING_DATA_TAG = "model_name.training_data"
"""The model version tag naming the table it was trained on."""

TRAINING_DIGEST_TAG = "model_name.training_data.digest"
"""The model version tag holding that table's digest (as in the training run's dataset input)."""

MLFLOW_TYPES = {
    "float": "double",
    "int": "long",
    "str": "string",
    "bool": "boolean",
    "datetime": "datetime",
}
"""The MLflow column type of each contract type."""


def log_table(
    path_or_source: Path | str | DatasetSource,
    context: str,
    schema: Contract | Schema | None = None,
    role: Literal["input", "output"] = "input",
    *,
    name: str | None = None,
    digest: str | None = None,
) -> Dataset:
    """Record a table as a dataset of the active run, without reading its rows.

    Args:
        path_or_source: a file (CSV, Parquet), a URI, or a source name (`sklearn.datasets...`)
            or an MLflow `DatasetSource`.
        context: what the run used it for: `training`, `evaluation`, `inference`, ...
        schema: its columns: a contract, an MLflow schema, or `None` (a Parquet file's footer;
            none for other sources).
        role: `input`, or `output` for a table the run wrote (logged with context `output`).
        name: the dataset's name; by default the file's stem, or the source.
        digest: its digest; by default the file's (see the module), or the source's name's.

    Returns:
        The `MetaDataset` logged (its `digest`, `source`, `schema`).
    """
    from mlflow.data.meta_dataset import MetaDataset

    source, path = _source(path_or_source)
    tags = {}
    if digest is None and path is not None:
        full = file_digest(path)
        tags[FILE_DIGEST_TAG] = full
        digest = full.rsplit(":", 1)[-1][:DIGEST_LENGTH]
    if digest is None:
        digest = hashlib.sha256(source.to_json().encode()).hexdigest()[:DIGEST_LENGTH]
    dataset = MetaDataset(  # type: ignore[abstract]  # a profile-less dataset: the point
        source,
        name=name or (path.stem if path is not None else where(source)),
        digest=digest,
        schema=_schema(schema, path),
    )
    log_input(dataset, OUTPUT_CONTEXT if role == "output" else context, tags)
    return dataset


def link_version(client: MlflowClient, name: str, version: int | str, dataset: Dataset) -> None:
    """Tag a model version with the table it was trained on: its source and digest."""
    client.set_model_version_tag(name, str(version), TRAINING_DATA_TAG, where(dataset.source))
    client.set_model_version_tag(name, str(version), TRAINING_DIGEST_TAG, dataset.digest)


def log_input(dataset: Any, context: str, tags: dict[str, str] | None = None) -> None:
    """Record a dataset as an input of the active run, riding out a concurrent run's insert.

    Two runs logging the same data at the same moment race on MLflow's unique (experiment,
    name, digest) key: both see no dataset, both insert it, the later insert fails (MLflow
    3.17, SQLite and PostgreSQL alike). The second try finds the other run's dataset and only
    links it to this run.

    Args:
        dataset: an `mlflow.data.Dataset`.
        context: what the run used it for (`training`, `evaluation`, ...).
        tags: the input's own tags.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        mlflow.log_input(dataset, context=context, tags=tags or None)
    except MlflowException:
        mlflow.log_input(dataset, context=context, tags=tags or None)


def contract_schema(contract: Contract) -> Schema:
    """Return a contract's columns as an MLflow schema (a nullable column is optional)."""
    from mlflow.types import ColSpec, Schema, TensorSpec

    columns: list[ColSpec | TensorSpec] = [
        ColSpec(MLFLOW_TYPES[rule.dtype], name, required=not rule.nullable)
        for name, rule in contract.columns.items()
    ]
    return Schema(columns)


def _source(path_or_source: Path | str | DatasetSource) -> tuple[DatasetSource, Path | None]:
    import warnings

    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    if isinstance(path_or_source, DatasetSource):
        return path_or_source, None
    text = str(path_or_source)
    path = Path(text)
    if "://" not in text and not path.is_file():
        return CodeDatasetSource({"loader": text}), None
    with warnings.catch_warnings():  # MLflow registers the local file source twice
        warnings.filterwarnings("ignore", "The specified dataset source", UserWarning)
        located = str(path.resolve()) if "://" not in text else text
        return resolve_dataset_source(located), path if "://" not in text else None


def where(source: DatasetSource) -> str:
    """Say where a dataset comes from in a few words: its URI, or its loader."""
    described = json.loads(source.to_json())
    found = described.get("uri") or described.get("tags", {}).get("loader")
    return str(found) if found else source.to_json()


def _schema(schema: Contract | Schema | None, path: Path | None) -> Schema | None:
    if isinstance(schema, Contract):
        return contract_schema(schema)
    if schema is not None or path is None or path.suffix.lower() not in (".parquet", ".pq"):
        return schema
    return _parquet_schema(path)


def _parquet_schema(path: Path) -> Schema | None:
    """The MLflow schema of a Parquet file's columns, from its footer (None if unreadable)."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
    from mlflow.types import ColSpec, Schema, TensorSpec

    try:
        arrow = pq.read_schema(path)
    except Exception:  # not Parquet after all: the job will say so
        return None
    kinds = {"double": "double", "float": "float", "int64": "long", "int32": "integer",
             "string": "string", "large_string": "string", "bool": "boolean"}  # fmt: skip
    columns: list[ColSpec | TensorSpec] = [
        ColSpec(kinds.get(str(field.type), "string"), field.name) for field in arrow
    ]
    return Schema(columns)
