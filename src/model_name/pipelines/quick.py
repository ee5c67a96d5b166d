"""Nothing to run: record the pipeline's run and its reused steps without starting MLflow.

Starting the tracking service (importing MLflow, opening and checking the store, the reaper,
the outbox) costs seconds. When every step would be reused, the same decisions the runner would
make are made on the store as it is, the parent run is recorded (FINISHED, each step's tag
pointing at the run it reuses) and the pipeline's one alert goes out.

On the embedded SQLite store, MLflow is not even imported: the store's file is read and written
with `sqlite3` (`model_name.pipelines.sqlite_store`), the same decision code asking it the same
questions, so a re-run of an unchanged pipeline takes about as long as reading the configuration
and fingerprinting the steps. On another store (a tracking server, a database), a plain
`MlflowClient` does it. Anything else (a step to run, a forced step, an offline or authenticated
store, an error reading the store) takes the full path, services started.
"""

from __future__ import annotations

import contextlib
from typing import Any

from model_name.pipelines import reuse
from model_name.pipelines.runner import PipelineRunner, StepOutcome, outcome_tags, tag_outcomes
from model_name.pipelines.sqlite_store import SqliteStore, now_ms, open_store, store_path
from model_name.pipelines.validation import Step


def store_as_is(settings: Any) -> tuple[Any, str | None]:
    """Return a client on the tracking store and the experiment's id, creating neither.

    The client is a `SqliteStore` on a SQLite store it can read without MLflow, else an
    `MlflowClient`.

    Returns:
        `(None, None)` for a SQLite store that does not exist yet: a client would create it.
    """
    uri = settings.mlflow.tracking_uri
    path = store_path(uri)
    if uri.startswith("sqlite:///") and (path is None or not path.is_file()):
        return None, None  # a client would create it (and run its migrations)
    store = open_store(settings)
    if store is not None:
        found = store.get_experiment_by_name(settings.mlflow.experiment_name)
        return store, found.experiment_id if found is not None else None
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=settings.mlflow.registry_uri or uri)
    experiment = client.get_experiment_by_name(settings.mlflow.experiment_name)
    return client, experiment.experiment_id if experiment is not None else None


def reuse_everything(
    container: Any, name: str, steps: list[Step], settings: Any
) -> list[StepOutcome] | None:
    """Record a pipeline run whose every step is reused, and return the outcomes; else None.

    Returns:
        None when a step would run, or when the store is not one a plain client may use as is
        (offline or `auto` mode, credentials, no experiment yet): the caller runs the pipeline.
    """
    mlflow = settings.mlflow
    if mlflow.mode != "online" or mlflow.tracking_username or mlflow.tracking_token:
        return None
    started = now_ms()
    client: Any = None
    try:
        client, experiment_id = store_as_is(settings)
        if experiment_id is None:
            return None
        plan = PipelineRunner(container, name, steps, settings).plan(client, experiment_id)
        if any(outcome.status != "would reuse" for outcome in plan):
            return None
        outcomes = [StepOutcome(o.step, "reused", o.run_id, o.why, o.outputs) for o in plan]
        tags = {reuse.NAME_TAG: name, reuse.ROLE_TAG: "pipeline"}
        if isinstance(client, SqliteStore):
            client.record_run(
                experiment_id, f"pipeline {name}", {**tags, **outcome_tags(outcomes)}, started
            )
            return outcomes
    except Exception:  # the full path says what is wrong, with the services' own checks
        return None
    finally:
        if isinstance(client, SqliteStore):
            client.close()
    run = client.create_run(experiment_id, run_name=f"pipeline {name}", tags=tags)
    tag_outcomes(client, run.info.run_id, outcomes)
    client.set_terminated(run.info.run_id, "FINISHED")
    return outcomes


def close(client: Any) -> None:
    """Close a client `store_as_is` returned, when it holds a connection."""
    with contextlib.suppress(Exception):
        if isinstance(client, SqliteStore):
            client.close()
