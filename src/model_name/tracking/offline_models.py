"""Offline runs' models on their way to the server: logged models and registered versions.

MLflow 3 keeps a run's models as logged models (`models:/m-...`) beside the run, and a model
version points at one. `copy_models` copies the logged models an offline run made (params, tags,
artifacts) into the target experiment, then registers again, under the same names, the versions
the run registered offline, pointing at the copies. Each copy is tagged with its source
(`model_name.source_model_id`, `model_name.source_version` = "name/version") and skipped when it
exists, so copying twice registers nothing twice. The target's version numbers are its own.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

MODEL_SOURCE_TAG = "model_name.source_model_id"
VERSION_SOURCE_TAG = "model_name.source_version"


def copy_models(
    source: MlflowClient, target: MlflowClient, run: Run, experiment_id: str, target_run_id: str
) -> int:
    """Copy a run's logged models and register its versions again; return versions registered."""
    copies = _copy_logged_models(source, target, run, experiment_id, target_run_id)
    return _copy_versions(source, target, run, target_run_id, copies)


def _copy_logged_models(
    source: MlflowClient, target: MlflowClient, run: Run, experiment_id: str, target_run_id: str
) -> dict[str, str]:
    """Copy the logged models made in `run`; return {source model id: target model id}."""
    from mlflow.artifacts import download_artifacts

    copies: dict[str, str] = {}
    models = source.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'",
    )
    for model in models:
        found = target.search_logged_models(
            experiment_ids=[experiment_id],
            filter_string=f"tags.`{MODEL_SOURCE_TAG}` = '{model.model_id}'",
        )
        if found:
            copies[model.model_id] = found[0].model_id
            continue
        created = target.create_logged_model(
            experiment_id,
            name=model.name,
            source_run_id=target_run_id,
            tags={**model.tags, MODEL_SOURCE_TAG: model.model_id},
            params=model.params,
            model_type=model.model_type,
        )
        with tempfile.TemporaryDirectory(prefix="model_name-sync-") as folder:
            local = download_artifacts(
                artifact_uri=model.artifact_location,
                dst_path=folder,
                tracking_uri=source.tracking_uri,
            )
            target.log_model_artifacts(created.model_id, local)
        target.finalize_logged_model(created.model_id, "READY")
        copies[model.model_id] = created.model_id
    return copies


def _copy_versions(
    source: MlflowClient,
    target: MlflowClient,
    run: Run,
    target_run_id: str,
    copies: dict[str, str],
) -> int:
    """Register, on the target, the versions `run` registered offline; return how many."""
    from mlflow.exceptions import MlflowException

    registered = 0
    for version in source.search_model_versions(f"run_id = '{run.info.run_id}'"):
        key = f"{version.name}/{version.version}"
        found = target.search_model_versions(
            f"name = '{version.name}' AND tags.`{VERSION_SOURCE_TAG}` = '{key}'"
        )
        if found:
            continue
        try:
            target.create_registered_model(version.name)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        source_id = version.model_id or str(version.source).removeprefix("models:/")
        model_id = copies.get(source_id)
        target.create_model_version(
            version.name,
            source=f"models:/{model_id}" if model_id else str(version.source),
            run_id=target_run_id,
            tags={**version.tags, VERSION_SOURCE_TAG: key},
            description=version.description,
            model_id=model_id,
        )
        registered += 1
    return registered
