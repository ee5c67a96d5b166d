"""The output file written from the parts in the order of the rows, while they are predicted.

An `Assembly` appends part `i` to a temporary output as soon as parts `0..i` are all written,
so the driver of a Dask run writes the output while the workers still predict, instead of
reading every part again once they are done (a tenth of a run's time, spent on one core while
the others wait). Parquet goes through one `ParquetWriter`, a row group a part; CSV appends
each part's rows. `finish` renames the temporary file over the output and removes the work
folder; a run that fails or is interrupted leaves the old output untouched and the parts in
place, so the next run resumes.

Example:
    with Assembly(folder, Path("predictions.csv"), count=3, columns=["prediction"]) as out:
        out.add(done)  # the parts an earlier run wrote
        ...            # out.add({index}) as each part is written
        rows = out.finish()
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model_name.batches.parts import WorkFolder


class Assembly:
    """The parts of a work folder appended, in order, to a temporary copy of the output.

    Args:
        folder: the work folder holding the parts.
        output: the file to write (`.csv`, or Parquet).
        count: the number of parts (of partitions).
        columns: the output's columns, for a table of no rows (no parts).
    """

    def __init__(self, folder: WorkFolder, output: Path, count: int, columns: list[str]) -> None:
        self.folder = folder
        self.output = output
        self.count = count
        self.columns = columns
        self.rows = 0
        self._next = 0  # the first part not appended yet
        self._written: set[int] = set()
        self._temporary = output.with_name(f".{output.name}.tmp-{os.getpid()}")
        self._writer: Any = None  # Parquet: the writer, opened with the first part's schema
        self._csv: Any = None  # CSV: the open file

    def __enter__(self) -> Assembly:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close()
        self._temporary.unlink(missing_ok=True)  # renamed by `finish`, else discarded

    def add(self, indexes: Iterable[int]) -> None:
        """Note parts as written; append every one that now follows the last appended."""
        self._written.update(indexes)
        while self._next in self._written:
            self._append(self._next)
            self._next += 1

    def finish(self) -> int:
        """Rename the output into place, remove the work folder; return the rows written.

        Raises:
            FileNotFoundError: a part is missing (the folder and the old output are kept).
        """
        self.add(self.folder.done())  # parts another process wrote, counted by the caller
        if self._next < self.count:
            missing = sorted(set(range(self.count)) - self._written)
            raise FileNotFoundError(f"{self.folder.path}: parts {missing[:5]} are missing")
        if self.count == 0:
            self._write_empty()
        self._close()
        os.replace(self._temporary, self.output)
        shutil.rmtree(self.folder.path)
        return self.rows

    def _append(self, index: int) -> None:
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        table = pq.ParquetFile(self.folder.part(index)).read()
        self.rows += table.num_rows
        if self.output.suffix.lower() == ".csv":
            frame = table.to_pandas()
            if self._csv is None:
                self._csv = self._temporary.open("w", encoding="utf-8", newline="")
            frame.to_csv(self._csv, index=False, header=index == 0)
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self._temporary, table.schema, use_dictionary=_repeating(table.schema)
            )
        elif table.schema != self._writer.schema:  # a column all nulls in one part
            table = table.cast(self._writer.schema)
        self._writer.write_table(table)

    def _write_empty(self) -> None:
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]

        empty = pd.DataFrame({column: [] for column in self.columns})
        if self.output.suffix.lower() == ".csv":
            empty.to_csv(self._temporary, index=False)
        else:
            empty.to_parquet(self._temporary, index=False)

    def _close(self) -> None:
        for handle in (self._writer, self._csv):
            if handle is not None:
                handle.close()
        self._writer = self._csv = None


def _repeating(schema: Any) -> list[str]:
    """The columns worth a dictionary: all but floats (ids, labels and classes repeat).

    A column of predictions has nearly no value twice: its dictionary would be as long as the
    column, and building it took three quarters of the time to write the output.
    """
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    return [field.name for field in schema if not pa.types.is_floating(field.type)]


def assemble(folder: WorkFolder, output: Path, count: int, columns: list[str]) -> int:
    """Write parts 0..count-1 of a folder into the output, atomically, then remove the folder.

    A run appends its parts as they are written instead (`Assembly`); this is for parts that
    are all there already.

    Returns:
        The number of rows written.

    Raises:
        FileNotFoundError: a part is missing (the folder and the old output are kept).
    """
    with Assembly(folder, output, count, columns) as assembly:
        return assembly.finish()
