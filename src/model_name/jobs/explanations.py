"""The explanations job: SHAP values of a registered version, as plots and a table on a run."""

from __future__ import annotations

from typing import Annotated

import pydantic as pdt

from model_name.contracts import contract_of_model, enforce, lineage
from model_name.errors import JobError
from model_name.io import datasets, registries
from model_name.io.datasets import TableInput, TablePath
from model_name.io.registries import Alias
from model_name.jobs.base import Job, Locals

ARTIFACTS = (
    "explanations/shap_beeswarm.png",
    "explanations/shap_importance.png",
    "explanations/importance.csv",
)
"""The run artifacts: the beeswarm summary, the mean |SHAP| bar plot, the importance table."""

RUN_TAG = "model_name.explanations.run_id"
"""The model version tag naming the run that explained it."""

EXPLAINER_TAG = "model_name.explainer"
"""The tag (on the run and the version) naming the SHAP explainer: linear, tree or permutation."""


class ExplanationsJob(Job):
    """Explain a registered model version's predictions with SHAP values, on a sample of rows.

    Loads the version (by `version`, else `alias`, else the latest), samples `sample_size` rows
    of `inputs` (or of the bundled diabetes features) and computes their SHAP values with the
    explainer that fits the model (see `model_name.explainers`): a linear or tree explainer on
    the pipeline's final estimator, the features transformed by the steps before it, or a
    permutation explainer of the whole pipeline with `background_size` rows as the masker. The
    run logs a beeswarm summary, a bar plot of each feature's mean |SHAP| and the importance
    table (`explanations/*`); the run and the version are tagged with each other and with the
    explainer used. The table is first checked against the contract the version was trained
    with, if it was saved with one (its features: a `ContractViolation` fails the run, exit 1),
    and logged as the run's dataset input (context `explanations`).

    Attributes:
        alias: the alias of the version to explain; `None` with no `version`: the latest.
        version: the version number to explain; it wins over `alias`.
        inputs: a CSV or Parquet file with the model's features (extra columns are ignored);
            `None` samples the diabetes data set bundled with scikit-learn.
        sample_size: the rows explained (all of them when the table is smaller).
        background_size: the rows standing for "feature unknown" (linear and permutation).
        max_display: the features shown in the beeswarm plot.
        random_state: the seed of the samples.
    """

    KIND = "explanations"

    alias: Alias | None = "champion"
    version: int | None = pdt.Field(default=None, ge=1)
    inputs: Annotated[TablePath | None, TableInput()] = None
    sample_size: int = pdt.Field(default=200, ge=1, le=100_000)
    background_size: int = pdt.Field(default=100, ge=1, le=10_000)
    max_display: int = pdt.Field(default=10, ge=1, le=100)
    random_state: int = pdt.Field(default=42, ge=0, le=2**32 - 1)

    def run(self) -> Locals:
        """Sample, explain, log the plots and table, tag the run and version; return locals()."""
        import mlflow

        from model_name import explainers

        logger = self.logger_service.logger()
        name = self.mlflow_service.registry_name
        wanted = registries.wanted_version(self.alias, self.version)
        source = str(self.inputs) if self.inputs else datasets.SAMPLE_SOURCE
        config = self.run_config(description=f"Explain {wanted} of '{name}' on {source}.")
        with self.mlflow_service.run_context(config) as run:
            client = self.mlflow_service.client()
            explained_version = registries.resolve_wanted(
                client, name, self.alias, self.version, "explain"
            )
            number = str(explained_version.version)
            uri = registries.model_uri(name, version=int(number))
            model = registries.load_model(uri)
            signature = model.metadata.signature
            if signature is None:
                raise JobError(f"version {number} of '{name}' has no signature: no feature names")
            frame = datasets.read_table(self.inputs) if self.inputs else datasets.load_sample()
            contract = contract_of_model(client, name, number)
            if contract is not None:
                enforce(frame, contract.features(), source)
            lineage.log_table(
                self.inputs or source,
                "explanations",
                contract.features() if contract is not None else None,
                name=None if self.inputs else "diabetes",
            )
            features = datasets.numeric_features(frame, signature.inputs.input_names())
            sample = features.sample(
                n=min(self.sample_size, len(features)), random_state=self.random_state
            )
            background = features.sample(
                n=min(self.background_size, len(features)), random_state=self.random_state + 1
            )

            raw_model = model.get_raw_model()  # type: ignore[no-untyped-call]
            explained = explainers.explain(raw_model, sample, background)
            logger.info(
                "Explaining version {} ({}) with the {} explainer on the {}, {} rows",
                number,
                explained.estimator,
                explained.explainer,
                explained.through,
                len(sample),
            )
            table = explainers.importance(explained)
            self.mlflow_service.log_params(
                {
                    "model_name": name,
                    "model_version": number,
                    "model_uri": uri,
                    "inputs": source,
                    "sample_size": len(sample),
                    "background_size": len(background),
                    "explainer": explained.explainer,
                    "explained": explained.through,
                }
            )
            beeswarm, bars, table_path = ARTIFACTS
            mlflow.log_figure(explainers.beeswarm_figure(explained, self.max_display), beeswarm)
            mlflow.log_figure(explainers.bar_figure(table, explained.explainer), bars)
            mlflow.log_text(table.to_csv(index=False), table_path)
            self.mlflow_service.set_tags(
                {
                    "model_name.explained_version": number,
                    EXPLAINER_TAG: explained.explainer,
                    "model_name.explained": explained.through,
                }
            )
            for key, value in ((RUN_TAG, run.info.run_id), (EXPLAINER_TAG, explained.explainer)):
                client.set_model_version_tag(name, number, key, value)
            top = ", ".join(table["feature"].head(3))
            logger.info("Most important features of version {}: {}", number, top)
        return locals()
