"""A heartbeat for trials in a journal file, which Optuna gives only to database storages.

A worker SIGKILLed mid-trial leaves its trial RUNNING for ever: with a database, Optuna's
heartbeat lets another worker fail it and run it again. The journal file has no heartbeat, so a
running trial here records one itself, as a system attribute, and every worker fails a running
trial whose last beat (or start) is older than the grace period, then queues it again as Optuna's
own retry callback does. Any worker may fail a running trial of the journal: only its owner is
refused to update it after that (a live but silent worker then fails its trial, and goes on).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

HEARTBEAT_ATTR = "model_name.heartbeat"
"""The trial system attribute holding the time (seconds since the epoch) of its last beat."""


@contextlib.contextmanager
def journal_heartbeat(trial: optuna.Trial, seconds: float) -> Iterator[None]:
    """Record the trial's heartbeat every `seconds` while the block runs (in a thread).

    The thread is stopped and joined before the block's end returns, so no beat is ever written
    after the trial is told its outcome.
    """
    storage, trial_id = trial.study._storage, trial._trial_id  # Optuna has no public way
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
            if stop.wait(seconds):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def fail_stale_journal_trials(study: optuna.Study, grace_seconds: float, retries: int) -> list[int]:
    """Fail the running trials silent for more than `grace_seconds`, and queue them again.

    Returns:
        The numbers of the trials failed.
    """
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    storage = study._storage
    now = time.time()
    failed: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        started = trial.datetime_start.timestamp() if trial.datetime_start else now
        last = max(float(trial.system_attrs.get(HEARTBEAT_ATTR, 0.0)), started)
        if now - last <= grace_seconds:
            continue
        try:
            if not storage.set_trial_state_values(trial._trial_id, TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # it finished meanwhile
            continue
        RetryHeartbeatStaleTrialCallback(max_retry=retries)(
            study, storage.get_trial(trial._trial_id)
        )
        failed.append(trial.number)
    return failed
