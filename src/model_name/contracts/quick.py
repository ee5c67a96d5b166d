"""A quick yes for numbers that keep a contract, before any per-column pandera check.

Checking a table with pandera costs about a millisecond a column, whatever its size: nothing for
a file, too much for each request a server answers. `numbers_pass` says, with a few NumPy
comparisons, whether rows of numbers certainly keep a contract; only when it cannot say yes
does the caller run `check_frame`, which says what fails and where.

Example:
    >>> import numpy as np
    >>> from model_name.contracts.model import ColumnRule, Contract
    >>> contract = Contract(columns={"bmi": ColumnRule(ge=-0.5, le=0.5)})
    >>> numbers_pass(np.array([[0.1], [0.2]]), contract), numbers_pass(np.array([[1.7]]), contract)
    (True, False)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from model_name.contracts.model import Contract

if TYPE_CHECKING:
    import numpy as np


def numbers_pass(rows: np.ndarray[Any, Any], contract: Contract) -> bool:
    """Say whether a 2-D array of floats, columns in the contract's order, keeps the contract.

    `False` means "not certainly": a column that is not a float column by the contract, a
    missing value, a value out of range or not among the allowed ones, or a shape that does
    not match. The caller then runs the full check.
    """
    import numpy as np

    rules = list(contract.columns.values())
    if rows.ndim != 2 or rows.shape[1] != len(rules) or rows.dtype.kind != "f":
        return False
    for index, rule in enumerate(rules):
        values = rows[:, index]
        if rule.dtype != "float" or (not rule.nullable and np.isnan(values).any()):
            return False
        present = values[~np.isnan(values)] if rule.nullable else values
        if rule.ge is not None and (present < rule.ge).any():
            return False
        if rule.le is not None and (present > rule.le).any():
            return False
        if rule.isin is not None and not np.isin(present, rule.isin).all():
            return False
    return True
