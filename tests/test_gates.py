"""The gate's checks: thresholds and champion comparisons, and the lines a user reads."""

from __future__ import annotations

import pydantic as pdt
import pytest

from model_name.gates import Bound, champion_checks, gate_scores, reason, threshold_checks


def test_thresholds_pass_on_their_bounds_and_fail_past_them() -> None:
    # given R² exactly at its minimum and an RMSE above its maximum
    scores = {"r2": 0.40, "rmse": 60.5, "mae": 40.0}
    thresholds = {"r2": Bound(min=0.4), "rmse": Bound(max=60.0), "mae": Bound(min=10, max=50)}

    # when checked
    checks = threshold_checks(scores, thresholds)

    # then the bound itself passes (inclusive), and the failure reads as the user's line
    assert [(check.summary, check.passed) for check in checks] == [
        ("r2 0.40 >= 0.40", True),
        ("rmse 60.50 > 60.00", False),
        ("mae 40.00 >= 10.00", True),
        ("mae 40.00 <= 50.00", True),
    ]
    assert reason(checks) == "rmse 60.50 > 60.00"


def test_a_challenger_may_be_worse_than_the_champion_only_by_the_margin() -> None:
    # given a champion with R² 0.45 and RMSE 53.8
    champion = {"r2": 0.45, "rmse": 53.8}
    margins = {"r2": 0.02, "rmse": 1.0}

    # when a challenger within the margins and one beyond them are compared
    within = champion_checks({"r2": 0.44, "rmse": 54.5}, champion, margins, "1")
    beyond = champion_checks({"r2": 0.40, "rmse": 55.0}, champion, margins, "1")

    # then the first passes (0.44 >= 0.43, 54.5 <= 54.8), the second fails both, saying why
    assert all(check.passed for check in within)
    assert reason(within) == "all 2 checks passed"
    assert reason(beyond) == (
        "r2 0.40 < 0.43 (champion v1 0.45 - margin 0.02); "
        "rmse 55.00 > 54.80 (champion v1 53.80 + margin 1)"
    )


def test_mlflow_metric_names_map_to_the_gate_names() -> None:
    metrics = {"r2_score": 0.5, "champion_root_mean_squared_error": 50.0, "example_count": 89}

    assert gate_scores(metrics) == {"r2": 0.5}
    assert gate_scores(metrics, "champion_") == {"rmse": 50.0}


@pytest.mark.parametrize("bound", [{}, {"min": 2, "max": 1}])
def test_a_bound_needs_a_side_and_an_order(bound: dict[str, float]) -> None:
    with pytest.raises(pdt.ValidationError):
        Bound(**bound)
