"""The MLflow side of a study: one parent run per study, found by its tag, and its trials' runs.

Workers on several machines share a study through Optuna's storage; they share its MLflow parent
run through a tag, `model_name.study_run`, set to the study's name. Every worker looks for it,
creates it when there is none, and, if two workers created one at the same moment, all keep the
oldest and the newer is deleted: all trials nest under one parent whoever ran them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from model_name.io.services import run_record_tags

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient

STUDY_RUN_TAG = "model_name.study_run"
"""The tag that marks a study's parent run; its value is the study's name."""

STUDY_TAG = "model_name.study"
"""The tag of a trial's run (and of a run trained from a study): the study's name."""

TRIAL_TAG = "model_name.trial_number"
"""The tag of a trial's run: the trial's number in the study."""

PARENT_TAG = "mlflow.parentRunId"
"""MLflow's own tag that nests a run under another, in the UI and in searches."""


def find_or_create_parent(
    client: MlflowClient, experiment_id: str, study: str, tags: dict[str, str]
) -> str:
    """Return the id of the study's parent run, created when no worker made one yet.

    The run is (again) RUNNING on return: a study interrupted earlier is resumed.

    Args:
        client: an MLflow client on the tracking store.
        experiment_id: the experiment the runs belong to.
        study: the study's name.
        tags: more tags for a new parent run (the job, the masked storage location).
    """
    parent = _oldest_parent(client, experiment_id, study)
    if parent is None:
        created = client.create_run(
            experiment_id,
            run_name=f"study-{study}",
            tags={**run_record_tags(), **tags, STUDY_RUN_TAG: study},
        )
        parent = _oldest_parent(client, experiment_id, study) or created.info.run_id
        if parent != created.info.run_id:  # another worker's parent came first: use that one
            client.delete_run(created.info.run_id)
    if client.get_run(parent).info.status != "RUNNING":
        client.update_run(parent, status="RUNNING")
    return parent


def end_orphan_runs(client: MlflowClient, parent: str, study: optuna.Study) -> list[str]:
    """End KILLED the trial runs left RUNNING by a dead worker whose trial the study failed.

    A worker killed mid-trial cannot end its run; once Optuna's heartbeat has failed its trial,
    any worker ends the run here. Runs of trials still running elsewhere are left alone.

    Returns:
        The ids of the runs ended.
    """
    from optuna.trial import TrialState

    states = {trial.number: trial.state for trial in study.get_trials(deepcopy=False)}
    ended: list[str] = []
    for run in client.search_runs(
        [client.get_run(parent).info.experiment_id],
        filter_string=f"tags.`{PARENT_TAG}` = '{parent}' and attributes.status = 'RUNNING'",
    ):
        number = run.data.tags.get(TRIAL_TAG)
        if number is not None and states.get(int(number)) == TrialState.FAIL:
            client.set_tag(run.info.run_id, "model_name.ended_by", "stale trial (no heartbeat)")
            client.set_terminated(run.info.run_id, status="KILLED")
            ended.append(run.info.run_id)
    return ended


RACE_ATTEMPTS = 3
"""How often a write that lost a race to another worker is made again."""


def finish_parent(client: MlflowClient, parent: str, study: optuna.Study, metric: str) -> None:
    """Record the best trial on the parent run (params, score, number) and end it FINISHED.

    Every worker that sees the study complete calls this, often at the same moment: writing the
    same values twice is harmless, but two first writes of one tag race on a SQLite store's
    unique key, so a write that loses that race is made again (it then updates the row).
    """
    from mlflow.entities import Param
    from mlflow.exceptions import MlflowException

    best = study.best_trial
    params = [Param(name, str(value)) for name, value in best.params.items()]

    def record() -> None:
        client.set_tag(parent, "best_trial", str(best.number))
        client.log_metric(parent, f"best_{metric}", float(best.value or 0.0))
        try:
            client.log_batch(parent, params=params)
        except MlflowException as error:
            if _lost_a_race(error):
                raise
            for param in params:  # a study extended after it finished: params cannot change
                client.set_tag(parent, f"best.{param.key}", param.value)

    for attempt in range(RACE_ATTEMPTS):
        try:
            record()
            break
        except MlflowException as error:
            if not _lost_a_race(error) or attempt == RACE_ATTEMPTS - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
    client.set_terminated(parent, status="FINISHED")


def _lost_a_race(error: Exception) -> bool:
    """Whether a write failed because another worker inserted the same row first."""
    return "UNIQUE constraint failed" in str(error) or "duplicate key value" in str(error)


def end_parent(client: MlflowClient, parent: str, study: optuna.Study, status: str) -> None:
    """End the parent run with `status` (KILLED, FAILED) unless other workers still run trials."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        client.set_terminated(parent, status=status)


def best_so_far(study: optuna.Study) -> Any:
    """Return the best trial's value, or None before any trial completed."""
    return study.best_value if study.best_trials else None


def _oldest_parent(client: MlflowClient, experiment_id: str, study: str) -> str | None:
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{STUDY_RUN_TAG}` = '{study}'",
        order_by=["attributes.start_time ASC", "attributes.run_id ASC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None
