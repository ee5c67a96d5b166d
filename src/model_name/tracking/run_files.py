"""A run's own files while it runs: `config.yaml` and `logs/run.log`, in a folder of `$TMPDIR`.

`run_context` records what is logged during a run into `logs/run.log` (secrets masked) and writes
the run's configuration into `config.yaml`; both are logged as artifacts when the run ends, and
the folder is removed. The folder is named after the run (`model_name-run-<run id>-<random>`):
a process killed with SIGKILL leaves it behind, and the reaper, which ends that run, attaches
its `logs/run.log` (and `config.yaml`) to it and removes the folder
(`model_name.tracking.reaper`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_name.redaction import MaskingSink
from model_name.tracking.records import config_yaml

if TYPE_CHECKING:
    import loguru
    from mlflow import MlflowClient

FOLDER_PREFIX = "model_name-run-"
"""How the folder of a run's files is named in `$TMPDIR`, before the run's id."""


class RunFiles:
    """The folder of a run's files, and the log sink that writes its `logs/run.log`.

    Args:
        run_id: the run's id (in the folder's name).
        logger: loguru's logger; the sink is added to it.
        level: the run log's level (the logger service's).
        log_format: the run log's format (the logger service's).
    """

    def __init__(self, run_id: str, logger: loguru.Logger, level: str, log_format: str) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{run_id}-"))
        (self.folder / "logs").mkdir()
        self._logger = logger
        self._sink: int | None = logger.add(
            MaskingSink(self.folder / "logs" / "run.log"),  # an artifact: no secret may reach it
            level=level,
            format=log_format,
            colorize=False,
            backtrace=True,
            diagnose=False,
            catch=True,
        )

    def close(self, config: Mapping[str, Any] | None) -> Path:
        """Stop recording the log, write `config.yaml` (unless None); return the folder."""
        if self._sink is not None:
            with contextlib.suppress(ValueError):
                self._logger.remove(self._sink)
            self._sink = None
        if config is not None:
            (self.folder / "config.yaml").write_text(config_yaml(config), encoding="utf-8")
        return self.folder

    def remove(self) -> None:
        """Remove the folder (once its files are logged, or moved into the outbox)."""
        shutil.rmtree(self.folder, ignore_errors=True)


def stranded_folders(run_id: str) -> list[Path]:
    """Return the folders of `run_id`'s files that a killed process left in `$TMPDIR`."""
    pattern = f"{FOLDER_PREFIX}{run_id}-*"
    return sorted(path for path in Path(tempfile.gettempdir()).glob(pattern) if path.is_dir())


def attach_stranded(client: MlflowClient, run_id: str) -> bool:
    """Log the files a killed process left for a run as its artifacts, then remove them.

    Returns:
        True when a folder was found (and attached).

    Raises:
        Exception: whatever MLflow raises; the folder then stays for the next reap.
    """
    folders = stranded_folders(run_id)
    for folder in folders:
        if any(path.is_file() for path in folder.rglob("*")):
            client.log_artifacts(run_id, str(folder))
        shutil.rmtree(folder, ignore_errors=True)
    return bool(folders)
