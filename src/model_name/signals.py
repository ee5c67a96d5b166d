"""Signals while a job runs: the first Ctrl-C or SIGTERM unwinds, the wrap-up is not cut short.

The first SIGINT raises KeyboardInterrupt and the first SIGTERM raises `Terminated`, wherever the
job is, so its run context and its services unwind (the run ends KILLED). From then on, and
whenever the code is in a wrap-up (`wrap_up()`: the run's finish, the job's `__exit__`, the
services' stop), a signal is recorded instead of raised: impatient people press Ctrl-C twice, and
a second KeyboardInterrupt in the middle of ending the run would leave it FAILED, without its
log, and the process exiting -2. The second signal says, in one line, that the wrap-up is
finishing and how to quit at once, and starts a bounded wait (`GRACE_SECONDS`); a third signal,
or the end of that wait, exits at once with the first signal's code (130 or 143).

Example:
    with handling_signals() as received:
        try:
            job.run()
        finally:
            with wrap_up():
                stop_everything()
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

from model_name.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated

GRACE_SECONDS = 30.0
"""How long the wrap-up may go on after a second signal before the process exits anyway."""

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclasses.dataclass
class _State:
    received: list[int] = dataclasses.field(default_factory=list)
    raised: bool = False
    depth: int = 0
    timer: threading.Timer | None = None


_states: list[_State] = []
"""The state of the `handling_signals` block running (at most one: signals are process-wide)."""


def _current() -> _State | None:
    return _states[-1] if _states else None


def exit_code(signum: int) -> int:
    """Return the command line's exit code for a signal: 143 for SIGTERM, else 130."""
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED


@contextlib.contextmanager
def handling_signals() -> Iterator[list[int]]:
    """Handle SIGINT and SIGTERM for the block as this module says; restore the handlers after.

    Only the main thread can set signal handlers: elsewhere the block runs with them unchanged.

    Yields:
        The signals received, in order (raised or deferred).
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    state = _State()
    _states.append(state)
    previous = {number: signal.signal(number, _handle) for number in SIGNALS}
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _redeliver(state, previous_hook)
    try:
        yield state.received
    finally:
        sys.unraisablehook = previous_hook
        for number, handler in previous.items():
            signal.signal(number, handler)
        if state.timer is not None:
            state.timer.cancel()
        _states.remove(state)


@contextlib.contextmanager
def wrap_up() -> Iterator[None]:
    """Defer SIGINT and SIGTERM during the block: it finishes what it started.

    Outside `handling_signals` (a notebook, a library), it changes nothing.
    """
    state = _current()
    if state is None:
        yield
        return
    state.depth += 1
    try:
        yield
    finally:
        state.depth -= 1


def _redeliver(state: _State, previous: Callable[[Any], object]) -> Callable[[Any], None]:
    """Return an unraisable hook that sends again a signal whose exception Python swallowed.

    The first signal's exception is raised wherever the main thread is: inside a finalizer (a
    weakref callback of SQLAlchemy's, a `__del__`), Python cannot propagate it, prints
    "Exception ignored" with a traceback, and goes on as if nothing happened. The hook forgets
    that delivery and sends the signal again, to be raised where the job is.
    """

    def hook(unraisable: Any) -> None:
        error = unraisable.exc_value
        if not (isinstance(error, KeyboardInterrupt) and state.raised and state.received):
            previous(unraisable)
            return
        signum = signal.SIGTERM if isinstance(error, Terminated) else signal.SIGINT
        state.received.pop()
        state.raised = False
        # sent from a thread, a moment later: sent from here, it would be raised in this hook
        resend = threading.Timer(0.05, os.kill, args=(os.getpid(), signum))
        resend.daemon = True
        resend.start()

    return hook


def _handle(signum: int, frame: types.FrameType | None) -> None:
    state = _current()
    if state is None:  # pragma: no cover - the handlers are restored with the state
        return
    state.received.append(signum)
    if len(state.received) == 1 and state.depth == 0:
        state.raised = True
        if signum == signal.SIGTERM:
            raise Terminated()
        raise KeyboardInterrupt()
    if len(state.received) == 2:
        _say(
            "finishing the wrap-up (ending the run, uploading its log); signal again to quit "
            f"at once, or it quits by itself in {GRACE_SECONDS:.0f} s"
        )
        state.timer = threading.Timer(GRACE_SECONDS, _quit, args=(state, "took too long"))
        state.timer.daemon = True
        state.timer.start()
    elif len(state.received) >= 3:
        _quit(state, "quitting at once")


def _quit(state: _State, why: str) -> None:
    """Exit now, with the first signal's code: the user insisted, or the wrap-up took too long."""
    _say(f"wrap-up cut short: {why}")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(exit_code(state.received[0]))


def _say(message: str) -> None:
    # a note, not an error: the one `model_name: error:` line comes when the command ends
    with contextlib.suppress(Exception):
        print(f"model_name: {message}", file=sys.stderr, flush=True)
