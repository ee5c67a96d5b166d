"""The tuning job's search space: a distribution per hyperparameter of each estimator.

In `containers.yaml`, a parameter is a range (`{type: float, low: 0.001, high: 100, log: true}`,
`{type: int, low: 20, high: 300}`) or a list of choices (`[3, 5, 8, null]`). Names are checked
against the hyperparameters each estimator takes, so a typo is a one-line configuration error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic as pdt

from model_name.jobs.training import HYPERPARAMETERS

if TYPE_CHECKING:
    import optuna


class _Range(pdt.BaseModel):
    model_config = pdt.ConfigDict(extra="forbid", frozen=True)

    log: bool = False

    @pdt.model_validator(mode="after")
    def _ordered(self) -> Any:
        low, high = getattr(self, "low"), getattr(self, "high")  # noqa: B009 - set by subclasses
        if low >= high:
            raise ValueError(f"low ({low}) must be below high ({high})")
        if self.log and low <= 0:
            raise ValueError(f"a log scale needs low > 0, not {low}")
        return self


class FloatRange(_Range):
    """A real-valued parameter between `low` and `high`, sampled on a log scale when `log`."""

    type: Literal["float"]
    low: float
    high: float


class IntRange(_Range):
    """An integer parameter between `low` and `high` (both included), log scale when `log`."""

    type: Literal["int"]
    low: int
    high: int


Choice = bool | int | float | str | None


def _kind(value: Any) -> str | None:
    """Say which distribution a value declares: `float`, `int`, `choices`, or None (invalid)."""
    if isinstance(value, list):
        return "choices"
    if isinstance(value, FloatRange | IntRange):
        return value.type
    if isinstance(value, dict) and value.get("type") in {"float", "int"}:
        return str(value["type"])
    return None


Distribution = Annotated[
    Annotated[FloatRange, pdt.Tag("float")]
    | Annotated[IntRange, pdt.Tag("int")]
    | Annotated[list[Choice], pdt.Tag("choices"), pdt.Field(min_length=1)],
    pdt.Discriminator(
        _kind,
        custom_error_type="distribution",
        custom_error_message=(
            "should be a range {type: float or int, low, high, log} or a list of choices"
        ),
    ),
]
"""A parameter's distribution: a float or int range, or a non-empty list of choices."""

SearchSpace = dict[str, dict[str, Distribution]]
"""Estimator name -> hyperparameter name -> distribution."""

DEFAULT_SEARCH_SPACE: SearchSpace = {
    "ridge": {"alpha": FloatRange(type="float", low=1e-3, high=100.0, log=True)},
}


def check_search_space(space: SearchSpace) -> SearchSpace:
    """Check that each estimator exists and takes each of its parameters; return the space.

    Raises:
        ValueError: an unknown estimator or parameter, named with the valid ones.
    """
    if not space:
        raise ValueError(f"declare at least one estimator ({', '.join(HYPERPARAMETERS)})")
    for estimator, params in space.items():
        if estimator not in HYPERPARAMETERS:
            raise ValueError(f"unknown estimator {estimator!r}: use {', '.join(HYPERPARAMETERS)}")
        for name in params:
            if name not in HYPERPARAMETERS[estimator]:
                raise ValueError(
                    f"{estimator} has no hyperparameter {name!r}: "
                    f"it takes {', '.join(HYPERPARAMETERS[estimator])}"
                )
    return space


def suggest(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Ask a trial for an estimator and its hyperparameters; return them (`estimator` first).

    A parameter's name is the same for every estimator that has it (`n_estimators`): the
    study's best parameters are then exactly the training job's fields.
    """
    estimator = trial.suggest_categorical("estimator", list(space))
    params: dict[str, Any] = {"estimator": estimator}
    for name, distribution in space[str(estimator)].items():
        if isinstance(distribution, FloatRange):
            value: Any = trial.suggest_float(
                name, distribution.low, distribution.high, log=distribution.log
            )
        elif isinstance(distribution, IntRange):
            value = trial.suggest_int(
                name, distribution.low, distribution.high, log=distribution.log
            )
        else:
            value = trial.suggest_categorical(name, distribution)
        params[name] = value
    return params
