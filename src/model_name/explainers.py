"""SHAP explanations of a fitted scikit-learn model: the explainer that fits it, and its plots.

The project's models are pipelines: `StandardScaler`, then a regressor. Scaling maps each feature
to itself (one column in, the same column out), so the SHAP values of the regressor on the
scaled features are the SHAP values of the pipeline on the original ones, feature for feature.
`explain` therefore transforms the rows through the pipeline's first steps and explains its last
step with the exact, fast explainer of its kind: `LinearExplainer` for linear models,
`TreeExplainer` for tree ensembles. When the first steps do not keep the columns one-to-one, or
the last step is neither linear nor a tree model, it explains the whole pipeline's `predict` with
the model-agnostic `PermutationExplainer` and a background sample as the masker.

The plots are drawn on Agg canvases created here, never through pyplot: no window, no global
figure left behind. SHAP and scikit-learn are imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class Explained:
    """The SHAP values of a sample and how they were computed.

    Attributes:
        values: a `shap.Explanation`: one row of SHAP values per sampled row, with the rows'
            original (unscaled) feature values as its data, so plots color by real values.
        explainer: `linear`, `tree` or `permutation`.
        through: what was explained: `final estimator on transformed features` or `pipeline`.
        estimator: the class name of the model's last step (`Ridge`, ...).
    """

    values: Any
    explainer: str
    through: str
    estimator: str


def split_pipeline(model: Any, columns: list[str]) -> tuple[Any | None, Any | None]:
    """Return a model's preprocessing (or `None`) and its final estimator (or `None`).

    A pipeline is split only when its first steps keep the features one-to-one (the same names
    out as in), which makes explaining the final estimator equal to explaining the pipeline;
    otherwise the final estimator is `None`: only the whole model can be explained.

    Args:
        model: a fitted estimator or `sklearn.pipeline.Pipeline`.
        columns: the feature names the model was fitted on.
    """
    from sklearn.pipeline import Pipeline

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        return None, model
    preprocess, final = model[:-1], model[-1]
    try:
        names_out = list(preprocess.get_feature_names_out(columns))
    except (AttributeError, ValueError):  # a step that cannot say: assume it mixes features
        return None, None
    return (preprocess, final) if names_out == columns else (None, None)


def explainer_kind(estimator: Any) -> str:
    """Return the explainer that fits an estimator: `linear`, `tree` or `permutation`."""
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        GradientBoostingRegressor,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.linear_model._base import LinearModel
    from sklearn.tree import DecisionTreeRegressor

    trees = (
        RandomForestRegressor,
        ExtraTreesRegressor,
        GradientBoostingRegressor,
        DecisionTreeRegressor,
    )
    if isinstance(estimator, trees):
        return "tree"
    if isinstance(estimator, (LinearModel, LinearRegression, Ridge)) and hasattr(
        estimator, "coef_"
    ):
        return "linear"
    return "permutation"


def explain(model: Any, sample: pd.DataFrame, background: pd.DataFrame) -> Explained:
    """Compute the SHAP values of a model's predictions for a sample of rows.

    Args:
        model: the fitted model (a pipeline or an estimator) taking `sample`'s columns.
        sample: the rows to explain.
        background: rows standing for "feature unknown" (the masker's data), for the linear
            and permutation explainers.
    """
    import numpy as np
    import shap  # type: ignore[import-untyped, unused-ignore]
    from sklearn.pipeline import Pipeline

    columns = list(sample.columns)
    preprocess, final = split_pipeline(model, columns)
    kind = "permutation" if final is None else explainer_kind(final)
    if final is not None and kind != "permutation":
        to_features = preprocess.transform if preprocess is not None else np.asarray
        rows = np.asarray(to_features(sample), dtype="float64")
        if kind == "linear":
            masker = shap.maskers.Independent(
                np.asarray(to_features(background), dtype="float64"), max_samples=len(background)
            )
            raw = shap.LinearExplainer(final, masker)(rows)
        else:  # the trees' own path-dependent algorithm: exact, and needs no background
            raw = shap.TreeExplainer(final)(rows, check_additivity=False)
        through = "final estimator on transformed features" if preprocess else "estimator"
        estimator = type(final).__name__
    else:
        masker = shap.maskers.Independent(background, max_samples=len(background))
        predict = model.predict
        raw = shap.PermutationExplainer(predict, masker, seed=0)(sample, silent=True)
        whole = isinstance(model, Pipeline)
        through = "pipeline" if whole else "estimator"
        estimator = type(model[-1] if whole else model).__name__
    values = shap.Explanation(
        values=np.asarray(raw.values, dtype="float64"),
        base_values=np.asarray(raw.base_values, dtype="float64"),
        data=sample.to_numpy(dtype="float64"),
        feature_names=columns,
    )
    return Explained(values=values, explainer=kind, through=through, estimator=estimator)


def importance(explained: Explained) -> pd.DataFrame:
    """Return each feature's importance, most important first: mean |SHAP| and mean SHAP.

    Columns: `feature`, `mean_abs_shap`, `mean_shap`, `rank` (1 is the most important).
    """
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    values = np.asarray(explained.values.values)
    table = pd.DataFrame(
        {
            "feature": list(explained.values.feature_names),
            "mean_abs_shap": np.abs(values).mean(axis=0),
            "mean_shap": values.mean(axis=0),
        }
    ).sort_values("mean_abs_shap", ascending=False, kind="stable", ignore_index=True)
    table["rank"] = range(1, len(table) + 1)
    return table


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def beeswarm_figure(explained: Explained, max_display: int = 10) -> Figure:
    """Return SHAP's beeswarm summary: each row's SHAP value per feature, colored by its value.

    Args:
        explained: the SHAP values.
        max_display: the features shown; the others are summed in one line.
    """
    import shap  # type: ignore[import-untyped, unused-ignore]

    shown = min(max_display, len(explained.values.feature_names))
    figure = _figure(8.0, max(4.0, 1.5 + 0.45 * shown))
    axes = figure.add_subplot()
    shap.plots.beeswarm(
        explained.values, max_display=max_display, ax=axes, show=False, plot_size=None
    )
    axes.set_title(f"SHAP values ({explained.explainer} explainer, {explained.estimator})")
    figure.subplots_adjust(left=0.2, right=0.95, bottom=0.15, top=0.9)
    return figure


def bar_figure(table: pd.DataFrame, explainer: str) -> Figure:
    """Return a bar plot of each feature's mean |SHAP|, the most important on top.

    Args:
        table: the importance table (`importance`).
        explainer: the explainer's kind, for the title.
    """
    figure = _figure(7.0, max(3.5, 1.5 + 0.35 * len(table)))
    axes = figure.add_subplot()
    ordered = table.iloc[::-1]  # barh draws from the bottom up
    axes.barh(ordered["feature"], ordered["mean_abs_shap"], color="#1E88E5")
    axes.set(
        xlabel="mean |SHAP value| (impact on the prediction)",
        title=f"Feature importance ({explainer})",
    )
    axes.spines[["top", "right"]].set_visible(False)
    figure.subplots_adjust(left=0.2, right=0.95, bottom=0.15, top=0.9)
    return figure
