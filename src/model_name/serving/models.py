"""The model being served, loaded whole before anyone sees it, and switched in one assignment.

A request takes `holder.current` once and uses that `Served` for its whole life: a switch replaces
the reference, never the object, so a request is answered entirely by the old version or entirely
by the new one, and never by one half-loaded. The new version is loaded and tried on one row
beside the old one (`load`), then `ModelHolder.switch` swaps the reference; the old model is freed
when its last request ends.

Example:
    holder = ModelHolder()
    holder.switch(load("model_name", 3, alias="champion"))
    served = holder.current   # what a request uses, start to end
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from model_name.serving.arrays import numeric
from model_name.serving.signature import Column, signature_columns

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    from model_name.contracts import Contract


CHECKED = frozenset({"double", "float", "long", "integer"})
"""Signature types `payloads.conform` converts and checks itself, so MLflow need not again."""


@dataclass(frozen=True)
class Served:
    """One loaded, tried model version and what the server says about it.

    Attributes:
        name: the registered model's name.
        version: its version number.
        alias: the alias followed (`None`: a pinned version).
        uri: the URI it was loaded from (`models:/<name>/<version>`).
        model: the MLflow pyfunc model.
        columns: its signature's input columns (`None`: no column signature).
        since: when it started serving (seconds since the epoch), set by `ModelHolder.switch`.
        predict_array: the scikit-learn model's own `predict`, for rows read as an array in the
            signature's order (`arrays.read_numbers`); `None` when the model cannot take one
            (another flavor, a non-numeric signature): then every request takes a table.
        contract: the data contract the version was trained with, its feature columns in the
            signature's order (`None`: saved without one; requests are checked against the
            signature only).
    """

    name: str
    version: int
    alias: str | None
    uri: str
    model: Any = field(repr=False)
    columns: tuple[Column, ...] | None
    since: float = 0.0
    predict_array: Callable[[Any], Any] | None = field(default=None, repr=False)
    contract: Contract | None = field(default=None, repr=False)

    def predict(self, rows: pd.DataFrame | np.ndarray[Any, Any]) -> list[Any]:
        """Return the model's predictions for rows, as JSON-ready values, one per row.

        Rows already conformed to the signature (`payloads.conform`) go straight to the
        flavor's predict function: MLflow's pyfunc `predict` would check the schema a second
        time (a few milliseconds a request, more than the prediction of a linear model). An
        array (the lean read, `arrays.read_numbers`) goes to the scikit-learn model itself.
        """
        if self.predict_array is not None and not hasattr(rows, "columns"):
            return jsonable(self.predict_array(rows))
        predict = self.model.predict
        if self.columns is not None and all(column.kind in CHECKED for column in self.columns):
            predict = getattr(self.model, "_predict_fn", predict)
        return jsonable(predict(rows))

    def describe(self) -> dict[str, Any]:
        """Return what `/version` says: name, version, alias, URI and since when."""
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "uri": self.uri,
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since)),
        }


class ModelHolder:
    """The version being served, swapped atomically; and whether the server is draining.

    Attributes:
        draining: the server was asked to stop: `/ready` says no, requests in flight finish.
    """

    def __init__(self) -> None:
        self._current: Served | None = None
        self._lock = threading.Lock()
        self.draining = False

    @property
    def current(self) -> Served | None:
        """The version serving now (`None` before the first load); read it once per request."""
        return self._current

    def switch(self, served: Served) -> Served | None:
        """Serve a loaded version from now on; return the one it replaces."""
        with self._lock:
            previous = self._current
            self._current = _since_now(served)
        return previous


def load(name: str, version: int, *, alias: str | None) -> Served:
    """Load a registered version and try it on one row, so that it is whole before serving.

    Args:
        name: the registered model's name.
        version: the version number.
        alias: the alias it was found by (`None`: a pinned version).

    Raises:
        Exception: whatever loading or the trial prediction raised: the version is not usable.
    """
    from model_name.io import registries

    uri = registries.model_uri(name, version=version)
    model = registries.load_model(uri)
    columns = signature_columns(model)
    array_predict = _array_predict(model, columns)
    contract = _requests_contract(name, version, columns)
    served = Served(name, version, alias, uri, model, columns, 0.0, array_predict, contract)
    if served.columns is not None:
        trial = _trial_row(served.columns)
        served.predict(trial)
        if served.predict_array is not None:
            served.predict(trial.to_numpy())
    return served


def _requests_contract(
    name: str, version: int, columns: tuple[Column, ...] | None
) -> Contract | None:
    """Return the contract the version was trained with, as requests are read.

    Its feature columns, in the signature's order: a column the signature lacks cannot be sent,
    so it is not checked. `None`: the version was saved without a contract.
    """
    from mlflow import MlflowClient

    from model_name.contracts import Contract, contract_of_model

    saved = contract_of_model(MlflowClient(), name, version)
    if saved is None:
        return None
    features = saved.features().columns
    order = [column.name for column in columns] if columns is not None else list(features)
    kept = {column: features[column] for column in order if column in features}
    return Contract(columns=kept) if kept else None


def _array_predict(model: Any, columns: tuple[Column, ...] | None) -> Callable[[Any], Any] | None:
    """The scikit-learn model's `predict`, when it may take the lean read's arrays; else None.

    Only for the `sklearn` flavor predicting with `predict` (not `predict_proba`), a signature of
    numbers, and a model fitted on those columns in that order (or on unnamed ones). A model
    fitted on a table warns, each call, that an array has no column names: that one warning is
    silenced in this process, the columns being checked here once.
    """
    if not numeric(columns) or columns is None:
        return None
    pyfunc = model.metadata.flavors.get("python_function", {})
    predict_fn = getattr(model, "_predict_fn", None)
    if pyfunc.get("loader_module") != "mlflow.sklearn" or getattr(predict_fn, "__name__", "") != (
        "predict"
    ):
        return None
    raw = model.get_raw_model()
    fitted = getattr(raw, "feature_names_in_", None)
    if fitted is not None and [str(name) for name in fitted] != [c.name for c in columns]:
        return None
    import warnings

    warnings.filterwarnings(
        "ignore", message="X does not have valid feature names", category=UserWarning
    )
    predict: Callable[[Any], Any] = raw.predict
    return predict


def _trial_row(columns: tuple[Column, ...]) -> pd.DataFrame:
    """One row of zeros (numbers), `False` or empty strings: the model must predict it."""
    import pandas as pd

    zeros: dict[str, Any] = {"boolean": False, "string": "", "binary": b""}
    kinds = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}
    data = {
        column.name: pd.Series([zeros.get(column.kind, 0)], dtype=kinds.get(column.kind))
        for column in columns
        if column.kind != "datetime"
    }
    return pd.DataFrame(data)


def _since_now(served: Served) -> Served:
    from dataclasses import replace

    return replace(served, since=time.time())


def jsonable(predictions: Any) -> list[Any]:
    """Return predictions as JSON-ready values: a list of numbers, or of records for a table.

    Example:
        >>> import numpy as np
        >>> jsonable(np.array([1.5, 2.0]))
        [1.5, 2.0]
    """
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        records: list[Any] = predictions.to_dict(orient="records")
        return records
    if isinstance(predictions, pd.Series):
        return list(predictions.tolist())
    return list(np.asarray(predictions).tolist())
