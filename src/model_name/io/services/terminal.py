"""How a terminal sink (stderr, stdout) shows a failure: its line, not a page of traceback.

A file sink and each run's `logs/run.log` keep every traceback whole. On the terminal:

- an error model_name raises on purpose (`ModelNameError`: a gate refusal, a missing model, a
  service that cannot start) is its message alone: it was written for the user, and says the
  next command to run where there is one;
- any other exception (a bug, or a library's error the job did not expect) shows where it
  happened in a few lines: the innermost frame of model_name's code and the innermost frame of
  all, each as `path:line in function` and the source line;
- with `logger.traceback: true` (`model_name run --traceback`) or at level DEBUG/TRACE, the
  whole traceback, as loguru prints it.

Example:
    >>> show = terminal_format("{level} {message}", whole=False)
    >>> show({"exception": None, "extra": {}}).splitlines()
    ['{level} {message}']
"""

from __future__ import annotations

import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from model_name.errors import ModelNameError

FRAMES_SHOWN = 2
"""At most this many frames of a bug's traceback on the terminal."""

_WHERE = "model_name_where"  # the record's `extra` key holding the few lines of a bug
_PACKAGE = str(Path(__file__).resolve().parents[2])  # src/model_name


def terminal_format(format_: str, *, whole: bool) -> Callable[[Any], str]:
    """Return a loguru format function for a terminal sink.

    Args:
        format_: the loguru format string of every line (`logger.format`).
        whole: print whole tracebacks (`logger.traceback`, or level DEBUG).
    """

    def show(record: Any) -> str:
        exception = record["exception"]
        if exception is None or exception.value is None:
            return format_ + "\n"
        if whole:
            return format_ + "\n{exception}"
        if isinstance(exception.value, ModelNameError):
            return format_ + "\n"
        record["extra"][_WHERE] = where(exception.value, exception.traceback)
        return format_ + "\n{extra[" + _WHERE + "]}"

    return show


def where(error: BaseException, trace: types.TracebackType | None) -> str:
    """Say in a few lines where an exception happened, and where its whole traceback is.

    Example:
        >>> try:
        ...     {}["missing"]
        ... except KeyError as error:
        ...     print(where(error, error.__traceback__).splitlines()[-1])
          (the whole traceback: the run's logs/run.log, or --traceback)
    """
    frames = traceback.extract_tb(trace)
    chosen: list[traceback.FrameSummary] = []
    own = [frame for frame in frames if frame.filename.startswith(_PACKAGE)]
    if own:
        chosen.append(own[-1])
    if frames and frames[-1] not in chosen:
        chosen.append(frames[-1])
    lines = []
    for frame in chosen[-FRAMES_SHOWN:]:
        source = f": {frame.line.strip()}" if frame.line else ""
        lines.append(f"  at {_short(frame.filename)}:{frame.lineno} in {frame.name}{source}")
    lines.append("  (the whole traceback: the run's logs/run.log, or --traceback)")
    return "\n".join(lines) + "\n"


def _short(filename: str) -> str:
    """A path from the current folder when below it, else from `site-packages` on, else whole."""
    path = Path(filename)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        pass
    parts = path.parts
    if "site-packages" in parts:
        return str(Path(*parts[parts.index("site-packages") + 1 :]))
    return filename
