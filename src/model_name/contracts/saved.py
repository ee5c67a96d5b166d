"""The contract kept with the model version trained on it; checks that leave their report on a run.

Training logs its contract as the run artifact `contract/contract.json` and tags the version it
registers `model_name.contract` with that artifact's URI (`runs:/<run>/contract/contract.json`).
`contract_of_model` reads it back for evaluation, explanations, inference and serving, with no
configuration; a version registered before contracts existed has none (`None`: nothing checked).

`enforce` is `check_frame` inside a job's run: a violation also logs its whole report as the run
artifact `contract/violations.json` before it propagates (exit 1, the run FAILED).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from model_name.contracts.checks import check_frame
from model_name.contracts.model import Contract
from model_name.errors import ContractViolation, JobError

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    from mlflow import MlflowClient

CONTRACT_ARTIFACT = "contract/contract.json"
"""The run artifact holding the contract a model was trained with."""

VIOLATIONS_ARTIFACT = "contract/violations.json"
"""The run artifact holding the whole report of a contract violation."""

CONTRACT_TAG = "model_name.contract"
"""The model version tag pointing at its contract: `runs:/<run id>/contract/contract.json`."""


def log_contract(contract: Contract) -> str:
    """Log the contract as an artifact of the active run; return its URI for `CONTRACT_TAG`."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("log_contract needs an active run")
    mlflow.log_text(contract.to_json(), CONTRACT_ARTIFACT)
    return f"runs:/{run.info.run_id}/{CONTRACT_ARTIFACT}"


def tag_version(client: MlflowClient, name: str, version: int | str, uri: str) -> None:
    """Point a model version at its contract (the URI `log_contract` returned)."""
    client.set_model_version_tag(name, str(version), CONTRACT_TAG, uri)


def contract_of_model(client: MlflowClient, name: str, version: int | str) -> Contract | None:
    """Return the contract a model version was trained with, or `None` if it was saved without.

    Args:
        client: a client on the tracking store and registry.
        name: the registered model's name.
        version: its version number.

    Raises:
        JobError: the version points at a contract that cannot be read (a deleted run).
    """
    import tempfile
    from pathlib import Path

    from mlflow.exceptions import MlflowException

    uri = client.get_model_version(name, str(version)).tags.get(CONTRACT_TAG)
    if not uri:
        return None
    run_id, _, path = uri.removeprefix("runs:/").partition("/")
    try:
        with tempfile.TemporaryDirectory() as folder:
            local = client.download_artifacts(run_id, path, folder)
            return Contract.from_json(Path(local).read_bytes())
    except (MlflowException, OSError, ValueError) as error:
        message = " ".join(str(error).split())[:300]
        raise JobError(
            f"version {version} of '{name}' points at its contract {uri}, which cannot be "
            f"read: {message}"
        ) from None


def enforce(
    frame: pd.DataFrame,
    contract: Contract,
    source: str,
    first_row: int = 0,
    *,
    complete: bool = True,
) -> None:
    """Check a frame inside a job's run: a violation's report is logged, then it propagates.

    Args and raises as `check_frame`; the report goes to `contract/violations.json` of the
    active run, if there is one.
    """
    try:
        check_frame(frame, contract, source, first_row, complete=complete)
    except ContractViolation as violation:
        log_violation(violation)
        raise


def log_violation(violation: ContractViolation) -> None:
    """Log a violation's whole report as `contract/violations.json` of the active run, if any."""
    import mlflow

    if mlflow.active_run() is not None:
        mlflow.log_text(json.dumps(violation.report, indent=2, default=str), VIOLATIONS_ARTIFACT)
