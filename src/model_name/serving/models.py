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

from model_name.serving.signature import Column, signature_columns

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]


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
    """

    name: str
    version: int
    alias: str | None
    uri: str
    model: Any = field(repr=False)
    columns: tuple[Column, ...] | None
    since: float = 0.0

    def predict(self, frame: pd.DataFrame) -> list[Any]:
        """Return the model's predictions for a table, as JSON-ready values, one per row.

        A table already conformed to the signature (`payloads.conform`) goes straight to the
        flavor's predict function: MLflow's pyfunc `predict` would check the schema a second
        time (a few milliseconds a request, more than the prediction of a linear model).
        """
        predict = self.model.predict
        if self.columns is not None and all(column.kind in CHECKED for column in self.columns):
            predict = getattr(self.model, "_predict_fn", predict)
        return jsonable(predict(frame))

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
    served = Served(name, version, alias, uri, model, signature_columns(model))
    if served.columns is not None:
        served.predict(_trial_row(served.columns))
    return served


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
