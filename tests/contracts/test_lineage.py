"""Lineage: the tables a run reads and writes, as MLflow datasets with a cheap digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from model_name.contracts import Contract, lineage
from model_name.io.services import MlflowService, RunConfig
from tests.contracts.conftest import diabetes_table


def whole_file_blake2b(path: Path) -> str:
    """The digest of a small file, by hand: BLAKE2b (20 bytes) of its size, then its bytes."""
    data = path.read_bytes()
    hasher = hashlib.blake2b(str(len(data)).encode(), digest_size=20)
    hasher.update(data)
    return hasher.hexdigest()


def test_a_table_read_and_one_written_are_the_runs_datasets_with_source_schema_and_digest(
    mlflow_service: MlflowService, tmp_path: Path
) -> None:
    # given a Parquet table read, and a CSV of predictions written
    table = diabetes_table(tmp_path / "new.parquet", rows=20)
    written = tmp_path / "predictions.csv"
    written.write_text("prediction\n1.5\n2.5\n")
    contract = Contract.model_validate({"columns": {"age": {}, "bmi": {"nullable": True}}})

    # when a run logs them
    with mlflow_service, mlflow_service.run_context(RunConfig(name="lineage")) as run:
        lineage.log_table(table, "inference", contract)
        lineage.log_table(written, "inference", role="output")

    # then the run's dataset inputs name them, with their digests and the contexts
    inputs = mlflow_service.client().get_run(run.info.run_id).inputs.dataset_inputs
    found = {item.dataset.name: item for item in inputs}
    assert set(found) == {"new", "predictions"}
    read = found["new"]
    assert read.dataset.digest == whole_file_blake2b(table)[:32]
    assert json.loads(read.dataset.source)["uri"] == str(table.resolve())
    tags = {tag.key: tag.value for tag in read.tags}
    assert tags["mlflow.data.context"] == "inference"
    assert tags["model_name.file_digest"] == f"{table.stat().st_size}:{whole_file_blake2b(table)}"
    # and the schema is the contract's, with no profile computed from the rows
    schema = json.loads(read.dataset.schema)["mlflow_colspec"]
    assert [(column["name"], column["type"], column["required"]) for column in schema] == [
        ("age", "double", True),
        ("bmi", "double", False),
    ]
    assert not read.dataset.profile
    out = found["predictions"]
    assert {tag.key: tag.value for tag in out.tags}["mlflow.data.context"] == "output"
    assert out.dataset.digest == whole_file_blake2b(written)[:32]


def test_a_parquet_table_without_a_contract_gets_its_footers_schema(
    mlflow_service: MlflowService, tmp_path: Path
) -> None:
    table = diabetes_table(tmp_path / "t.parquet", rows=5)

    with mlflow_service, mlflow_service.run_context(RunConfig(name="lineage")) as run:
        dataset = lineage.log_table(table, "evaluation")

    (item,) = mlflow_service.client().get_run(run.info.run_id).inputs.dataset_inputs
    names = [column["name"] for column in json.loads(item.dataset.schema)["mlflow_colspec"]]
    assert names == ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"]
    assert item.dataset.digest == dataset.digest


def test_a_changed_file_gets_another_digest_a_touched_one_the_same(tmp_path: Path) -> None:
    from model_name.digests import file_digest

    path = tmp_path / "t.csv"
    path.write_text("x\n1\n")
    before = file_digest(path)
    path.touch()
    touched = file_digest(path)
    path.write_text("x\n2\n")

    assert touched == before != file_digest(path)
