"""A table cut into partitions that each hold at most `batch_rows` rows, read one at a time.

A partition is found without reading the rows: a Parquet file's row groups come from its footer
(a row group larger than `batch_rows` is cut into chunks of `batch_rows` rows, read with
`ParquetFile.iter_batches` on that row group alone); a CSV file is scanned once for its line
breaks, in blocks of a few MB, and a partition is a byte range of whole lines, read with pandas.
Reading a partition never reads another one, so a partition can be read on another machine
(a Dask worker) and memory stays bounded by one partition. `pyarrow.dataset`'s `to_batches` is
not used: its memory grows as it iterates (apache/arrow #39808).

A CSV line must be one row: a line break inside a quoted value is refused (the partition's rows
do not match its lines).

Example:
    source = table_source(Path("features.parquet"), ["age", "bmi"], passthrough=["id"])
    for partition in source.plan(100_000):
        frame = source.read(partition)
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_name.io import datasets
from model_name.io.data_errors import SOURCE

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

SCAN_BLOCK = 8 * 1024 * 1024
"""Bytes of a CSV file read at a time when its line breaks are counted."""


@dataclasses.dataclass(frozen=True)
class Partition:
    """A slice of a table: its number, its rows, and where they are in the file.

    Attributes:
        index: the partition's number, from 0, in the order of the rows.
        first_row: the position of its first row in the table (0 is the first data row).
        rows: how many rows it holds.
        row_group: Parquet: the row group it is in.
        chunk: Parquet: which chunk of `batch_rows` rows of that row group.
        start: CSV: the offset of its first line, in bytes.
        end: CSV: the offset just after its last line, in bytes.
    """

    index: int
    first_row: int
    rows: int
    row_group: int = 0
    chunk: int = 0
    start: int = 0
    end: int = 0


@dataclasses.dataclass(frozen=True)
class TableSource:
    """A table to read partition by partition: a CSV or Parquet file, or a frame in memory.

    Attributes:
        name: where it comes from, as errors name it (a path, or the sample's source).
        columns: the columns to read, in order (`None`: all of them).
        path: the file, or `None` for a frame held in memory.
        frame: the frame when there is no file (the bundled sample).
    """

    name: str
    columns: list[str] | None
    path: Path | None = None
    frame: Any = None

    @property
    def is_csv(self) -> bool:
        """Whether the table is a CSV file."""
        return self.path is not None and self.path.suffix.lower() == ".csv"

    def plan(self, batch_rows: int) -> list[Partition]:
        """Return the partitions of at most `batch_rows` rows, in the order of the rows."""
        if self.path is None:
            return _cut([len(self.frame)], batch_rows)
        if self.is_csv:
            return _csv_partitions(self.path, batch_rows)
        import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

        metadata = pq.ParquetFile(self.path).metadata
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        return _cut(sizes, batch_rows)

    def read(self, partition: Partition, batch_rows: int) -> pd.DataFrame:
        """Read one partition's rows: a frame indexed by the rows' positions in the table.

        Its `attrs` name the source, so an error about a value names the file and the line.

        Raises:
            ValueError: a CSV partition's lines do not hold the rows expected.
        """
        import pandas as pd

        if self.path is None:
            stop = partition.first_row + partition.rows
            frame = self.frame.iloc[partition.first_row : stop]
            if self.columns is not None:
                frame = frame[self.columns]
        elif self.is_csv:
            frame = self._read_csv(partition)
        else:
            frame = self._read_parquet(partition, batch_rows)
        frame = frame.copy() if self.path is None else frame
        frame.index = pd.RangeIndex(partition.first_row, partition.first_row + len(frame))
        frame.attrs[SOURCE] = self.name
        return frame

    def _read_parquet(self, partition: Partition, batch_rows: int) -> pd.DataFrame:
        import pyarrow.parquet as pq

        with pq.ParquetFile(self.path) as file:
            batches = file.iter_batches(
                batch_size=batch_rows, row_groups=[partition.row_group], columns=self.columns
            )
            for number, batch in enumerate(batches):
                if number == partition.chunk:
                    frame: pd.DataFrame = batch.to_pandas()
                    return frame
        raise ValueError(
            f"{self.name}: row group {partition.row_group} has fewer rows than planned"
        )

    def _read_csv(self, partition: Partition) -> pd.DataFrame:
        import pandas as pd

        from model_name.io.inputs import read_columns

        assert self.path is not None
        header = read_columns(self.path)
        with self.path.open("rb") as file:
            file.seek(partition.start)
            data = file.read(partition.end - partition.start)
        frame: pd.DataFrame = pd.read_csv(
            io.BytesIO(data), header=None, names=header, usecols=self.columns
        )
        if self.columns is not None:
            frame = frame[self.columns]
        if len(frame) != partition.rows:
            first_line = partition.first_row + 2
            raise ValueError(
                f"{self.name}: lines {first_line}-{first_line + partition.rows - 1} hold "
                f"{len(frame)} rows, not {partition.rows}: a value with a line break inside "
                "quotes is not supported when reading in batches"
            )
        return frame


def table_source(
    inputs: Path | None, features: list[str] | None, passthrough: list[str]
) -> TableSource:
    """Return the source of a job's `inputs`, or the bundled sample's features when `None`.

    Args:
        inputs: the CSV or Parquet file, or `None` for the sample.
        features: the model's feature columns (`None`: every column is read).
        passthrough: the columns copied to the output.

    Raises:
        ValueError: a feature or passthrough column is not in the table.
        FileNotFoundError: the file does not exist.
    """
    from model_name.io.inputs import read_columns

    columns = None
    if features is not None:  # the features, then the passthrough columns that are not
        columns = [*features, *(column for column in passthrough if column not in features)]
    if inputs is None:
        frame = datasets.load_sample().drop(columns=[datasets.SAMPLE_TARGET])
        source = TableSource(datasets.SAMPLE_SOURCE, columns, frame=frame)
        present = list(frame.columns)
    else:
        datasets.check_table_path(inputs)
        if not inputs.is_file():
            raise FileNotFoundError(f"input file '{inputs}' does not exist")
        source = TableSource(str(inputs), columns, path=inputs)
        present = read_columns(inputs)
    for kind, wanted in (("feature", features or []), ("passthrough", passthrough)):
        missing = [column for column in wanted if column not in present]
        if missing:
            raise ValueError(
                f"missing {kind} column(s) {missing} in {source.name}; the table has {present}"
            )
    return source


def read_batches(path: Path, batch_rows: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield `(first_row, frame)` for consecutive batches of every column of a file.

    A Parquet row group (or part of one) or a range of a CSV's lines at a time: memory holds
    one batch, whatever the file's size (`model_name data check`).

    Example:
        for first_row, batch in read_batches(Path("data.parquet"), 100_000):
            check_frame(batch, contract, "data.parquet", first_row, complete=False)
    """
    datasets.check_table_path(path)
    source = TableSource(str(path), None, path=path)
    for partition in source.plan(batch_rows):
        yield partition.first_row, source.read(partition, batch_rows)


def _cut(sizes: list[int], batch_rows: int) -> list[Partition]:
    """Partitions of at most `batch_rows` rows over groups of the given sizes."""
    partitions: list[Partition] = []
    first = 0
    for group, size in enumerate(sizes):
        for chunk, offset in enumerate(range(0, size, batch_rows)):
            rows = min(batch_rows, size - offset)
            partitions.append(Partition(len(partitions), first + offset, rows, group, chunk))
        first += size
    return partitions


def _csv_partitions(path: Path, batch_rows: int) -> list[Partition]:
    """Partitions of whole lines, `batch_rows` lines each, found by counting line breaks.

    Line k ends at the k-th line break (line 0 is the header): a partition starts after line
    `i * batch_rows` and ends after line `(i + 1) * batch_rows`, or at the end of the file.
    """
    import numpy as np

    bounds: list[int] = []  # the offsets after lines 0, batch_rows, 2 * batch_rows, ...
    lines = offset = 0
    tail = b""
    with path.open("rb") as file:
        while block := file.read(SCAN_BLOCK):
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
            numbers = lines + np.arange(len(ends))
            bounds += [offset + int(end) + 1 for end in ends[numbers % batch_rows == 0]]
            lines += len(ends)
            offset += len(block)
            tail = block[ends[-1] + 1 :] if len(ends) else tail + block
    data_lines = lines - 1 + (1 if tail.strip() else 0)  # a last line with no line break
    if not bounds or data_lines <= 0:
        return []
    partitions = []
    for index, start in enumerate(bounds):
        first = index * batch_rows
        if first >= data_lines:
            break
        rows = min(batch_rows, data_lines - first)
        end = bounds[index + 1] if index + 1 < len(bounds) else offset
        partitions.append(Partition(index, first, rows, start=start, end=end))
    return partitions
