"""What a step leaves behind, whether it still holds, and what it reads from shared state.

Steps that change shared state (the registry's versions and aliases, a predictions file) are
fingerprinted by what they act on, resolved when the step comes up, and reused only while what
they left still holds:

- tuning: outputs its study and best trial; reused while its run is not deleted.
- training: outputs the registered version; reused while that version and its run exist.
- evaluation: reads the version it would evaluate; outputs it; reused while the version's
  verdict is still this run's, and a gated promotion would accept its comparison with the
  current champion (the rule of `jobs.promotion.require_current_comparison`).
- promotion: reads the version it would promote; outputs the alias and that version; reused
  while the alias still points at that version.
- inference: reads the version its alias (or version) names; outputs the predictions file and
  its digest; reused while the file is there with that content.

Any other job: its outputs are its run; reused while that run is not deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from model_name.digests import file_digest

JOB_RUN = "job_run"
"""The output naming the job's own MLflow run (never part of a downstream fingerprint)."""


VERSION_TAGS = {
    "training": "model_name.registered_version",
    "evaluation": "model_name.evaluated_version",
}
"""The tag each job sets on its run naming the version it made or judged."""


def capture(kind: str, produced: Mapping[str, Any], client: Any = None) -> dict[str, str]:
    """Return a step's outputs from what its job's `run()` returned (its locals).

    With a client, a version the locals do not name is read from the job run's tag
    (`VERSION_TAGS`).
    """
    outputs = _from_locals(kind, produced)
    tag = VERSION_TAGS.get(kind)
    if tag and "version" not in outputs and client is not None and outputs.get(JOB_RUN):
        version = client.get_run(outputs[JOB_RUN]).data.tags.get(tag)
        if version:
            outputs["version"] = version
    return outputs


def _from_locals(kind: str, produced: Mapping[str, Any]) -> dict[str, str]:
    outputs: dict[str, str] = {}
    run = produced.get("run")
    if run is not None and hasattr(run, "info"):
        outputs[JOB_RUN] = run.info.run_id
    elif isinstance(produced.get("parent"), str):  # tuning: the study's parent run
        outputs[JOB_RUN] = produced["parent"]
    if kind == "tuning" and produced.get("study") is not None:
        study = produced["study"]
        outputs["study"] = study.study_name
        with contextlib.suppress(ValueError):  # no complete trial
            outputs["best_trial"] = str(study.best_trial.number)
            outputs["best_params"] = str(sorted(study.best_trial.params.items()))
    elif kind == "training" and produced.get("model_version") is not None:
        outputs["version"] = str(produced["model_version"].version)
    elif kind == "evaluation" and produced.get("number") is not None:
        outputs["version"] = str(produced["number"])
    elif kind == "promotion" and produced.get("promoted") is not None:
        outputs["alias"] = str(produced["self"].alias)
        outputs["version"] = str(produced["promoted"].version)
    elif kind == "inference" and produced.get("self") is not None:
        path = Path(produced["self"].outputs)
        outputs["predictions"] = str(path)
        outputs["predictions_digest"] = file_digest(path) if path.is_file() else "missing"
        if produced.get("model_version") is not None:
            outputs["version"] = str(produced["model_version"].version)
    return outputs


def chained(outputs: Mapping[str, str]) -> dict[str, str]:
    """Return the outputs a downstream step depends on: all but the job's run id."""
    return {key: value for key, value in outputs.items() if key != JOB_RUN}


def state(kind: str, params: Mapping[str, Any], client: Any, registry_name: str) -> str:
    """Return what a step reads from shared state now: the version it would act on, or ''."""
    if kind not in ("evaluation", "promotion", "inference"):
        return ""
    if client is None:  # no store yet (a dry run): nothing registered
        return "none"
    from model_name.io import registries

    alias = params.get("alias") if kind != "promotion" else None
    try:
        version = registries.resolve_version(
            client, registry_name, alias=alias, version=params.get("version")
        )
    except Exception:  # no model, no such alias yet: the step will say so when it runs
        return "none"
    return str(version.version)


def still_holds(
    kind: str, outputs: Mapping[str, str], params: Mapping[str, Any], client: Any, name: str
) -> str | None:
    """Return why a finished step's outputs no longer hold, or None when they all do.

    Args:
        kind: the job's kind.
        outputs: what the step's run recorded.
        params: the step's parameters.
        client: an MLflow client on the store.
        name: the registered model's name.
    """
    run_id = outputs.get(JOB_RUN)
    reason = _run_gone(client, run_id) if run_id else None
    version = outputs.get("version")
    if reason is None and kind in ("training", "evaluation") and version:
        try:
            model_version = client.get_model_version(name, version)
        except Exception:
            return f"version {version} of '{name}' is gone"
        if kind == "evaluation":
            reason = _evaluation_holds(model_version, run_id, params, client, name)
    if reason is None and kind == "promotion" and version:
        reason = _alias_moved(client, name, outputs.get("alias", ""), version)
    if reason is None and kind == "inference" and outputs.get("predictions"):
        path = Path(outputs["predictions"])
        if not path.is_file():
            reason = f"{path} was removed"
        elif file_digest(path) != outputs.get("predictions_digest"):
            reason = f"{path} was changed"
    return reason


def _run_gone(client: Any, run_id: str) -> str | None:
    try:
        deleted = client.get_run(run_id).info.lifecycle_stage == "deleted"
    except Exception:
        return f"its job run {run_id} is gone"
    return f"its job run {run_id} was deleted" if deleted else None


def _alias_moved(client: Any, name: str, alias: str, version: str) -> str | None:
    try:
        holder = str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        holder = "none"
    if holder != version:
        return f"alias '{alias}' moved to {holder} (this step set it to version {version})"
    return None


def _evaluation_holds(
    version: Any, run_id: str | None, params: Mapping[str, Any], client: Any, name: str
) -> str | None:
    """Say why an evaluation no longer holds: another verdict, or a champion it never met."""
    from model_name import gates
    from model_name.errors import ModelNameError
    from model_name.jobs.promotion import require_current_comparison

    tags = dict(version.tags or {})
    if run_id and tags.get(gates.RUN_TAG) != run_id:
        return f"version {version.version}'s verdict is now run {tags.get(gates.RUN_TAG)}'s"
    alias = params.get("champion_alias")
    if not alias:
        return None
    try:
        holder: str | None = str(client.get_model_version_by_alias(name, alias).version)
    except Exception:
        holder = None
    try:  # the rule a gated promotion applies
        require_current_comparison(version, alias, holder)
    except ModelNameError:
        return f"'{alias}' is now version {holder}, which this evaluation did not compare with"
    return None
