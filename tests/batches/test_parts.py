"""The work folder: parts written whole, kept for the same manifest, assembled into the output."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from model_name.batches.output import assemble
from model_name.batches.parts import WorkFolder, file_identity


def rows(start: int, count: int) -> pd.DataFrame:
    return pd.DataFrame({"id": range(start, start + count), "prediction": [0.5] * count})


def test_parts_of_the_same_manifest_are_kept_and_others_start_clean(tmp_path: Path) -> None:
    # given a folder with two parts written for one manifest
    folder = WorkFolder.for_output(tmp_path / "out.csv")
    assert folder.prepare({"model": 1}) == set()
    folder.write_part(0, rows(0, 2))
    folder.write_part(1, rows(2, 2))

    # then the same manifest finds them, and another one removes them
    assert folder.path == tmp_path / "out.csv.parts"
    assert folder.prepare({"model": 1}) == {0, 1}
    assert folder.prepare({"model": 2}) == set()
    assert not folder.part(0).exists()


def test_a_part_written_twice_holds_its_rows_once(tmp_path: Path) -> None:
    folder = WorkFolder.for_output(tmp_path / "out.parquet")
    folder.prepare({})

    folder.write_part(0, rows(0, 3))
    folder.write_part(0, rows(0, 3))  # a task run again after its worker died
    folder.write_part(1, rows(3, 1))
    written = assemble(folder, tmp_path / "out.parquet", 2, ["id", "prediction"])

    assert written == 4
    assert pd.read_parquet(tmp_path / "out.parquet")["id"].tolist() == [0, 1, 2, 3]
    assert not folder.path.exists()


def test_the_parts_become_a_csv_in_order_and_a_temporary_leftover_is_ignored(
    tmp_path: Path,
) -> None:
    folder = WorkFolder.for_output(tmp_path / "deep" / "out.csv")
    folder.prepare({})
    folder.write_part(1, rows(2, 2))
    folder.write_part(0, rows(0, 2))
    (folder.path / "part-000002.parquet.tmp-123").write_text("half written")
    assert folder.prepare({}) == {0, 1}

    assemble(folder, tmp_path / "deep" / "out.csv", 2, ["id", "prediction"])

    text = (tmp_path / "deep" / "out.csv").read_text()
    assert text.splitlines() == ["id,prediction", "0,0.5", "1,0.5", "2,0.5", "3,0.5"]


def test_a_missing_part_keeps_the_folder_and_the_old_output(tmp_path: Path) -> None:
    output = tmp_path / "out.csv"
    output.write_text("old\n")
    folder = WorkFolder.for_output(output)
    folder.prepare({})
    folder.write_part(0, rows(0, 1))

    with pytest.raises(FileNotFoundError, match=r"parts \[1\] are missing"):
        assemble(folder, output, 2, ["id", "prediction"])

    assert output.read_text() == "old\n"
    assert folder.done() == {0}


def test_no_rows_give_an_output_with_the_columns_only(tmp_path: Path) -> None:
    folder = WorkFolder.for_output(tmp_path / "out.csv")
    folder.prepare({})

    assert assemble(folder, tmp_path / "out.csv", 0, ["id", "prediction"]) == 0

    assert (tmp_path / "out.csv").read_text() == "id,prediction\n"


def test_a_file_rewritten_has_another_identity(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("a\n1\n")
    before = file_identity(path)

    path.write_text("a\n2\n")

    assert file_identity(path)["sha256_head_tail"] != before["sha256_head_tail"]
    assert file_identity(path)["size"] == before["size"]


def test_a_dask_task_run_again_skips_the_parts_its_first_attempt_wrote(tmp_path: Path) -> None:
    # given a task of two partitions whose first part was written before its worker died
    from model_name.batches.predict import Task, predict_partitions
    from model_name.batches.sources import TableSource

    inputs = tmp_path / "in.parquet"
    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}).to_parquet(inputs, row_group_size=2)
    source = TableSource(str(inputs), ["x"], path=inputs)
    folder = WorkFolder.for_output(tmp_path / "out.parquet")
    folder.prepare({})
    folder.write_part(0, pd.DataFrame({"prediction": [-1.0, -1.0]}))  # the first attempt's
    partitions = source.plan(2)
    model_folder = tmp_path / "model"
    save_doubling_model(model_folder)
    task = Task(source, 2, ["x"], [], "prediction", folder, model_path=str(model_folder))

    # when the task runs again
    counted = predict_partitions(task, partitions)

    # then both partitions count their rows, and only the second is predicted
    assert counted == [2, 2]
    assert pd.read_parquet(folder.part(0))["prediction"].tolist() == [-1.0, -1.0]
    assert pd.read_parquet(folder.part(1))["prediction"].tolist() == [6.0, 8.0]


def save_doubling_model(folder: Path) -> None:
    """An MLflow pyfunc folder of a model that doubles its one feature `x`."""
    import mlflow.pyfunc

    class Doubling(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: object, model_input: pd.DataFrame) -> object:
            return model_input["x"] * 2

    mlflow.pyfunc.save_model(str(folder), python_model=Doubling())
