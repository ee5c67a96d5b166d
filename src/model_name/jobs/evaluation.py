"""The evaluation job: score a registered version on rows it never saw, and gate it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import pydantic as pdt

from model_name import gates
from model_name.contracts import Contract, contract_of_model, enforce
from model_name.errors import GateFailedError, JobError
from model_name.gates import Bound, Metric
from model_name.io import datasets, registries
from model_name.io.datasets import TableInput, TablePath
from model_name.io.registries import Alias
from model_name.jobs.base import Job, Locals

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

SPLIT_PARAMS = ("inputs", "target", "test_size", "random_state")
"""The training run's parameters the held-out split is rebuilt from."""

VERDICT_ARTIFACT = "evaluation/verdict.json"
"""The run artifact holding the verdict and every check, as JSON."""


class EvaluationJob(Job):
    """Evaluate a registered model version on held-out rows, against thresholds and the champion.

    Scores the version (by `version`, else `alias`, else the latest) with MLflow's regressor
    evaluation (`mlflow.models.evaluate`: RMSE, MAE, R², ... and its evaluation table), on
    `inputs`, or by default on the held-out rows of the training run that logged the version
    (its split rebuilt from the run's `inputs`, `target`, `test_size` and `random_state`). Each
    score is checked against `thresholds`; when `champion_alias` points at another version, that
    version is scored on the same rows and the evaluated one must not be worse by more than
    `champion_margins`. The run records every check (parameters, metrics, tags and
    `evaluation/verdict.json`) and the version is tagged with the verdict, the run and the reason.
    A failed check fails the job with `GateFailedError` naming it (`r2 0.31 < 0.40`): exit 1.
    The table is first checked against the contract the version was trained with, if it was saved
    with one (`ContractViolation`, exit 1, its report in `contract/violations.json`), and logged
    as the run's dataset input (context `evaluation`).

    Attributes:
        alias: the alias of the version to evaluate; `None` with no `version`: the latest.
        version: the version number to evaluate; it wins over `alias`.
        inputs: a CSV or Parquet file of features and the target; `None` rebuilds the training
            run's held-out split.
        target: the target column of `inputs`; `None`: the training run's target, else `target`.
        thresholds: the accepted range of each metric (`r2`, `rmse`, `mae`, `mse`, `max_error`,
            `mape`): `{r2: {min: 0.4}, rmse: {max: 60}}`.
        champion_alias: the alias of the version to compare with; `None` compares with none.
        champion_margins: how much worse than the champion each metric may be, in its own unit.
        plots: also log `plots/predicted_vs_actual.png` and `plots/residuals.png`.
    """

    KIND = "evaluation"

    alias: Alias | None = None
    version: int | None = pdt.Field(default=None, ge=1)
    inputs: Annotated[TablePath | None, TableInput(columns=("target",))] = None
    target: str | None = pdt.Field(default=None, min_length=1)
    thresholds: dict[Metric, Bound] = pdt.Field(default_factory=gates.default_thresholds)
    champion_alias: Alias | None = "champion"
    champion_margins: dict[Metric, pdt.NonNegativeFloat] = pdt.Field(
        default_factory=gates.default_margins
    )
    plots: bool = True

    def run(self) -> Locals:
        """Evaluate, check, record and tag; raise `GateFailedError` when a check failed."""
        import mlflow

        logger = self.logger_service.logger()
        name = self.mlflow_service.registry_name
        wanted = registries.wanted_version(self.alias, self.version)
        config = self.run_config(description=f"Evaluate {wanted} of '{name}'.")
        with self.mlflow_service.run_context(config) as run:
            client = self.mlflow_service.client()
            evaluated = registries.resolve_wanted(
                client, name, self.alias, self.version, "evaluate"
            )
            number = str(evaluated.version)
            champion = self._champion(client, name, number)
            contract = contract_of_model(client, name, number)
            frame, target, source = self._table(client, evaluated, contract)
            labels = datasets.numeric_target(frame, target)
            self.mlflow_service.log_params(
                {
                    "model_name": name,
                    "model_version": number,
                    "model_uri": registries.model_uri(name, version=int(number)),
                    "eval_inputs": source,
                    "target": target,
                    "n_rows": len(frame),
                    "champion_alias": self.champion_alias or "none",
                    "champion_version": champion.version if champion else "none",
                    **gates.gate_params(self.thresholds, self.champion_margins),
                }
            )
            self.mlflow_service.set_tags({"model_name.evaluated_version": number})
            logger.info(
                "Evaluating version {} of {} on {} rows of {}", number, name, len(frame), source
            )

            predicted = self._predict(name, number, frame)
            scores = self._evaluate(frame, target, predicted, model_id=evaluated.model_id)
            checks = gates.threshold_checks(scores, self.thresholds)
            if champion is not None:
                champion_predicted = self._predict(name, str(champion.version), frame)
                champion_scores = self._evaluate(
                    frame, target, champion_predicted, prefix="champion_"
                )
                checks += gates.champion_checks(
                    scores, champion_scores, self.champion_margins, str(champion.version)
                )
            if self.plots:
                from model_name.jobs.training import PLOTS, evaluation_plots

                for path, figure in zip(PLOTS, evaluation_plots(labels, predicted), strict=True):
                    mlflow.log_figure(figure, path)

            verdict = gates.PASSED if all(check.passed for check in checks) else gates.FAILED
            why = gates.reason(checks)
            self._record(
                client,
                evaluated,
                run_id=run.info.run_id,
                verdict=verdict,
                why=why,
                checks=checks,
                compared=gates.compared_with(
                    self.champion_alias if self.champion_margins else None,
                    str(champion.version) if champion else None,
                ),
            )
            for check in checks:
                logger.info("{} {}", "PASS" if check.passed else "FAIL", check.summary)
            if verdict == gates.FAILED:
                raise GateFailedError(f"version {number} of '{name}' failed its evaluation: {why}")
            logger.info("Version {} of {} passed its evaluation: {}", number, name, why)
        return locals()

    def _champion(self, client: MlflowClient, name: str, evaluated: str) -> ModelVersion | None:
        """Return the champion to compare with: none when unset, missing, or the same version."""
        if self.champion_alias is None or not self.champion_margins:
            return None
        aliases = dict(registries.registered_model(client, name).aliases or {})
        if aliases.get(self.champion_alias) in (None, evaluated):
            return None
        return registries.get_alias(client, name, self.champion_alias)

    def _table(
        self, client: MlflowClient, evaluated: ModelVersion, contract: Contract | None
    ) -> tuple[pd.DataFrame, str, str]:
        """Return the evaluation rows (features and target), the target and where they came from.

        The table is checked against the version's contract, if any, and logged as the run's
        dataset input.
        """
        if self.inputs is not None:
            frame = datasets.read_table(self.inputs)
            target = self.target or self._training_params(client, evaluated).get(
                "target", datasets.SAMPLE_TARGET
            )
            if target not in frame.columns:
                raise JobError(
                    f"target column '{target}' is not in {self.inputs}; "
                    f"its columns: {list(frame.columns)} (set jobs.evaluation.target)"
                )
            checked_table(frame, self.inputs, target, contract)
            return frame, target, str(self.inputs)
        return held_out_split(self._training_params(client, evaluated), evaluated, contract)

    def _training_params(self, client: MlflowClient, evaluated: ModelVersion) -> dict[str, str]:
        """Return the parameters of the run that logged the version ({} when there is none)."""
        if not evaluated.run_id:
            return {}
        return dict(client.get_run(evaluated.run_id).data.params)

    def _predict(self, name: str, number: str, frame: pd.DataFrame) -> Any:
        """Load a version and predict for the rows, with the columns of its signature."""
        import numpy as np

        model = registries.load_model(registries.model_uri(name, version=int(number)))
        signature = model.metadata.signature
        columns = signature.inputs.input_names() if signature is not None else None
        return np.asarray(model.predict(datasets.numeric_features(frame, columns))).ravel()

    def _evaluate(
        self,
        frame: pd.DataFrame,
        target: str,
        predicted: Any,
        *,
        prefix: str = "",
        model_id: str | None = None,
    ) -> dict[str, float]:
        """Score predictions with MLflow's regressor evaluation; return the gate metrics."""
        import mlflow
        import pandas as pd

        data = pd.DataFrame(
            {target: datasets.numeric_target(frame, target), "prediction": predicted}
        )
        result = mlflow.models.evaluate(  # type: ignore[no-untyped-call]
            data=data,
            targets=target,
            predictions="prediction",
            model_type="regressor",
            # SHAP is the explanations job's: here it would double the time for plots of no use
            evaluator_config={"log_model_explainability": False, "metric_prefix": prefix},
            model_id=model_id,
        )
        return gates.gate_scores(result.metrics, prefix)

    def _record(
        self,
        client: MlflowClient,
        evaluated: ModelVersion,
        *,
        run_id: str,
        verdict: str,
        why: str,
        checks: list[gates.Check],
        compared: str,
    ) -> None:
        """Write the verdict on the run (tags, metrics, JSON) and on the model version (tags)."""
        import mlflow

        self.mlflow_service.set_tags(
            {"model_name.verdict": verdict, "model_name.verdict_reason": why}
        )
        self.mlflow_service.log_metrics(
            {
                "gate_passed": 1.0 if verdict == gates.PASSED else 0.0,
                "gate_checks_failed": float(sum(not check.passed for check in checks)),
            }
        )
        document = {
            "model_name": evaluated.name,
            "model_version": str(evaluated.version),
            "verdict": verdict,
            "reason": why,
            "checks": [check.model_dump() for check in checks],
        }
        mlflow.log_text(json.dumps(document, indent=2), VERDICT_ARTIFACT)
        for key, value in (
            (gates.VERDICT_TAG, verdict),
            (gates.RUN_TAG, run_id),
            (gates.REASON_TAG, why),
            (gates.COMPARED_TAG, compared),
        ):
            client.set_model_version_tag(evaluated.name, str(evaluated.version), key, value)


