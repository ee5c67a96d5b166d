"""Inference in batches: passthrough columns, a run interrupted and resumed, progress in a log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from model_name.batches.predict import Check
from model_name.contracts import Contract
from model_name.errors import ContractViolation, JobError
from model_name.io.services import MlflowService
from model_name.jobs.inference import InferenceJob
from tests.helpers.logs import lines
from tests.helpers.servers import without_coverage
from tests.jobs.conftest import RunsOf

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def features_table(rows: int, seed: int = 0) -> pd.DataFrame:
    """`rows` rows of diabetes-like features with a `customer` id before them."""
    generator = np.random.default_rng(seed)
    frame = pd.DataFrame(generator.normal(0, 0.05, size=(rows, len(FEATURES))), columns=FEATURES)
    frame.insert(0, "customer", [f"c{i:05d}" for i in range(rows)])
    return frame


def expected_predictions(
    mlflow_service: MlflowService, name: str, version: int, frame: pd.DataFrame
) -> Any:
    """The model's predictions for the whole frame at once, straight from MLflow."""
    with mlflow_service:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        return np.asarray(model.predict(frame[FEATURES])).ravel()


def parts_written(parts: Path) -> int:
    """How many part files a run's work folder holds (0 before it exists)."""
    return len(list(parts.glob("part-*.parquet"))) if parts.is_dir() else 0


