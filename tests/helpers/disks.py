"""A small disk for a test: a tmpfs mounted on a folder, always unmounted after.

Mounting needs root (or CAP_SYS_ADMIN) and the `mount` program: where it is not allowed, the
test is skipped with the reason, and fails under CI, like `require_programs`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.helpers.programs import require_programs, skip_or_fail


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (`"256k"`, `"4m"`) on a new folder for the block.

    Yields:
        The mounted folder.
    """
    require_programs("mount", "umount")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        reason = f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}"
        skip_or_fail(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def resize(folder: Path, size: str) -> None:
    """Give a mounted tmpfs a new size: space coming back, or going."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Write a file until the disk is full; return it (delete it to free the space).

    Unbuffered: a buffered file would try its last block again on closing, and raise ENOSPC then.
    """
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
    return filler
