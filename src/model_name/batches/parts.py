"""The work folder of a run in batches: a manifest, one part file a partition, the output.

Beside the output `predictions.csv` a run keeps `predictions.csv.parts/`:

- `manifest.json`: what the parts were made from (the input's path, size, modification time and
  a digest of its first and last MiB, the model version, the settings that change the rows).
  A run whose manifest differs (other inputs, model or settings) empties the folder first.
- `part-000042.parquet`: the rows of partition 42, written to a temporary name then renamed
  (`os.replace`), so a part is either whole or absent, and writing it again (a task re-run after
  a worker died) replaces it: no row is ever there twice.

The output is written from the parts in order, one part at a time, under a temporary name, as
they are written (`output.Assembly`; `output.assemble` when they are all there), then renamed
over the output, and the folder removed. An interrupted run leaves the folder: the next run
with the same manifest skips the parts already written.

Example:
    folder = WorkFolder.for_output(Path("outputs/predictions.csv"))
    done = folder.prepare({"inputs": ..., "model_uri": ...})
    folder.write_part(0, frame)
    output.assemble(folder, Path("outputs/predictions.csv"), count=1, columns=["prediction"])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

MANIFEST = "manifest.json"
"""The work folder's description of what its parts were made from."""

PART = re.compile(r"part-(\d+)\.parquet")
"""The name of a finished part file: its partition's number."""

DIGEST_BYTES = 1024 * 1024
"""How much of the head and of the tail of an input file the manifest's digest reads."""


def file_identity(path: Path) -> dict[str, Any]:
    """What identifies a file's contents cheaply: path, size, mtime, head and tail digest.

    A rewrite of the file changes its modification time; a copy keeps its size and digest.
    """
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as file:
        digest.update(file.read(DIGEST_BYTES))
        if stat.st_size > DIGEST_BYTES:
            file.seek(max(DIGEST_BYTES, stat.st_size - DIGEST_BYTES))
            digest.update(file.read(DIGEST_BYTES))
    return {
        "path": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sha256_head_tail": digest.hexdigest(),
    }


@dataclasses.dataclass(frozen=True)
class WorkFolder:
    """The folder of part files beside an output, and how they become the output.

    Attributes:
        path: the folder (`<output>.parts`).
    """

    path: Path

    @classmethod
    def for_output(cls, output: Path) -> WorkFolder:
        """Return the work folder of an output file: `<output>.parts` beside it."""
        return cls(output.with_name(output.name + ".parts"))

    def prepare(self, manifest: dict[str, Any]) -> set[int]:
        """Keep the parts made from the same manifest, else start clean; return their numbers.

        Temporary files an interrupted write left are removed.
        """
        wanted = json.loads(json.dumps(manifest, sort_keys=True, default=str))
        if self.path.is_dir() and self._manifest() != wanted:
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        for leftover in self.path.glob("*.tmp-*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
        if self._manifest() != wanted:
            _write_atomic(self.path / MANIFEST, json.dumps(wanted, indent=2, sort_keys=True))
        return self.done()

    def done(self) -> set[int]:
        """The numbers of the partitions whose part file is written."""
        return {
            int(match.group(1))
            for match in (PART.fullmatch(item.name) for item in self.path.iterdir())
            if match
        }

    def part(self, index: int) -> Path:
        """The part file of a partition."""
        return self.path / f"part-{index:06d}.parquet"

    def write_part(self, index: int, frame: pd.DataFrame) -> Path:
        """Write a partition's rows, whole or not at all (temporary name, then renamed)."""
        final = self.part(index)
        # unique per writer: a task re-run elsewhere may write the same part at the same time
        temporary = final.with_name(f"{final.name}.tmp-{uuid.uuid4().hex}")
        # neither compressed nor dictionary-encoded: a part lives minutes, and the two cost a
        # third of a batch's time (the dictionary of a column of floats is as long as the column)
        frame.to_parquet(temporary, index=False, compression=None, use_dictionary=False)
        os.replace(temporary, final)
        return final

    def model(self, uri: str) -> Path:
        """Return a local copy of a model in the folder, downloaded once (workers load it).

        The folder is beside the output: on a cluster, a shared filesystem the workers see
        at the same path.
        """
        target = self.path / "model"
        if not target.is_dir():
            import mlflow.artifacts

            temporary = self.path / f"model.tmp-{uuid.uuid4().hex}"
            temporary.mkdir()
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(temporary))
            os.replace(local, target)
            shutil.rmtree(temporary, ignore_errors=True)
        return target

    def _manifest(self) -> Any:
        try:
            return json.loads((self.path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
