"""What `SqliteStore` returns and understands: MLflow's entities and filters, as far as read.

The reuse decision reads a few attributes of MLflow's runs, versions and models, and asks for
runs with a filter string; these are those shapes, and the filters translated (anything else is
`UnsupportedQueryError`, and the caller takes the slow path, through MLflow).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator

_CLAUSE = re.compile(
    r"\s*(?:tags\.`(?P<tag>[^`]+)`|attributes\.(?P<attribute>status))\s*=\s*'(?P<value>[^']*)'"
    r"\s*(?:and\b|$)",
    re.IGNORECASE,
)
_NAME_FILTER = re.compile(r"""\s*name\s*=\s*(?:'(?P<single>[^']*)'|"(?P<double>[^"]*)")\s*""")


class UnsupportedQueryError(ValueError):
    """A query `SqliteStore` does not translate: the caller takes the slow path."""


@dataclasses.dataclass(frozen=True)
class Experiment:
    """An experiment, as `MlflowClient.get_experiment_by_name` returns it (the fields used)."""

    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """A run's info (`Run.info`): the fields the reuse decision reads."""

    run_id: str
    experiment_id: str
    status: str
    lifecycle_stage: str
    start_time: int | None


@dataclasses.dataclass(frozen=True)
class RunData:
    """A run's data (`Run.data`): its tags."""

    tags: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Run:
    """A run, as `MlflowClient.get_run` returns it (info and tags)."""

    info: RunInfo
    data: RunData


@dataclasses.dataclass(frozen=True)
class ModelVersion:
    """A registered model's version, with its tags."""

    name: str
    version: int
    run_id: str | None
    tags: dict[str, str]


@dataclasses.dataclass(frozen=True)
class RegisteredModel:
    """A registered model and its aliases (alias -> version)."""

    name: str
    aliases: dict[str, int]


def clauses(filter_string: str) -> Iterator[tuple[str | None, str | None, str]]:
    """Yield each `(tag, attribute, value)` of a filter, or raise `UnsupportedQueryError`."""
    position, text = 0, filter_string.strip()
    while position < len(text):
        match = _CLAUSE.match(text, position)
        if match is None or match.end() == position:
            raise UnsupportedQueryError(f"run filter {filter_string!r}")
        position = match.end()
        yield match["tag"], match["attribute"], match["value"]


def model_name_filter(filter_string: str) -> str:
    """Return the model a `name = 'NAME'` filter names, or raise `UnsupportedQueryError`."""
    match = _NAME_FILTER.fullmatch(filter_string)
    if match is None:
        raise UnsupportedQueryError(f"model version filter {filter_string!r}")
    return match["single"] if match["single"] is not None else match["double"]
