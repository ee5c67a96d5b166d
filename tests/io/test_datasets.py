"""Tables the jobs read and write: CSV and Parquet by suffix, the bundled sample, numeric features."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pydantic as pdt
import pytest

from model_name.errors import JobError
from model_name.io import datasets


def test_the_sample_is_the_bundled_diabetes_data() -> None:
    frame = datasets.load_sample()

    assert frame.shape == (442, 11)
    assert frame.columns[-1] == datasets.SAMPLE_TARGET


@pytest.mark.parametrize("name", ["deep/t.csv", "deep/t.parquet", "deep/t.PQ"])
def test_tables_round_trip_by_suffix_creating_folders(tmp_path: Path, name: str) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})

    written = datasets.write_table(frame, tmp_path / name)

    assert written.is_file()
    pd.testing.assert_frame_equal(datasets.read_table(written), frame)


def test_unknown_suffixes_and_missing_files_are_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1.0]})
    with pytest.raises(ValueError, match=r"must end with one of \.csv, \.parquet, \.pq"):
        datasets.write_table(frame, tmp_path / "t.json")
    with pytest.raises(ValueError, match="must end with"):
        datasets.read_table(tmp_path / "t.xlsx")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        datasets.read_table(tmp_path / "absent.csv")


def test_table_path_is_a_field_type_checked_when_a_model_is_built() -> None:
    class Paths(pdt.BaseModel):
        path: datasets.TablePath

    assert Paths(path="x/y.csv").path == Path("x/y.csv")  # type: ignore[arg-type]
    with pytest.raises(pdt.ValidationError, match="must end with"):
        Paths(path="x/y.txt")  # type: ignore[arg-type]


def test_numeric_features_select_in_order_cast_and_refuse_what_is_not_a_number() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"], "d": [True, False]})

    selected = datasets.numeric_features(frame, ["b", "a", "d"])

    assert list(selected.columns) == ["b", "a", "d"]
    assert (selected.dtypes == "float64").all()
    with pytest.raises(
        JobError, match=r"column 'c' has 2 non-numeric values in 2 rows: rows 1 \('x'\), 2 \('y'\)"
    ):
        datasets.numeric_features(frame)
    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['z'\]"):
        datasets.numeric_features(frame, ["a", "z"])


def test_numeric_features_of_numbers_are_a_copy_and_an_infinity_is_still_named() -> None:
    # given a frame of floats, then the same frame with an infinity in its second row
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    frame.attrs["source"] = "batch.parquet"

    # when its features are taken and changed
    features = datasets.numeric_features(frame)
    features.loc[0, "a"] = 99.0

    # then the input is untouched, and an infinity is refused with its row
    assert frame.loc[0, "a"] == 1.0
    assert features.attrs["source"] == "batch.parquet"
    frame.loc[1, "b"] = float("inf")
    with pytest.raises(
        JobError, match=r"batch.parquet: column 'b' has 1 infinite value in 2 rows: row 2 \(inf\)"
    ):
        datasets.numeric_features(frame)
