"""The inference job: predict with a registered model, keep the predictions as a run artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pydantic as pdt

from model_name.io import datasets, registries
from model_name.io.datasets import TableInput, TablePath
from model_name.io.registries import Alias
from model_name.jobs.base import Job, Locals


class InferenceJob(Job):
    """Predict with a registered model and write the predictions to a file, logged with the run.

    Loads the version of the model registered as `mlflow.registry_name` that `version` names, or
    else the one `alias` points at, or else the latest one. It predicts for every row of `inputs`
    (a CSV or Parquet file, or the features of the bundled diabetes data set), using the columns
    of the model's signature in its order, so extra columns such as the target are ignored. The
    predictions, one row per input row and in the same order, are written to `outputs` (CSV or
    Parquet by its suffix, folders created) and logged as the run artifact
    `predictions/<file name>`; the run's parameters say which model version made them.

    Attributes:
        alias: the alias of the version to load, such as `champion`; `None` with no `version`
            loads the latest version.
        version: the version number to load (1 or more); it wins over `alias`.
        inputs: a CSV or Parquet file of the model's features; `None` predicts for the diabetes
            data set bundled with scikit-learn (442 rows).
        outputs: the predictions file to write: `.csv`, `.parquet` or `.pq`.
        prediction_column: the name of the predictions' column.
    """

    KIND = "inference"
    HEADLINE_METRICS = ("n_predictions",)

    alias: Alias | None = "champion"
    version: int | None = pdt.Field(default=None, ge=1)
    inputs: Annotated[TablePath | None, TableInput()] = None
    outputs: TablePath = Path("outputs/predictions.csv")
    prediction_column: str = pdt.Field(default="prediction", min_length=1)

    def run(self) -> Locals:
        """Load the model, predict, write and log the predictions; return locals()."""
        import mlflow
        import numpy as np
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        logger = self.logger_service.logger()
        name = self.mlflow_service.registry_name
        wanted = registries.wanted_version(self.alias, self.version)
        source = str(self.inputs) if self.inputs else datasets.SAMPLE_SOURCE
        config = self.run_config(description=f"Predict with {wanted} of '{name}' for {source}.")
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
                    "inputs": source,
                    "outputs": str(self.outputs),
                }
            )
            model = registries.load_model(uri)
            logger.info("Loaded {} ({})", uri, wanted)

            if self.inputs:
                frame = datasets.read_table(self.inputs)
            else:
                frame = datasets.load_sample().drop(columns=[datasets.SAMPLE_TARGET])
            signature = model.metadata.signature
            columns = signature.inputs.input_names() if signature is not None else None
            features = datasets.numeric_features(frame, columns)
            predictions = pd.DataFrame(
                {self.prediction_column: np.asarray(model.predict(features)).ravel()}
            )
            datasets.write_table(predictions, self.outputs)
            mlflow.log_artifact(str(self.outputs), artifact_path="predictions")
            self.mlflow_service.log_metrics({"n_predictions": float(len(predictions))})
            logger.info("Wrote {} predictions to {}", len(predictions), self.outputs)
        return locals()