def kill_once_parts_are_written(
    process: subprocess.Popen[bytes], parts: Path, count: int, seconds: float
) -> int | None:
    """SIGKILL a process as soon as `count` parts are written; return how many were then.

    `None`: the process ended, or `seconds` passed, first.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        written = parts_written(parts)
        if written >= count:
            process.send_signal(signal.SIGKILL)
            return written
        time.sleep(0.005)
    return None


class RefusingJob(InferenceJob):
    """An inference whose batch check refuses the batches from row `refuse_from` on."""

    refuse_from: int = 150

    def batch_check(self, source: str, contract: Contract | None) -> Check | None:
        def check(batch: pd.DataFrame, first_row: int) -> None:
            assert batch.index[0] == first_row  # the rows' positions in the table
            if first_row >= self.refuse_from:
                raise JobError(f"{source}: batch from row {first_row} refused")

        return check


def test_a_parquet_file_is_predicted_in_batches_with_its_id_passed_through(
    services: dict[str, Any], mlflow_service: MlflowService, champion: str, tmp_path: Path
) -> None:
    # given 1,000 rows in row groups of 300, predicted 128 rows at a time into a Parquet file
    inputs = tmp_path / "customers.parquet"
    frame = features_table(1000)
    frame.to_parquet(inputs, index=False, row_group_size=300)
    outputs = tmp_path / "out" / "scores.parquet"
    job = InferenceJob(
        inputs=inputs, outputs=outputs, batch_rows=128, passthrough=["customer"], **services
    )

    # when it runs
    with job:
        job.run()

    # then each row has its id and the prediction the model makes for the whole table
    written = pd.read_parquet(outputs)
    assert list(written.columns) == ["customer", "prediction"]
    assert written["customer"].tolist() == frame["customer"].tolist()
    wanted = expected_predictions(mlflow_service, champion, 1, frame)
    np.testing.assert_allclose(written["prediction"], wanted)
    # and the work folder is gone; the log says how many batches
    assert not (tmp_path / "out" / "scores.parquet.parts").exists()
    log = "\n".join(lines(tmp_path / "logs" / "app.log"))
    assert (
        "Wrote 1000 predictions to" in log and "10 batches" in log
    )  # 3 x (128 + 128 + 44), then 100


def test_an_interrupted_run_resumes_at_the_first_batch_not_written(
    services: dict[str, Any],
    mlflow_service: MlflowService,
    champion: str,
    runs_of: RunsOf,
    tmp_path: Path,
) -> None:
    # given a CSV of 442 rows, and a run that stops at its fourth batch of 50 rows
    inputs = tmp_path / "customers.csv"
    frame = features_table(442)
    frame.to_csv(inputs, index=False)
    outputs = tmp_path / "scores.csv"
    settings = {"inputs": inputs, "outputs": outputs, "batch_rows": 50, "passthrough": ["customer"]}
    failing = RefusingJob(refuse_from=150, **settings, **services)
    with pytest.raises(JobError, match="batch from row 150 refused"), failing:
        failing.run()
    assert not outputs.exists()
    assert runs_of("inference")[0].info.status == "FAILED"

    # when the same job runs again with the same inputs and model
    job = InferenceJob(**settings, **services)
    with job:
        job.run()

    # then it starts at batch 3, predicts the 292 rows left, and writes each row once
    log = "\n".join(lines(tmp_path / "logs" / "app.log"))
    assert "Resumed at batch 3: 3 of 9 batches already written" in log
    assert "Wrote 442 predictions to" in log and "292 predicted in this run" in log
    written = pd.read_csv(outputs)
    assert written["customer"].tolist() == frame["customer"].tolist()
    wanted = expected_predictions(mlflow_service, champion, 1, frame)
    np.testing.assert_allclose(written["prediction"], wanted)
    assert runs_of("inference")[0].data.metrics["n_predictions"] == 442


def test_another_model_version_starts_clean(
    services: dict[str, Any], champion: str, tmp_path: Path
) -> None:
    # given a run of version 1 interrupted after three batches
    inputs = tmp_path / "customers.csv"
    features_table(442).to_csv(inputs, index=False)
    settings = {"inputs": inputs, "outputs": tmp_path / "scores.csv", "batch_rows": 50}
    failing = RefusingJob(refuse_from=150, **settings, **services)
    with pytest.raises(JobError), failing:
        failing.run()

    # when version 2 runs
    job = InferenceJob(version=2, **settings, **services)
    with job:
        job.run()

    # then nothing of version 1's parts is kept
    log = "\n".join(lines(tmp_path / "logs" / "app.log"))
    assert "Resumed" not in log
    assert "442 predicted in this run" in log


def test_progress_is_one_line_per_interval_in_a_log_file(
    services: dict[str, Any], champion: str, tmp_path: Path
) -> None:
    job = InferenceJob(outputs=tmp_path / "p.csv", batch_rows=100, **services)

    with job:
        job.run()

    progress = [line for line in lines(tmp_path / "logs" / "app.log") if "Predicted " in line]
    assert progress, "no progress line"
    assert "Predicted 442/442 rows (100%)" in progress[-1] and "rows/s" in progress[-1]


def test_a_passthrough_column_named_like_the_predictions_is_refused() -> None:
    with pytest.raises(ValueError, match="'prediction' is also a passthrough column"):
        InferenceJob(passthrough=["prediction"])


@pytest.mark.slow
def test_a_process_killed_mid_run_is_resumed_without_a_row_twice(
    champion: str, tracking_uri: str, tmp_path: Path
) -> None:
    # given 20,000 rows predicted 100 at a time by `model_name run inference`, killed (SIGKILL)
    # once some batches are written
    inputs = tmp_path / "customers.parquet"
    frame = features_table(20_000)
    frame.to_parquet(inputs, index=False, row_group_size=100)
    outputs = tmp_path / "scores.parquet"
    parts = tmp_path / "scores.parquet.parts"
    log = tmp_path / "job.log"
    command = [
        sys.executable, "-m", "model_name", "run", "inference",
        "--set", f"mlflow.tracking_uri={tracking_uri}", "--set", "mlflow.experiment_name=tests",
        "--set", "alerts.enable=false", "--set", f"logger.sink={log}",
        "--set", f"jobs.inference.inputs={inputs}", "--set", f"jobs.inference.outputs={outputs}",
        "--set", "jobs.inference.batch_rows=100",
        "--set", 'jobs.inference.passthrough=["customer"]',
    ]  # fmt: skip
    env = without_coverage(os.environ)
    process = subprocess.Popen(command, env=env, cwd=tmp_path)
    try:
        kill_once_parts_are_written(process, parts, 3, seconds=120)
        assert process.wait(timeout=60) == -signal.SIGKILL, "the job ended before it was killed"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    written_before = parts_written(parts)
    assert 3 <= written_before < 200 and not outputs.exists()

    # when it runs again
    finished = subprocess.run(command, env=env, cwd=tmp_path, timeout=300, check=False)

    # then it resumes where the parts end and the output has every row exactly once
    assert finished.returncode == 0
    text = log.read_text()
    assert f"{written_before} of 200 batches already written" in text
    written = pd.read_parquet(outputs)
    assert written["customer"].tolist() == frame["customer"].tolist()


def test_a_bad_value_in_a_later_batch_names_its_line_in_the_file(
    services: dict[str, Any], champion: str, runs_of: RunsOf, tmp_path: Path
) -> None:
    # given a CSV whose data row 158 (line 159 of the file) holds a word, read 50 rows at a time
    inputs = tmp_path / "customers.csv"
    frame = features_table(200).astype({"bmi": object})
    frame.loc[157, "bmi"] = "n/a?"
    frame.to_csv(inputs, index=False)

    # when the job predicts it
    job = InferenceJob(inputs=inputs, outputs=tmp_path / "p.csv", batch_rows=50, **services)
    with pytest.raises(JobError) as caught, job:
        job.run()

    # then the error names the file, the column and the line, and nothing is written
    assert f"{inputs}: column 'bmi' has 1 non-numeric value" in str(caught.value)
    assert "line 159 ('n/a?')" in str(caught.value)
    assert not (tmp_path / "p.csv").exists()
    assert runs_of("inference")[0].info.status == "FAILED"


def test_a_batch_breaking_the_models_contract_stops_the_run_naming_the_line(
    services: dict[str, Any],
    mlflow_service: MlflowService,
    champion: str,
    runs_of: RunsOf,
    tmp_path: Path,
) -> None:
    # given version 1 saved with a contract (bmi within +-0.5), as training saves it
    from model_name.contracts import ColumnRule
    from model_name.contracts.saved import log_contract, tag_version
    from model_name.io.services import RunConfig

    contract = Contract(columns={name: ColumnRule(ge=-0.5, le=0.5) for name in FEATURES})
    with mlflow_service, mlflow_service.run_context(RunConfig(name="training")):
        tag_version(mlflow_service.client(), champion, 1, log_contract(contract))
    # and a CSV whose row 157 (line 159) has bmi 1.7, read 50 rows at a time
    inputs = tmp_path / "customers.csv"
    frame = features_table(442)
    frame.loc[157, "bmi"] = 1.7
    frame.to_csv(inputs, index=False)
    job = InferenceJob(inputs=inputs, outputs=tmp_path / "scores.csv", batch_rows=50, **services)

    # when it runs
    with pytest.raises(ContractViolation) as raised, job:
        job.run()

    # then the run fails on the fourth batch, naming the file's line and the value
    assert str(raised.value) == (
        f"{inputs}: column 'bmi' fails less_than_or_equal_to(0.5) in 1 of 50 rows: line 159 (1.7)"
    )
    (run, *_) = runs_of("inference")
    assert run.info.status == "FAILED"
    # and the whole report is an artifact of the run; the batches before it are kept
    report = mlflow_service.client().download_artifacts(
        run.info.run_id, "contract/violations.json", str(tmp_path)
    )
    assert '"rows": [\n' in Path(report).read_text() and "157" in Path(report).read_text()
    assert len(list((tmp_path / "scores.csv.parts").glob("part-*.parquet"))) == 3
    # and the run records its input table, with a digest, as a dataset
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.source == str(inputs) or str(inputs) in dataset.source
    assert dataset.digest


def test_the_predictions_are_recorded_as_the_runs_output_table(
    services: dict[str, Any], champion: str, runs_of: RunsOf, tmp_path: Path
) -> None:
    # given the sample predicted into a Parquet file
    outputs = tmp_path / "scores.parquet"
    job = InferenceJob(outputs=outputs, **services)

    # when it runs
    with job:
        job.run()

    # then the run lists the sample as its input and the predictions file as its output
    (run, *_) = runs_of("inference")
    contexts = {
        tag.value
        for dataset_input in run.inputs.dataset_inputs
        for tag in dataset_input.tags
        if tag.key == "mlflow.data.context"
    }
    assert contexts == {"inference", "output"}
    sources = " ".join(d.dataset.source for d in run.inputs.dataset_inputs)
    assert str(outputs) in sources
