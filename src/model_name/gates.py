"""The evaluation gate: which metrics it knows, its thresholds, and the checks it makes.

The evaluation job scores a model version with `mlflow.models.evaluate`, then asks this module
whether the scores pass: each threshold (`r2 >= 0.40`, `rmse <= 60`) is one `Check`, and so is
each comparison with the champion (`r2 0.42 >= champion 0.45 - 0.05`). The verdict is written on
the model version as tags (`VERDICT_TAG`, `RUN_TAG`, `REASON_TAG`, `COMPARED_TAG`), which the
promotion job reads
when `require_evaluation` is on. Nothing here imports MLflow: the module is cheap to import.

Example:
    >>> thresholds = {"r2": Bound(min=0.4), "rmse": Bound(max=60)}
    >>> checks = threshold_checks({"r2": 0.31, "rmse": 55.0}, thresholds)
    >>> [check.summary for check in checks if not check.passed]
    ['r2 0.31 < 0.40']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Self

import pydantic as pdt

Metric = Literal["r2", "rmse", "mae", "mse", "max_error", "mape"]
"""The metrics the gate accepts in `containers.yaml`: short names of MLflow's regressor metrics."""

MLFLOW_METRICS: dict[str, str] = {
    "r2": "r2_score",
    "rmse": "root_mean_squared_error",
    "mae": "mean_absolute_error",
    "mse": "mean_squared_error",
    "max_error": "max_error",
    "mape": "mean_absolute_percentage_error",
}
"""Each gate metric's name in the results of `mlflow.models.evaluate(model_type="regressor")`."""

HIGHER_IS_BETTER: frozenset[str] = frozenset({"r2"})
"""The metrics where a larger value is better; for the others (errors), smaller is better."""

VERDICT_TAG = "model_name.evaluation.status"
"""The model version tag holding the verdict of its latest evaluation: `passed` or `failed`."""

RUN_TAG = "model_name.evaluation.run_id"
"""The model version tag naming the evaluation run that gave the verdict."""

REASON_TAG = "model_name.evaluation.reason"
"""The model version tag saying why: the failed checks, or how many checks passed."""

COMPARED_TAG = "model_name.evaluation.compared_with"
"""The model version tag naming the champion it was compared with: `champion@3`, `none` (there
was no other champion) or `disabled` (the evaluation compared with no champion by configuration)."""

PASSED = "passed"
FAILED = "failed"