def checked_table(
    frame: pd.DataFrame, table: Path | str, target: str, contract: Contract | None
) -> None:
    """Check an evaluation table against the version's contract; log it as the run's input.

    The target is checked with the contract's rule when it is the column the version was
    trained to predict; the features always.

    Raises:
        ContractViolation: the table breaks the contract (its report logged on the run).
    """
    from model_name.contracts import lineage

    if contract is not None:
        enforce(frame, contract if contract.target == target else contract.features(), str(table))
    name = "diabetes" if str(table) == datasets.SAMPLE_SOURCE else None
    lineage.log_table(table, "evaluation", contract, name=name)


def held_out_split(
    params: dict[str, str], evaluated: ModelVersion, contract: Contract | None = None
) -> tuple[pd.DataFrame, str, str]:
    """Rebuild the held-out rows of a training run from its logged parameters.

    The split is the training job's: the same table, target, `test_size` and `random_state`
    given to `train_test_split`, so the rows are exactly those the model was measured on.

    Args:
        params: the training run's parameters.
        evaluated: the version being evaluated, for the error message.
        contract: the version's contract: the whole table is checked against it before the
            split (its rows numbered as in the file); `None`: no check.

    Returns:
        The held-out rows (features and target), the target column and the table's source.

    Raises:
        JobError: the run did not log the parameters the split needs, its table is not found,
            or the table no longer gives the training run's number of held-out rows.
    """
    from sklearn.model_selection import train_test_split

    missing = [key for key in SPLIT_PARAMS if key not in params]
    if missing:
        raise JobError(
            f"version {evaluated.version} of '{evaluated.name}' has no training run with "
            f"{', '.join(missing)} to rebuild its held-out split; "
            "give an evaluation table with jobs.evaluation.inputs"
        )
    source, target = params["inputs"], params["target"]
    if source == datasets.SAMPLE_SOURCE:
        frame = datasets.load_sample()
    elif Path(source).is_file():
        frame = datasets.read_table(Path(source))
    else:  # a relative path, seen from another folder, or a file since moved
        raise JobError(
            f"the training table '{source}' of version {evaluated.version} of "
            f"'{evaluated.name}' is not found from {Path.cwd()}; "
            "give an evaluation table with jobs.evaluation.inputs"
        )
    checked_table(frame, source, target, contract)
    features = datasets.numeric_features(frame.drop(columns=[target]))
    _, x_test, _, y_test = train_test_split(
        features,
        datasets.numeric_target(frame, target),
        test_size=float(params["test_size"]),
        random_state=int(params["random_state"]),
    )
    if "n_test" in params and str(len(x_test)) != params["n_test"]:
        raise JobError(
            f"the table '{source}' has changed since version {evaluated.version} was trained: "
            f"its held-out split has {len(x_test)} rows, the training run's had "
            f"{params['n_test']}; give an evaluation table with jobs.evaluation.inputs"
        )
    held_out = x_test.assign(**{target: y_test})
    return held_out, target, f"held-out split of {source} (test_size={params['test_size']})"
