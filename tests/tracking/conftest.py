"""Set-up of the tracking machinery's tests (their helpers are in `tests.helpers.logs`)."""

from __future__ import annotations

# Imported (and self-configured) before any service runs, as in most programs.
import mlflow  # noqa: F401
