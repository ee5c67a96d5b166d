"""How much MLflow takes in one `log_batch` call, and how a list is cut to fit.

Example:
    >>> [len(chunk) for chunk in iter_chunks(list(range(2500)), METRICS_PER_BATCH)]
    [1000, 1000, 500]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

METRICS_PER_BATCH = 1000
"""The most metric points MLflow accepts in one `log_batch` call."""

PARAMS_PER_BATCH = 100
"""The most params, and the most tags, MLflow accepts in one `log_batch` call."""


def iter_chunks(values: list[Any], size: int) -> Iterator[list[Any]]:
    """Yield `values` in lists of at most `size`."""
    for begin in range(0, len(values), size):
        yield values[begin : begin + size]
