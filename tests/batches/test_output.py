"""The output written from the parts in the order of the rows, while they are predicted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from model_name.batches.output import Assembly, assemble
from model_name.batches.parts import WorkFolder

COLUMNS = ["id", "prediction"]


def work_folder(output: Path) -> WorkFolder:
    """The prepared work folder of a new run writing `output`."""
    folder = WorkFolder.for_output(output)
    folder.prepare({})
    return folder


def rows(start: int, count: int) -> pd.DataFrame:
    return pd.DataFrame(
        {"id": [f"c{i}" for i in range(start, start + count)], "prediction": [0.5] * count}
    )


def test_parts_written_out_of_order_are_appended_in_the_order_of_the_rows(
    tmp_path: Path,
) -> None:
    # given a run of three parts, written 2, 0, 1 (as Dask tasks complete)
    output = tmp_path / "out.parquet"
    folder = work_folder(output)
    with Assembly(folder, output, 3, COLUMNS) as assembly:
        # when each part is announced as it is written
        folder.write_part(2, rows(4, 2))
        assembly.add({2})
        appended_before_part_0 = assembly.rows
        folder.write_part(0, rows(0, 2))
        assembly.add({0})
        appended_after_part_0 = assembly.rows
        folder.write_part(1, rows(2, 2))
        assembly.add({1})
        written = assembly.finish()

    # then nothing is appended before the first part, and the output has every row in order
    assert (appended_before_part_0, appended_after_part_0, written) == (0, 2, 6)
    assert pd.read_parquet(output)["id"].tolist() == [f"c{i}" for i in range(6)]
    assert not folder.path.exists()


def test_a_run_that_fails_keeps_the_old_output_and_the_parts_for_the_next_one(
    tmp_path: Path,
) -> None:
    # given an output from an earlier run, and a run whose second part fails
    output = tmp_path / "out.csv"
    output.write_text("old\n")
    folder = work_folder(output)

    # when the run stops after its first part was appended
    def run_that_fails() -> None:
        with Assembly(folder, output, 2, COLUMNS) as assembly:
            folder.write_part(0, rows(0, 2))
            assembly.add({0})
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):
        run_that_fails()

    # then the old output is untouched, no temporary file is left, and the part is kept
    assert output.read_text() == "old\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.csv", "out.csv.parts"]
    assert folder.done() == {0}


def test_a_part_another_process_wrote_is_found_at_the_finish(tmp_path: Path) -> None:
    # given two parts on disk, only the first announced to the assembly
    output = tmp_path / "out.csv"
    folder = work_folder(output)
    folder.write_part(0, rows(0, 1))
    folder.write_part(1, rows(1, 1))
    with Assembly(folder, output, 2, COLUMNS) as assembly:
        assembly.add({0})

        # when the run finishes
        written = assembly.finish()

    # then the output has both, as CSV lines
    assert written == 2
    assert output.read_text().splitlines() == ["id,prediction", "c0,0.5", "c1,0.5"]


def test_predictions_are_stored_plain_and_the_passthrough_ids_with_a_dictionary(
    tmp_path: Path,
) -> None:
    # given a part of distinct predictions and repeated ids
    output = tmp_path / "out.parquet"
    folder = work_folder(output)
    frame = pd.DataFrame({"id": ["a", "b"] * 500, "prediction": [i / 7 for i in range(1000)]})
    folder.write_part(0, frame)

    # when it becomes the output
    assemble(folder, output, 1, COLUMNS)

    # then the ids are dictionary-encoded and the predictions are not (a dictionary of values
    # that never repeat is as long as the column)
    group = pq.ParquetFile(output).metadata.row_group(0)
    encodings = {
        group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)
    }
    assert any("DICTIONARY" in encoding for encoding in encodings["id"]), encodings
    assert not any("DICTIONARY" in encoding for encoding in encodings["prediction"]), encodings
    pd.testing.assert_frame_equal(pd.read_parquet(output), frame)
