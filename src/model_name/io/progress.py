"""Progress of long work: a bar on a terminal, one line a step in a log file or under CI.

`Progress` counts the steps of a long piece of work (tuning trials, `runs sync` uploads). On a
terminal it draws a tqdm bar with the count, the rate and an estimate of the time left, the
step's own line shown beside it; where nobody watches a terminal (a log file, a pipe, CI: `CI`
set) it says each step in one line instead, through the `say` it was given. Work of many small
steps (rows predicted in batches) gives an `interval`: then a line is said at most once per
interval (and at the end), with the count, the rate and the time left (`status`).

Example:
    >>> lines = []
    >>> with Progress(total=2, unit="trial", say=lines.append, bar=False) as progress:
    ...     progress.advance("trial 0 complete")
    ...     progress.advance("trial 1 complete")
    >>> lines
    ['trial 0 complete', 'trial 1 complete']
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Callable
from typing import IO, Any, Self


def under_ci() -> bool:
    """Whether the process runs under CI (`CI` set to anything but empty, `0` or `false`)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def draws_bars(stream: Any) -> bool:
    """Whether progress on this stream is a bar: a terminal, and not under CI."""
    return bool(getattr(stream, "isatty", lambda: False)()) and not under_ci()


class Progress:
    """The steps of a long piece of work, as a bar on a terminal or one line a step.

    Args:
        total: the number of steps, if known (the bar shows a count and an estimate).
        unit: what a step is (`trial`, `run`), for the bar.
        say: where a step's line goes when there is no bar (a logger's `info`, `print`).
        bar: draw a bar; `None` draws one when `stream` is a terminal and not under CI.
        stream: where the bar is drawn (standard error by default).
        description: the bar's label.
        interval: with no bar, say a line at most once per this many seconds (and when the
            total is reached), the `status` when the step has no line of its own; `None` says
            every step's line.
        initial: steps already done before this process started (a resumed run): counted,
            but not in the rate.
    """

    def __init__(
        self,
        total: int | None,
        unit: str,
        say: Callable[[str], Any],
        *,
        bar: bool | None = None,
        stream: IO[str] | None = None,
        description: str = "",
        interval: float | None = None,
        initial: int = 0,
    ) -> None:
        self.say = say
        self.total, self.unit, self.interval = total, unit, interval
        self.count = self._initial = initial
        self._started = self._said = time.monotonic()
        stream = sys.stderr if stream is None else stream
        self._bar: Any = None
        if draws_bars(stream) if bar is None else bar:
            import shutil

            from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

            # a terminal that says it has no size (a bare pty) gets 80x24, not a hidden bar
            size = shutil.get_terminal_size()
            self._bar = tqdm(
                total=total, unit=unit, desc=description or None, file=stream, leave=True,
                ncols=size.columns, nrows=size.lines, initial=initial,
            )  # fmt: skip

    @property
    def drawn(self) -> bool:
        """Whether a bar is drawn (then the steps' lines are not said)."""
        return self._bar is not None

    def advance(self, line: str = "", steps: int = 1, brief: str | None = None) -> None:
        """Count steps done; say their line, or show it (or `brief`) beside the bar."""
        self.count += steps
        if self._bar is None:
            if self.interval is None:
                if line:
                    self.say(line)
                return
            now = time.monotonic()
            finished = self.total is not None and self.count >= self.total
            if finished or now - self._said >= self.interval:
                self._said = now
                self.say(line or self.status())
            return
        self._bar.update(steps)
        if brief or line:
            self._bar.set_postfix_str(brief or line, refresh=True)

    def status(self) -> str:
        """The count, the rate since this process started, and the time left if known.

        Example: `1,200,000/5,000,000 rows (24%), 410,000 rows/s, about 9 s left`.
        """
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = (self.count - self._initial) / elapsed
        if self.total is None:
            return f"{self.count:,} {self.unit}s, {rate:,.0f} {self.unit}s/s"
        share = 100 * self.count / self.total if self.total else 100
        line = (
            f"{self.count:,}/{self.total:,} {self.unit}s ({share:.0f}%), {rate:,.0f} {self.unit}s/s"
        )
        if rate > 0 and self.count < self.total:
            line += f", about {(self.total - self.count) / rate:,.0f} s left"
        return line

    def reach(self, done: int, line: str = "", brief: str | None = None) -> None:
        """Set the count of steps done (work shared with others: a study's complete trials)."""
        if self._bar is None and self.interval is None:  # every step's line, as it comes
            self.count = max(self.count, done)
            if line:
                self.say(line)
            return
        self.advance(line, steps=max(0, done - self.count), brief=brief)

    def close(self) -> None:
        """End the bar (its last state stays on the terminal)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: types.TracebackType | None,
    ) -> None:
        self.close()


class BarSafeStream:
    """A text stream that writes above the progress bars being drawn, so none is broken.

    The terminal sink of the logger writes through it: while a tqdm bar is drawn on the same
    terminal, a log line goes through `tqdm.write` (the bar is cleared, the line written, the bar
    drawn again). Everything but `write` is the wrapped stream's.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write text, above any bar being drawn."""
        tqdm_module = sys.modules.get("tqdm")
        bars = getattr(getattr(tqdm_module, "tqdm", None), "_instances", None)
        if tqdm_module is not None and bars:
            tqdm_module.tqdm.write(text.removesuffix("\n"), file=self._stream)
            return len(text)
        return self._stream.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