class Bound(pdt.BaseModel):
    """The accepted range of one metric: `min`, `max` or both (inclusive).

    Attributes:
        min: the lowest value that passes; `None` for no lower bound.
        max: the highest value that passes; `None` for no upper bound.
    """

    model_config = pdt.ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None

    @pdt.model_validator(mode="after")
    def _one_bound_at_least(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("a threshold needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


def default_thresholds() -> dict[Metric, Bound]:
    """The thresholds the default training passes (R² 0.45, RMSE 53 on the diabetes split)."""
    return {"r2": Bound(min=0.4), "rmse": Bound(max=60.0)}


def default_margins() -> dict[Metric, float]:
    """How much worse than the champion a version may be by default: R² 0.02, RMSE 1.0."""
    return {"r2": 0.02, "rmse": 1.0}


class Check(pdt.BaseModel):
    """One comparison the gate made, and its outcome.

    Attributes:
        name: what was checked: `r2 >= 0.40`, `rmse vs champion`.
        metric: the gate metric (`r2`, `rmse`, ...).
        value: the evaluated version's score.
        operator: `>=` or `<=`.
        limit: the value it was compared with.
        passed: whether the version passed this check.
        summary: one line for the user: `r2 0.31 < 0.40` when failed, `r2 0.45 >= 0.40` when not.
    """

    name: str
    metric: str
    value: float
    operator: Literal[">=", "<="]
    limit: float
    passed: bool
    summary: str


def _check(
    name: str,
    *,
    metric: str,
    value: float,
    operator: Literal[">=", "<="],
    limit: float,
    detail: str = "",
) -> Check:
    passed = value >= limit if operator == ">=" else value <= limit
    shown = operator if passed else {">=": "<", "<=": ">"}[operator]
    summary = f"{metric} {value:.2f} {shown} {limit:.2f}{detail}"
    return Check(
        name=name,
        metric=metric,
        value=value,
        operator=operator,
        limit=limit,
        passed=passed,
        summary=summary,
    )


def threshold_checks(
    scores: Mapping[str, float], thresholds: Mapping[Metric, Bound]
) -> list[Check]:
    """Check scores against fixed thresholds: one check per bound.

    Args:
        scores: the version's scores by gate metric name (`r2`, `rmse`, ...).
        thresholds: the accepted range of each metric.
    """
    checks = []
    for metric, bound in thresholds.items():
        sides: tuple[tuple[Literal[">=", "<="], float | None], ...] = (
            (">=", bound.min),
            ("<=", bound.max),
        )
        for operator, limit in sides:
            if limit is not None:
                checks.append(
                    _check(
                        f"{metric} {operator} {limit}",
                        metric=metric,
                        value=scores[metric],
                        operator=operator,
                        limit=limit,
                    )
                )
    return checks


def champion_checks(
    scores: Mapping[str, float],
    champion: Mapping[str, float],
    margins: Mapping[Metric, float],
    champion_version: str,
) -> list[Check]:
    """Check that a version is not worse than the champion by more than a margin, per metric.

    For `r2` (higher is better) the version passes with `r2 >= champion's r2 - margin`; for the
    errors (lower is better) with `error <= champion's error + margin`.

    Args:
        scores: the version's scores by gate metric name.
        champion: the champion's scores on the same rows.
        margins: how much worse than the champion each metric may be (0: not worse at all).
        champion_version: the champion's version number, for the messages.
    """
    checks = []
    for metric, margin in margins.items():
        if metric in HIGHER_IS_BETTER:
            operator: Literal[">=", "<="] = ">="
            limit = champion[metric] - margin
        else:
            operator = "<="
            limit = champion[metric] + margin
        sign = "-" if operator == ">=" else "+"
        detail = f" (champion v{champion_version} {champion[metric]:.2f} {sign} margin {margin:g})"
        checks.append(
            _check(
                f"{metric} vs champion",
                metric=metric,
                value=scores[metric],
                operator=operator,
                limit=limit,
                detail=detail,
            )
        )
    return checks


def gate_scores(metrics: Mapping[str, float], prefix: str = "") -> dict[str, float]:
    """Return the gate metrics found in `mlflow.models.evaluate`'s results, by their short names.

    Args:
        metrics: `EvaluationResult.metrics`.
        prefix: the `metric_prefix` the evaluation was given.
    """
    return {
        short: float(metrics[prefix + long])
        for short, long in MLFLOW_METRICS.items()
        if prefix + long in metrics
    }


def compared_with(alias: str | None, version: str | None) -> str:
    """Return the value of `COMPARED_TAG`: `champion@3`, `none` or `disabled`.

    Args:
        alias: the champion alias of the evaluation; `None` when comparisons are off.
        version: the version it pointed at, when it was another version; else `None`.

    Example:
        >>> compared_with("champion", "3"), compared_with("champion", None)
        ('champion@3', 'none')
        >>> compared_with(None, None)
        'disabled'
    """
    if alias is None:
        return "disabled"
    return "none" if version is None else f"{alias}@{version}"


def reason(checks: list[Check]) -> str:
    """Say why a verdict was given, in one line: the failed checks, or that all passed."""
    failed = [check.summary for check in checks if not check.passed]
    if failed:
        return "; ".join(failed)
    return f"all {len(checks)} checks passed"


def gate_params(
    thresholds: Mapping[Metric, Bound], margins: Mapping[Metric, float]
) -> dict[str, float]:
    """Return the gate's settings as run parameters: `threshold.r2.min`, `margin.rmse`, ...

    Example:
        >>> gate_params({"r2": Bound(min=0.4)}, {"rmse": 1.0})
        {'threshold.r2.min': 0.4, 'margin.rmse': 1.0}
    """
    params: dict[str, float] = {}
    for metric, bound in thresholds.items():
        for side, limit in (("min", bound.min), ("max", bound.max)):
            if limit is not None:
                params[f"threshold.{metric}.{side}"] = limit
    params.update({f"margin.{metric}": margin for metric, margin in margins.items()})
    return params
