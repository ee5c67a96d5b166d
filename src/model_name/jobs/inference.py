"""The inference job: a registered model predicts a table in batches, written as they come."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Self

import pydantic as pdt

from model_name.batches.engine import EngineName
from model_name.io import datasets, registries
from model_name.io.datasets import TableInput, TablePath
from model_name.io.registries import Alias
from model_name.io.services import PROGRESS_LINE
from model_name.jobs.base import Job, Locals

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    from model_name.batches.predict import Check
    from model_name.contracts import Contract


@dataclasses.dataclass(frozen=True)
class ContractCheck:
    """The check of each batch against the model's data contract (picklable: Dask sends it).

    Raises `ContractViolation` naming the file's rows (`first_row`: the batch's first row).
    """

    contract: Contract
    source: str

    def __call__(self, batch: pd.DataFrame, first_row: int) -> None:
        """Check one batch whose first row is the file's `first_row` (counted from 0)."""
        from model_name.contracts import check_frame

        check_frame(batch, self.contract, self.source, first_row, complete=False)


class InferenceJob(Job):
    """Predict with a registered model in batches and write the predictions as they come.

    Loads the version of the model registered as `mlflow.registry_name` that `version` names, or
    else the one `alias` points at, or else the latest one. It reads `inputs` (a CSV or Parquet
    file, or the features of the bundled diabetes data set) `batch_rows` rows at a time (a Parquet
    row group, or a part of one), predicts each batch with the columns of the model's signature
    in its order (extra columns such as the target are ignored), and writes it to a part file in
    `<outputs>.parts/`; memory holds one batch, whatever the size of the table. At the end the
    parts become `outputs` (CSV or Parquet by its suffix, folders created): the `passthrough`
    columns of the input, then the predictions, one row per input row in the same order, logged
    as the run artifact `predictions/<file name>`. A run interrupted and run again with the same
    inputs, model and settings predicts only the batches not written yet.

    Attributes:
        alias: the alias of the version to load, such as `champion`; `None` with no `version`
            loads the latest version.
        version: the version number to load (1 or more); it wins over `alias`.
        inputs: a CSV or Parquet file of the model's features; `None` predicts for the diabetes
            data set bundled with scikit-learn (442 rows).
        outputs: the predictions file to write: `.csv`, `.parquet` or `.pq`.
        prediction_column: the name of the predictions' column.
        batch_rows: the most rows read, checked and predicted at a time.
        passthrough: input columns copied to the output before the predictions (an id).
        engine: `local` (this process) or `dask` (tasks on Dask's distributed scheduler).
        scheduler: the Dask scheduler's address (`tcp://host:8786`); `None` with `engine: dask`
            starts a local cluster of `workers` processes.
        workers: the local Dask cluster's number of worker processes.
    """

    KIND = "inference"
    HEADLINE_METRICS = ("n_predictions",)

    alias: Alias | None = "champion"
    version: int | None = pdt.Field(default=None, ge=1)
    inputs: Annotated[TablePath | None, TableInput()] = None
    outputs: TablePath = Path("outputs/predictions.csv")
    prediction_column: str = pdt.Field(default="prediction", min_length=1)
    batch_rows: int = pdt.Field(default=100_000, ge=1)
    passthrough: list[str] = pdt.Field(default_factory=list)
    engine: EngineName = "local"
    scheduler: str | None = None
    workers: int = pdt.Field(default=2, ge=1)

    @pdt.model_validator(mode="after")
    def _prediction_column_is_new(self) -> Self:
        if self.prediction_column in self.passthrough:
            raise ValueError(
                f"prediction_column {self.prediction_column!r} is also a passthrough column"
            )
        return self

    @pdt.field_validator("engine")
    @classmethod
    def _dask_is_installed(cls, engine: str) -> str:
        import importlib.util  # finds the package without importing it (seconds)

        if engine == "dask" and importlib.util.find_spec("distributed") is None:
            raise ValueError(
                "engine 'dask' needs Dask's distributed scheduler: install model_name[dask]"
            )
        return engine

    def batch_check(self, source: str, contract: Contract | None) -> Check | None:
        """Return the check each batch must pass before it is predicted, or `None`.

        By default the model's data contract (its features), when the version was saved with
        one. `check(batch, first_row)` raises to stop the run; on Dask it is sent to the
        workers, so it must pickle.
        """
        return ContractCheck(contract, source) if contract is not None else None

    def run(self) -> Locals:
        """Load the model, predict in batches, write and log the predictions; return locals()."""
        import mlflow

        from model_name.batches import engine, output, parts, predict, sources
        from model_name.contracts import contract_of_model, lineage
        from model_name.contracts.saved import log_violation
        from model_name.errors import ContractViolation

        logger = self.logger_service.logger()
        name = self.mlflow_service.registry_name
        wanted = registries.wanted_version(self.alias, self.version)
        source_name = str(self.inputs) if self.inputs else datasets.SAMPLE_SOURCE
        config = self.run_config(
            description=f"Predict with {wanted} of '{name}' for {source_name}."
        )
        with self.mlflow_service.run_context(config) as run:
            client = self.mlflow_service.client()
            model_version = registries.resolve_wanted(
                client, name, self.alias, self.version, "load"
            )
            uri = registries.model_uri(name, version=int(model_version.version))
            followed = self.alias if self.version is None else None
            self.mlflow_service.log_params(
                {
                    "model_name": name,
                    "model_version": model_version.version,
                    "model_alias": followed or "none",
                    "model_uri": uri,
                    "inputs": source_name,
                    "outputs": str(self.outputs),
                    "batch_rows": self.batch_rows,
                    "passthrough": ",".join(self.passthrough) or "none",
                    "engine": self.engine,
                }
            )
            model = registries.load_model(uri)
            logger.info("Loaded {} ({})", uri, wanted)
            contract = contract_of_model(client, name, model_version.version)
            features_contract = contract.features() if contract is not None else None
            lineage.log_table(self.inputs or source_name, self.KIND, features_contract)

            signature = model.metadata.signature
            features = signature.inputs.input_names() if signature is not None else None
            source = sources.table_source(self.inputs, features, self.passthrough)
            partitions = source.plan(self.batch_rows)
            folder = parts.WorkFolder.for_output(self.outputs)
            done = folder.prepare(
                {
                    "inputs": parts.file_identity(self.inputs) if self.inputs else source_name,
                    "model_uri": uri,
                    "batch_rows": self.batch_rows,
                    "features": features,
                    "passthrough": self.passthrough,
                    "prediction_column": self.prediction_column,
                }
            )
            if done:
                first = min(set(range(len(partitions))) - done, default=len(partitions))
                logger.info(
                    "Resumed at batch {}: {} of {} batches already written in {}, not predicted "
                    "again",
                    first, len(done), len(partitions), folder.path,
                )  # fmt: skip
            task = predict.Task(
                source=source,
                batch_rows=self.batch_rows,
                features=features,
                passthrough=self.passthrough,
                prediction_column=self.prediction_column,
                folder=folder,
                check=self.batch_check(source_name, features_contract),
                model_path=str(folder.model(uri)) if self.engine == "dask" else None,
            )
            columns = [*self.passthrough, self.prediction_column]
            # the output is written from the parts while they are predicted
            with output.Assembly(folder, self.outputs, len(partitions), columns) as assembly:
                assembly.add(done)
                try:
                    predicted = engine.predict_all(
                        task,
                        partitions,
                        done,
                        model,
                        engine=engine.Engine(self.engine, self.scheduler, self.workers),
                        # one line per interval in a log file; a terminal shows the bar instead
                        say=lambda line: logger.bind(**{PROGRESS_LINE: True}).info(
                            "Predicted {}", line
                        ),
                        bar=self.logger_service.shows_progress_bars(),
                        written=lambda index: assembly.add({index}),
                    )
                except ContractViolation as violation:  # the batches before it stay written
                    log_violation(violation)
                    raise
                n_predictions = assembly.finish()
            mlflow.log_artifact(str(self.outputs), artifact_path="predictions")
            lineage.log_table(self.outputs, self.KIND, role="output")
            self.mlflow_service.log_metrics({"n_predictions": float(n_predictions)})
            logger.info(
                "Wrote {} predictions to {} ({} predicted in this run, {} batches)",
                n_predictions, self.outputs, predicted, len(partitions),
            )  # fmt: skip
        return locals()
