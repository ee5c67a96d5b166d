"""The tuning job: an Optuna study over the training pipeline's hyperparameters.

Every trial is an MLflow run; the study is run by as many workers as you start on its storage.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic as pdt

from model_name.contracts import lineage
from model_name.io import datasets
from model_name.io.datasets import TableInput, TablePath
from model_name.io.progress import Progress
from model_name.io.services import PROGRESS_LINE, StudyService
from model_name.jobs import tuning_runs
from model_name.jobs.base import Job, Locals
from model_name.jobs.training import build_pipeline
from model_name.jobs.tuning_heartbeat import fail_stale_journal_trials, journal_heartbeat
from model_name.jobs.tuning_space import (
    DEFAULT_SEARCH_SPACE,
    SearchSpace,
    check_search_space,
    suggest,
)

if TYPE_CHECKING:
    import optuna
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

Metric = Literal["rmse", "mae", "r2"]
DIRECTIONS: dict[str, Literal["minimize", "maximize"]] = {
    "rmse": "minimize",
    "mae": "minimize",
    "r2": "maximize",
}
"""Which way each metric improves."""

WAIT_SECONDS = 1.0
"""How often a worker with nothing left to start checks on the trials other workers run."""


class TuningJob(Job):
    """Search the training pipeline's hyperparameters with an Optuna study shared by workers.

    Each worker (`model_name run tuning`, started as many times as you like, on any machine that
    reaches the study's storage) runs trials until the study has `n_trials` complete trials
    between all workers, or `timeout_seconds` passed. A trial picks an estimator and its
    hyperparameters from `search_space`, scores them by `cv_folds`-fold cross-validation, and is
    a child MLflow run (params, per-fold and mean scores, duration) of the study's parent run,
    which ends FINISHED with the best trial's params and score when the study is complete.

    Attributes:
        study: the study's name in the storage (letters, digits, `-`, `_`, `.`).
        search_space: estimator -> hyperparameter -> distribution (see `tuning_space`).
        metric: what a trial scores: `rmse`, `mae` or `r2`.
        direction: `minimize` or `maximize`; `None` follows the metric.
        cv_folds: the folds of the cross-validation.
        n_trials: the study's total of complete trials, whoever runs them.
        timeout_seconds: this worker starts no trial after so many seconds; `None`: no limit.
        sampler: `tpe` (Optuna's default) or `random`.
        seed: the sampler's seed; trial N is seeded with seed + N, so the study does not depend
            on how many workers ran it; `None` is random.
        inputs: a CSV or Parquet file; `None` tunes on scikit-learn's diabetes data set.
        target: the column to predict.
        random_state: the seed of the folds and of the tree regressors.
        study_service: the study storage.
    """

    KIND = "tuning"

    study: str = pdt.Field(default="model_name", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    search_space: SearchSpace = pdt.Field(default_factory=lambda: dict(DEFAULT_SEARCH_SPACE))
    metric: Metric = "rmse"
    direction: Literal["minimize", "maximize"] | None = None
    cv_folds: int = pdt.Field(default=5, ge=2, le=100)
    n_trials: int = pdt.Field(default=20, ge=1, le=100_000)
    timeout_seconds: float | None = pdt.Field(default=None, gt=0)
    sampler: Literal["tpe", "random"] = "tpe"
    seed: int | None = pdt.Field(default=42, ge=0, le=2**31 - 1)
    inputs: Annotated[TablePath | None, TableInput(columns=("target",))] = None
    target: str = pdt.Field(default=datasets.SAMPLE_TARGET, min_length=1)
    random_state: int = pdt.Field(default=42, ge=0, le=2**32 - 1)

    study_service: StudyService = pdt.Field(default_factory=StudyService)

    _check_space = pdt.field_validator("search_space")(check_search_space)

    _progress: Progress | None = pdt.PrivateAttr(default=None)

    def services(self) -> tuple[Any, ...]:
        """Return the job's services in start order, the study storage after the logger."""
        logger_service, *others = super().services()
        return (logger_service, self.study_service, *others)

    def goal(self) -> Literal["minimize", "maximize"]:
        """Return the study's direction: `direction`, or the metric's own."""
        return self.direction or DIRECTIONS[self.metric]

    def run(self) -> Locals:
        """Run trials until the study has `n_trials` complete ones; return locals()."""
        import optuna
        from optuna.trial import TrialState

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # the job logs one line a trial
        logger = self.logger_service.logger()
        frame = datasets.read_table(self.inputs) if self.inputs else datasets.load_sample()
        features = datasets.numeric_features(frame.drop(columns=[self.target]))
        labels = datasets.numeric_target(frame, self.target)
        study = self.study_service.open_study(self.study, self.goal(), self.make_sampler())
        client = self.mlflow_service.client()
        experiment = client.get_experiment_by_name(self.mlflow_service.experiment_name)
        assert experiment is not None  # MlflowService.start() created it
        parent = tuning_runs.find_or_create_parent(
            client,
            experiment.experiment_id,
            self.study,
            {"model_name.job": self.KIND, "model_name.storage": self.study_service.location()},
        )
        logger.info(
            "Study {} in {}: {} trials, {} {}; parent run {}",
            self.study, self.study_service.location(), self.n_trials, self.goal(), self.metric,
            parent,
        )  # fmt: skip
        deadline = time.monotonic() + (self.timeout_seconds or float("inf"))
        ran = 0
        self._progress = Progress(
            total=self.n_trials,
            unit="trial",
            # one line a trial in a log file; on a terminal the bar shows it instead
            say=lambda line: logger.bind(**{PROGRESS_LINE: True}).info("{}", line),
            bar=self.logger_service.shows_progress_bars(),
            description=f"study {self.study}",
        )
        try:
            while time.monotonic() < deadline:
                self.fail_stale_trials(study)
                trials = study.get_trials(deepcopy=False)
                if any(trial.state == TrialState.FAIL for trial in trials):
                    tuning_runs.end_orphan_runs(client, parent, study)
                complete = sum(trial.state == TrialState.COMPLETE for trial in trials)
                running = sum(trial.state == TrialState.RUNNING for trial in trials)
                if complete >= self.n_trials:
                    tuning_runs.finish_parent(client, parent, study, self.metric)
                    logger.info(
                        "Study {} complete: best trial {}", self.study, study.best_trial.number
                    )
                    break
                if complete + running >= self.n_trials:
                    time.sleep(WAIT_SECONDS)  # their trials end, or fail by heartbeat
                    continue
                study.optimize(
                    lambda trial: self.objective(trial, features, labels, parent),
                    n_trials=1,
                    gc_after_trial=False,
                    callbacks=[self.progress],
                )
                ran += 1
            else:
                logger.warning(
                    "Timeout: {} s passed; run the command again to resume the study",
                    self.timeout_seconds,
                )
        except BaseException as error:
            status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
            tuning_runs.end_parent(client, parent, study, status)
            raise
        finally:
            self._progress.close()
            self._progress = None
        return locals()

    def objective(
        self, trial: optuna.Trial, features: pd.DataFrame, labels: pd.Series[float], parent: str
    ) -> float:
        """Score one trial's estimator by cross-validation, inside its own child run."""
        import optuna
        from mlflow.utils.autologging_utils import disable_autologging
        from optuna.trial import TrialState

        ahead = [
            other
            for other in trial.study.get_trials(
                deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)
            )
            if other.number < trial.number
        ]
        if len(ahead) >= self.n_trials:  # another worker started the last trial first
            raise optuna.TrialPruned("the study has its trials")
        self._seed(trial)
        params = suggest(trial, self.search_space)
        self.logger_service.logger().debug("Trial {} started: {}", trial.number, params)
        tags = {
            tuning_runs.PARENT_TAG: parent,
            tuning_runs.STUDY_TAG: self.study,
            tuning_runs.TRIAL_TAG: str(trial.number),
        }
        config = self.run_config(name=f"{self.study}-trial-{trial.number}", tags=tags)
        beating = (
            contextlib.nullcontext()
            if self.study_service.is_database()  # Optuna's own heartbeat runs
            else journal_heartbeat(trial, self.study_service.heartbeat_seconds)
        )
        with beating, self.mlflow_service.run_context(config):
            started = time.perf_counter()
            lineage.log_table(  # what the trial was scored on: source, digest (no profiling)
                self.inputs or datasets.SAMPLE_SOURCE,
                "tuning",
                name=None if self.inputs else "diabetes",
            )
            self.mlflow_service.log_params(
                {**params, "cv_folds": self.cv_folds, "trial": trial.number}
            )
            with disable_autologging():  # each fold's fit would log over the trial's params
                scores = cross_validate(
                    params, features, labels, self.metric, self.cv_folds, self.random_state
                )
            for fold, score in enumerate(scores):
                self.mlflow_service.log_metrics({f"{self.metric}_fold": score}, step=fold)
            mean = sum(scores) / len(scores)
            duration = time.perf_counter() - started
            self.mlflow_service.log_metrics({self.metric: mean, "duration_seconds": duration})
        return mean

    def fail_stale_trials(self, study: optuna.Study) -> list[int]:
        """Fail the trials of dead workers (no heartbeat for the grace period); queue them again.

        Returns:
            The numbers of the trials failed (always empty for a database: Optuna fails them
            when the next trial starts, through the storage's heartbeat callback).
        """
        import optuna

        service = self.study_service
        if service.is_database():
            with warnings.catch_warnings():  # "experimental" since Optuna 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)
            return []
        grace = service.grace_period_seconds or 2 * service.heartbeat_seconds
        failed = fail_stale_journal_trials(study, grace, service.retries)
        if failed:
            self.logger_service.logger().warning("Trials {} failed: no heartbeat", failed)
        return failed

    def progress(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Log one line a trial: its outcome, the study's complete trials, the best so far."""
        from optuna.trial import TrialState

        if trial.state == TrialState.PRUNED:
            return  # not started: the study had its trials
        done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        best = tuning_runs.best_so_far(study)
        value = "-" if trial.value is None else f"{trial.value:.4f}"
        best_text = f"best {self.metric}={'-' if best is None else f'{best:.4f}'}"
        line = (
            f"Trial {trial.number} {trial.state.name.lower()}: {self.metric}={value} | "
            f"{done}/{self.n_trials} complete | {best_text}"
        )
        if self._progress is None:  # called outside run(): one line in the log
            self.logger_service.logger().info("{}", line)
        else:
            self._progress.reach(done, line, brief=best_text)

    def make_sampler(self) -> optuna.samplers.BaseSampler:
        """Return the configured sampler (TPE with a constant liar: workers share the study)."""
        import optuna

        if self.sampler == "random":
            return optuna.samplers.RandomSampler(seed=self.seed)
        return optuna.samplers.TPESampler(seed=self.seed, constant_liar=True)

    def _seed(self, trial: optuna.Trial) -> None:
        """Seed the sampler with seed + the trial's number: workers then never draw alike.

        With one seed per worker, two workers started together draw the same parameters.
        Optuna has no per-trial seed: this sets its samplers' random states (Optuna 5).
        """
        if self.seed is None:
            return
        sampler = trial.study.sampler
        for owner in (sampler, getattr(sampler, "_random_sampler", None)):
            state = getattr(owner, "_rng", None)
            if state is not None:
                state.rng.seed(self.seed + trial.number)


def cross_validate(  # noqa: PLR0917 - the pieces of one scoring, all required
    params: dict[str, Any],
    features: pd.DataFrame,
    labels: pd.Series[float],
    metric: str,
    folds: int,
    random_state: int,
) -> list[float]:
    """Return the metric of each fold of a shuffled K-fold cross-validation of the pipeline."""
    from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
    from sklearn.model_selection import KFold

    score = {"rmse": root_mean_squared_error, "mae": mean_absolute_error, "r2": r2_score}[metric]
    hyperparameters = {name: value for name, value in params.items() if name != "estimator"}
    hyperparameters = {name: value for name, value in hyperparameters.items() if value is not None}
    scores: list[float] = []
    splitter = KFold(n_splits=folds, shuffle=True, random_state=random_state)
    for train, test in splitter.split(features):
        pipeline = build_pipeline(params["estimator"], hyperparameters, random_state)
        pipeline.fit(features.iloc[train], labels.iloc[train])
        scores.append(float(score(labels.iloc[test], pipeline.predict(features.iloc[test]))))
    return scores
