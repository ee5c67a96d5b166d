"""What a step leaves behind, whether it still holds, and what it reads from shared state.

Steps that change shared state (the registry's versions and aliases, a predictions file) are
fingerprinted by what they act on, resolved when the step comes up, and reused only while what
they left still holds:

| job | reads (part `state` of its fingerprint) | outputs | reused only while |
|---|---|---|---|
| tuning | - | study, best trial | its run is not deleted |
| training | - | registered version | that version and its run exist |
| evaluation | the version it would evaluate | version, verdict | the version's verdict is still this run's, and a gated promotion would accept its comparison with the current champion |
| promotion | the version it would promote | alias, version | the alias still points at that version |
| inference | the version the alias (or version) names | predictions file and its digest | the file is there with that content |

Any other job: its outputs are its run; reused while that run is not deleted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from model_name.pipelines.fingerprint import file_digest

JOB_RUN = "job_run"
"""The output naming the job's own MLflow run (never part of a downstream fingerprint)."""


def capture(kind: str, produced: Mapping[str, Any]) -> dict[str, str]:
    """Return a step's outputs from what its job's `run()` returned (its locals)."""
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
    if run_id:
        try:
            if client.get_run(run_id).info.lifecycle_stage == "deleted":
                return f"its job run {run_id} was deleted"
        except Exception:
            return f"its job run {run_id} is gone"
    version = outputs.get("version")
    if kind in ("training", "evaluation") and version:
        try:
            model_version = client.get_model_version(name, version)
        except Exception:
            return f"version {version} of '{name}' is gone"
        if kind == "evaluation":
            return _evaluation_holds(model_version, run_id, params, client, name)
    if kind == "promotion" and version:
        alias = outputs.get("alias", "")
        try:
            holder = str(client.get_model_version_by_alias(name, alias).version)
        except Exception:
            holder = "none"
        if holder != version:
            return f"alias '{alias}' moved to {holder} (this step set it to version {version})"
    if kind == "inference" and outputs.get("predictions"):
        path = Path(outputs["predictions"])
        if not path.is_file():
            return f"{path} was removed"
        if file_digest(path) != outputs.get("predictions_digest"):
            return f"{path} was changed"
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
