"""The promotion job: point a registry alias (`champion`) at a model version, in a tracked run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pydantic as pdt

from model_name import gates
from model_name.errors import GateFailedError, ModelNotFoundError
from model_name.io import registries
from model_name.io.registries import Alias
from model_name.jobs.base import Job, Locals

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion


class PromotionJob(Job):
    """Promote a registered model version: move an alias (`champion`) to it.

    Points `alias` of the model registered as `mlflow.registry_name` at `version`, or at the
    latest version when `version` is not set, moving the alias away from the version that had it.
    The promotion is tracked as an MLflow run whose parameters say which model, alias and version
    were promoted and which version had the alias before. A model or version that does not exist
    fails the job (and its run) with a `ModelNotFoundError` that names them and lists what exists.
    With `require_evaluation`, a version whose latest evaluation (the `evaluation` job) did not
    pass is refused with a `GateFailedError` (exit 1) and the alias does not move; so is one
    whose evaluation compared it with another holder of the alias than the current one.

    Attributes:
        alias: the alias to move: letters, digits, `_` and `-`; `latest` and `v<N>` are reserved.
        version: the version to promote (1 or more); `None` promotes the latest version.
        require_evaluation: refuse a version that has no passed evaluation (off by default, so
            that training then promotion works without the evaluation job).
    """

    KIND = "promotion"

    alias: Alias = "champion"
    version: int | None = pdt.Field(default=None, ge=1)
    require_evaluation: bool = False

    def run(self) -> Locals:
        """Move the alias in a tracked run and return locals()."""
        logger = self.logger_service.logger()
        name = self.mlflow_service.registry_name
        wanted = registries.wanted_version(None, self.version)
        config = self.run_config(description=f"Point '{self.alias}' of '{name}' at {wanted}.")
        with self.mlflow_service.run_context(config) as run:
            client = self.mlflow_service.client()
            try:
                target = registries.resolve_version(client, name, version=self.version)
            except ModelNotFoundError as error:
                raise ModelNotFoundError(
                    f"cannot promote {wanted} of model '{name}' to '{self.alias}': {error}"
                ) from error
            previous = registries.registered_model(client, name).aliases.get(self.alias)
            if self.require_evaluation:
                candidate = client.get_model_version(name, str(target.version))
                require_passed_evaluation(candidate)
                require_current_comparison(candidate, self.alias, previous)
            promoted = registries.set_alias(client, name, self.alias, int(target.version))
            self.mlflow_service.log_params(
                {
                    "model_name": name,
                    "alias": self.alias,
                    "version": promoted.version,
                    "previous_version": previous or "none",
                    "model_uri": registries.model_uri(name, alias=self.alias),
                    "require_evaluation": self.require_evaluation,
                }
            )
            logger.info(
                "Model {} alias '{}' now points at version {} (before: {})",
                name,
                self.alias,
                promoted.version,
                previous or "none",
            )
        return locals()


def require_passed_evaluation(version: ModelVersion) -> None:
    """Refuse a model version whose latest evaluation did not pass.

    Args:
        version: the version about to be promoted, with its tags.

    Raises:
        GateFailedError: the version was never evaluated, or its evaluation failed.
    """
    tags = dict(version.tags or {})
    verdict = tags.get(gates.VERDICT_TAG)
    if verdict == gates.PASSED:
        return
    described = f"version {version.version} of '{version.name}'"
    rerun = f"run: model_name run evaluation --set jobs.evaluation.version={version.version}"
    if verdict is None:
        raise GateFailedError(
            f"cannot promote {described}: it has no evaluation (no {gates.VERDICT_TAG} tag); "
            f"{rerun}"
        )
    raise GateFailedError(
        f"cannot promote {described}: its evaluation {verdict} "
        f"(run {tags.get(gates.RUN_TAG, 'unknown')}: {tags.get(gates.REASON_TAG, 'no reason')})"
    )


def require_current_comparison(version: ModelVersion, alias: str, holder: str | None) -> None:
    """Refuse a version whose passed evaluation compared it with another holder of the alias.

    A version evaluated when `champion` was version 3 (or when there was none) was not compared
    with version 4, promoted since: its verdict says nothing about replacing version 4. An
    evaluation that compared with no champion by configuration (`disabled`) is accepted.

    Args:
        version: the version about to be promoted, with its tags.
        alias: the alias being moved.
        holder: the version the alias points at now (`None`: no version).

    Raises:
        GateFailedError: the evaluation compared with another version than `holder`.
    """
    if holder is None or holder == str(version.version):
        return
    compared = dict(version.tags or {}).get(gates.COMPARED_TAG, "none")
    if compared in ("disabled", f"{alias}@{holder}"):
        return
    raise GateFailedError(
        f"cannot promote version {version.version} of '{version.name}': its evaluation compared "
        f"it with {compared}, but '{alias}' is now version {holder}; "
        f"run: model_name run evaluation --set jobs.evaluation.version={version.version}"
    )
