"""Helpers of the services' tests: loguru file sinks and reading them back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Imported (and self-configured) before any service runs, as in most programs.
import mlflow  # noqa: F401

from model_name.io.services import LoggerService


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def file_logger(tmp_path: Path, **fields: Any) -> LoggerService:
    fields.setdefault("format", "{level}|{message}")
    return LoggerService(sink=str(tmp_path / "logs" / "app.log"), **fields)
