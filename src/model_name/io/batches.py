"""Reading a table in batches of bounded size: a Parquet row group at a time, CSV in chunks.

`pyarrow.dataset`'s `to_batches` grows memory as it iterates (apache/arrow #39808, #45439);
`ParquetFile.iter_batches` stays flat. Each batch comes with the row of the file it starts at.

Example:
    for first_row, batch in read_batches(Path("data.parquet"), 100_000):
        check_frame(batch, contract, "data.parquet", first_row, complete=False)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from model_name.io.datasets import check_table_path

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

BATCH_ROWS = 500_000
"""Rows per batch by default: about 40 MB of ten float columns."""


def read_batches(path: Path, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[int, pd.DataFrame]]:
    """Yield `(first_row, frame)` for consecutive batches of a CSV or Parquet file.

    Args:
        path: the file, chosen by suffix.
        batch_rows: the most rows a batch holds.

    Raises:
        ValueError: the suffix is not a table format.
    """
    import pandas as pd

    check_table_path(path)
    first_row = 0
    if path.suffix.lower() == ".csv":
        with pd.read_csv(path, chunksize=batch_rows) as chunks:
            for chunk in chunks:
                yield first_row, chunk.reset_index(drop=True)
                first_row += len(chunk)
        return
    import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

    with pq.ParquetFile(path) as parquet:
        for batch in parquet.iter_batches(batch_size=batch_rows):
            frame = batch.to_pandas()
            yield first_row, frame
            first_row += len(frame)
