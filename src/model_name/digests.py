"""A cheap digest of a file's content: what pipelines fingerprint and lineage records.

A file up to `FULL_HASH_BYTES` is hashed whole; a larger one by its size and sampled blocks, so a
500 MB Parquet file costs about 0.05 s whatever its size (benchmarks/bench_pipelines.py).

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "data.csv"
    >>> _ = path.write_bytes(bytes(4))
    >>> size, blake2b = file_digest(path).split(":")
    >>> size, len(blake2b)
    ('4', 40)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

FULL_HASH_BYTES = 64 * 2**20
"""Files up to this size are hashed whole; larger ones are sampled (see `file_digest`)."""
EDGE_BYTES = 2**20
"""A sampled file's first and last bytes hashed (a Parquet file's footer: its schema, row groups
and column statistics, all of which move when the data changes)."""
SAMPLE_BLOCKS = 64
"""A sampled file's blocks in between, evenly spaced."""
SAMPLE_BYTES = 64 * 2**10
"""The size of each sampled block."""


def file_digest(path: Path) -> str:
    """Return a cheap fingerprint of a file's content: its size and a BLAKE2b of its bytes.

    Up to `FULL_HASH_BYTES` (64 MiB) the whole file is hashed. Beyond, its first and last MiB
    and 64 blocks of 64 KiB evenly spaced in between (6 MiB read whatever the size: about 0.05 s
    for 500 MB, see benchmarks/bench_pipelines.py); a change of the same size that touches none of
    those bytes would be missed, so give such a file a new name or use `--force`. Its modification
    time is not part of it: touching a file changes nothing.
    """
    size = path.stat().st_size
    hasher = hashlib.blake2b(str(size).encode(), digest_size=20)
    with path.open("rb") as handle:
        if size <= FULL_HASH_BYTES:
            for block in iter(lambda: handle.read(2**20), b""):
                hasher.update(block)
            return f"{size}:{hasher.hexdigest()}"
        hasher.update(handle.read(EDGE_BYTES))
        span = size - 2 * EDGE_BYTES - SAMPLE_BYTES
        for index in range(SAMPLE_BLOCKS):
            handle.seek(EDGE_BYTES + span * index // max(SAMPLE_BLOCKS - 1, 1))
            hasher.update(handle.read(SAMPLE_BYTES))
        handle.seek(size - EDGE_BYTES)
        hasher.update(handle.read(EDGE_BYTES))
    return f"{size}:sampled:{hasher.hexdigest()}"
