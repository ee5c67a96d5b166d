"""Data contracts and lineage: what a table must hold, checked with pandera, and where it came from.

- `Contract`, `ColumnRule` (`model`): columns in order, each one's type, nulls, range, values;
  JSON (saved with a model version) and YAML (`containers.yaml`).
- `check_frame`, `check_schema` (`checks`): a frame or a batch, a header or a footer;
  a failure raises `model_name.errors.ContractViolation` (exit 1) with its whole `.report`.
- `contract_of_model`, `enforce` (`saved`): the contract a version was trained with; a check
  inside a job's run that logs its report (`contract/violations.json`).
- `lineage.log_table`: a table as a dataset input (or output) of the run, with a cheap digest.
- `files.check_file`: a whole file, in batches (`model_name data check`).

Importing the package imports pydantic only: pandas, pandera, pyarrow and MLflow are imported
by the functions that use them.
"""

from model_name.contracts.checks import check_frame, check_schema
from model_name.contracts.model import ColumnRule, Contract
from model_name.contracts.saved import contract_of_model, enforce

__all__ = [
    "ColumnRule",
    "Contract",
    "check_frame",
    "check_schema",
    "contract_of_model",
    "enforce",
]
