"""Loguru file sinks for the services' tests, and reading them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from model_name.io.services import LoggerService


def lines(path: Path) -> list[str]:
    """The lines of a log file; none when nothing was written."""
    return path.read_text().splitlines() if path.exists() else []


def file_logger(tmp_path: Path, **fields: Any) -> LoggerService:
    """A logger service writing `{level}|{message}` lines to `logs/app.log` under `tmp_path`."""
    fields.setdefault("format", "{level}|{message}")
    return LoggerService(sink=str(tmp_path / "logs" / "app.log"), **fields)
