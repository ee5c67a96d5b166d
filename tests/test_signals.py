"""Signals in this process: the first unwinds, those during a wrap-up wait for it to finish."""

from __future__ import annotations

import os
import signal
import time

import pytest

from model_name.errors import Terminated
from model_name.signals import exit_code, handling_signals, wrap_up


def test_the_first_signal_raises_and_the_second_waits_for_the_wrap_up(
    capsys: pytest.CaptureFixture[str],
) -> None:
    finished = []

    def job_then_wrap_up() -> None:
        try:  # a first SIGTERM comes while the job runs
            os.kill(os.getpid(), signal.SIGTERM)
        finally:  # and a Ctrl-C while it wraps up
            with wrap_up():
                os.kill(os.getpid(), signal.SIGINT)
                finished.append("wrap-up")

    with handling_signals() as received, pytest.raises(Terminated):
        job_then_wrap_up()
    # then the wrap-up finished, both signals are known, the first one's code wins
    assert finished == ["wrap-up"]
    assert received == [signal.SIGTERM, signal.SIGINT]
    assert exit_code(received[0]) == 143
    assert "model_name: finishing the wrap-up" in capsys.readouterr().err


def test_a_signal_during_a_successful_wrap_up_is_deferred_not_raised() -> None:
    with handling_signals() as received, wrap_up():
        os.kill(os.getpid(), signal.SIGINT)
    assert received == [signal.SIGINT]


def test_the_handlers_are_restored_after() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with handling_signals():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_interrupt_swallowed_by_a_finalizer_is_delivered_again() -> None:
    # given a first Ctrl-C whose KeyboardInterrupt lands in a finalizer, where Python swallows it
    class Finalized:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)  # the handler raises here, inside __del__

    def job() -> None:
        Finalized()  # collected at once: the interrupt is raised in __del__ and swallowed
        for _ in range(2000):  # the signal sent again is raised here, in the job's own code
            time.sleep(0.001)

    # when the object is collected inside the handled block
    with handling_signals() as received, pytest.raises(KeyboardInterrupt):
        job()

    # then the interrupt reached the job once, as a first signal (no wrap-up message)
    assert received == [signal.SIGINT]
