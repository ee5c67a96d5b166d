"""What a table must hold: its columns in order, each one's type, nulls, range or allowed values.

A `Contract` is declared in `containers.yaml` (the training job's `contract`), saved as JSON with
every model version trained on it, and read back by the jobs that use that version. It is plain
pydantic: declaring, printing or saving one imports neither pandas nor pandera.

Example:
    >>> bmi = {"dtype": "float", "ge": -0.5, "le": 0.5}
    >>> contract = Contract.model_validate(
    ...     {"columns": {"bmi": bmi, "target": {"dtype": "float"}}, "target": "target"}
    ... )
    >>> list(contract.features().columns)
    ['bmi']
    >>> Contract.from_json(contract.to_json()) == contract
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import pydantic as pdt

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

Dtype = Literal["float", "int", "str", "bool", "datetime"]
"""A column's type in a contract. `float` takes any real number column (integers too: a CSV
column of whole numbers is read as integers), `int` integers only, `str` text, `bool` booleans,
`datetime` timestamps."""

Scalar = float | int | str | bool
"""A value a range bound or an allowed value may be."""


class ColumnRule(pdt.BaseModel):
    """What one column must hold.

    Attributes:
        dtype: its type (`float`, `int`, `str`, `bool`, `datetime`).
        nullable: whether a value may be missing.
        ge: the smallest value allowed (inclusive), if any.
        le: the largest value allowed (inclusive), if any.
        isin: the only values allowed, if any.
    """

    model_config = pdt.ConfigDict(extra="forbid", frozen=True)

    dtype: Dtype = "float"
    nullable: bool = False
    ge: float | None = None
    le: float | None = None
    isin: list[Scalar] | None = pdt.Field(default=None, min_length=1)

    @pdt.model_validator(mode="after")
    def _bounds_in_order(self) -> ColumnRule:
        if self.ge is not None and self.le is not None and self.ge > self.le:
            raise ValueError(f"ge ({self.ge:g}) is above le ({self.le:g}): no value passes")
        return self


class Contract(pdt.BaseModel):
    """The columns a table must have, in order, and what each one must hold.

    Columns the table has beyond these are not checked (an id passed through, a target the
    contract leaves out).

    Attributes:
        columns: each column's rule, in the table's order.
        min_rows: the fewest rows the table may have; `None`: no minimum.
        target: the column a model trained on this contract predicts (absent from the tables it
            predicts for: `features()` leaves it out); `None` when there is none.
    """

    model_config = pdt.ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, ColumnRule] = pdt.Field(min_length=1)
    min_rows: int | None = pdt.Field(default=None, ge=0)
    target: str | None = None

    @pdt.model_validator(mode="after")
    def _target_is_a_column(self) -> Contract:
        if self.target is not None and self.target not in self.columns:
            raise ValueError(
                f"target {self.target!r} is not one of the columns: {', '.join(self.columns)}"
            )
        return self

    def features(self) -> Contract:
        """Return the contract of the tables a model predicts for: without the target column."""
        if self.target is None:
            return self
        kept = {name: rule for name, rule in self.columns.items() if name != self.target}
        return Contract(columns=kept, min_rows=self.min_rows)

    def to_json(self) -> str:
        """Return the contract as JSON, columns in order (how it is saved with a model)."""
        return self.model_dump_json(indent=2, exclude_none=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Contract:
        """Read a contract saved by `to_json`.

        Raises:
            pydantic.ValidationError: the text is not a valid contract.
        """
        return cls.model_validate_json(text)

    def to_yaml(self) -> str:
        """Return the contract as YAML, as it is written under `jobs.training.contract`."""
        import yaml

        data = self.model_dump(mode="json", exclude_none=True)
        text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
        return text

    @classmethod
    def from_yaml(cls, text: str) -> Contract:
        """Read a contract written as YAML (the section of `containers.yaml`, or a file).

        Raises:
            pydantic.ValidationError: the text is not a valid contract.
        """
        import yaml

        return cls.model_validate(yaml.safe_load(text))

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, target: str | None = None) -> Contract:
        """Return the contract a table keeps by construction: its columns and their types.

        What a model trained without a declared contract is saved with, so that the tables it
        is used on later are checked for the same columns and types (no ranges: those are
        declared, never guessed from one sample).

        Example:
            >>> import pandas as pd
            >>> Contract.from_frame(pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})).columns["x"]
            ColumnRule(dtype='float', nullable=False, ge=None, le=None, isin=None)
        """
        columns = {
            str(name): ColumnRule(dtype=dtype_of(frame[name]), nullable=bool(frame[name].hasnans))
            for name in frame.columns
        }
        return cls(columns=columns, target=target if target in columns else None)


def dtype_of(column: Any) -> Dtype:
    """Return the contract type a pandas column has: numbers are `float`, text `str`."""
    kind = column.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iuf":
        return "float"
    if kind == "M":
        return "datetime"
    return "str"
