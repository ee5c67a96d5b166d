"""Tables read a partition at a time: never more than `batch_rows` rows, every row once, in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model_name.batches.sources import table_source


def numbered(rows: int) -> pd.DataFrame:
    """A table of `rows` rows: an id, two features and a text column."""
    ids = np.arange(rows)
    return pd.DataFrame(
        {"id": ids, "age": ids * 0.5, "bmi": ids * -1.0, "note": [f"n{i}" for i in ids]}
    )


def read_all(
    path: Path | None, batch_rows: int, features: list[str] | None = None
) -> list[pd.DataFrame]:
    source = table_source(path, features, [])
    return [source.read(partition, batch_rows) for partition in source.plan(batch_rows)]


def test_a_parquet_file_is_read_a_row_group_or_a_part_of_one_at_a_time(tmp_path: Path) -> None:
    # given 100 rows in row groups of 30, 30, 30 and 10
    path = tmp_path / "table.parquet"
    pq.write_table(
        pa.Table.from_pandas(numbered(100), preserve_index=False), path, row_group_size=30
    )

    # when it is read 20 rows at a time
    batches = read_all(path, 20)

    # then no batch holds more than 20 rows, a row group never shares a batch with another,
    # and together they are the table, in order, indexed by row position
    assert [len(batch) for batch in batches] == [20, 10, 20, 10, 20, 10, 10]
    whole = pd.concat(batches)
    pd.testing.assert_frame_equal(whole, numbered(100))
    assert batches[1].index.tolist() == list(range(20, 30))
    assert batches[0].attrs["source"] == str(path)


def test_a_csv_file_is_read_a_bounded_number_of_lines_at_a_time(tmp_path: Path) -> None:
    # given 105 rows written by pandas
    path = tmp_path / "table.csv"
    numbered(105).to_csv(path, index=False)

    # when it is read 25 rows at a time
    batches = read_all(path, 25)

    # then five batches, the last one short, hold every row once, in order
    assert [len(batch) for batch in batches] == [25, 25, 25, 25, 5]
    pd.testing.assert_frame_equal(pd.concat(batches), numbered(105))
    assert batches[4].index.tolist() == list(range(100, 105))


@pytest.mark.parametrize(
    "text",
    [
        "id,age\n1,2\n3,4\n5,6",  # no line break after the last line
        "id,age\r\n1,2\r\n3,4\r\n5,6\r\n",  # Windows line breaks
        "\ufeffid,age\n1,2\n3,4\n5,6\n",  # a byte order mark
    ],
    ids=["no-final-break", "crlf", "bom"],
)
def test_csv_line_endings_do_not_lose_or_add_rows(tmp_path: Path, text: str) -> None:
    path = tmp_path / "table.csv"
    path.write_bytes(text.encode("utf-8"))

    batches = read_all(path, 2)

    assert [batch.to_dict("list") for batch in batches] == [
        {"id": [1, 3], "age": [2, 4]},
        {"id": [5], "age": [6]},
    ]


def test_only_the_columns_asked_for_are_read_in_that_order(tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    numbered(10).to_parquet(path, index=False)
    csv = tmp_path / "table.csv"
    numbered(10).to_csv(csv, index=False)

    for table in (path, csv):
        (batch,) = read_all(table, 100, features=["bmi", "age"])
        assert list(batch.columns) == ["bmi", "age"]


def test_the_sample_is_read_in_batches_too() -> None:
    batches = read_all(None, 100)

    assert [len(batch) for batch in batches] == [100, 100, 100, 100, 42]
    assert "target" not in batches[0].columns


def test_a_header_only_csv_has_no_partition(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text("id,age\n")

    assert table_source(path, None, []).plan(10) == []


def test_a_missing_feature_or_passthrough_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    numbered(3).to_csv(path, index=False)

    with pytest.raises(ValueError, match=r"missing feature column\(s\) \['sex'\] in .*table.csv"):
        table_source(path, ["age", "sex"], [])
    with pytest.raises(ValueError, match=r"missing passthrough column\(s\) \['key'\]"):
        table_source(path, ["age"], ["key"])


def test_a_line_break_inside_a_quoted_value_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text('id,note\n1,"two\nlines"\n2,x\n3,y\n')

    with pytest.raises(ValueError, match="line break inside quotes"):
        read_all(path, 2)
