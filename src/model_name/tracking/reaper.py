"""The reaper: end, KILLED, the RUNNING runs whose process is dead, and say why on each.

A run opened by `MlflowService.run_context` carries its host, process id, process start time and
a heartbeat (`model_name.tracking.heartbeat`). A RUNNING run is dead when:

- it ran on this host and its process is gone: no process has its pid, or the one that has it
  started at another time (a reused pid);
- or it ran on another host (or without a process record) and its heartbeat is older than the
  grace period.

A run on this host whose process is alive is never touched, however old its heartbeat (its
server may just have been away). A run without a heartbeat tag was not opened by `run_context`
(another tool, an older version): the reaper cannot know and leaves it alone.

A reaped run gets the tags `model_name.reaped` ("true"), `model_name.reaped_at` (UTC, ISO 8601),
`model_name.reaped_reason` and `model_name.reaped_by` (host and pid of the reaper), and ends
KILLED at the time of its last heartbeat, its last known sign of life. The files its killed
process left in `$TMPDIR/model_name-run-<run id>-*` (`logs/run.log`, `config.yaml`) are attached
to it as artifacts and the folder is removed (`model_name.tracking.run_files`); an upload that
fails leaves the folder for the next reap.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from model_name.tracking.heartbeat import (
    HEARTBEAT_TAG,
    HOST_TAG,
    PID_TAG,
    PROCESS_STARTED_TAG,
    now_ms,
    process_alive,
)
from model_name.tracking.run_files import attach_stranded

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

REAPED_TAG = "model_name.reaped"
REAPED_AT_TAG = "model_name.reaped_at"
REAPED_REASON_TAG = "model_name.reaped_reason"
REAPED_BY_TAG = "model_name.reaped_by"

PAGE_SIZE = 500
"""RUNNING runs read per `search_runs` call."""


@dataclasses.dataclass(frozen=True)
class ReapedRun:
    """A run the reaper ended (or, in a dry run, would end).

    Attributes:
        run_id: the run's id.
        run_name: the run's name.
        experiment_id: its experiment.
        reason: why it counts as dead, as recorded in `model_name.reaped_reason`.
        log_attached: whether the log its process left behind was attached to it.
    """

    run_id: str
    run_name: str
    experiment_id: str
    reason: str
    log_attached: bool = False


@dataclasses.dataclass
class ReapReport:
    """What one reap did.

    Attributes:
        reaped: the runs ended KILLED (or that would be, in a dry run).
        alive: RUNNING runs whose process is alive or whose heartbeat is fresh.
        unknown: RUNNING runs without a heartbeat tag, left alone.
        complete: False when the time limit stopped the reap before every run was seen.
    """

    reaped: list[ReapedRun] = dataclasses.field(default_factory=list)
    alive: int = 0
    unknown: int = 0
    complete: bool = True


def dead_reason(run: Run, grace_seconds: float, now: int, host: str) -> str | None:
    """Say why a RUNNING run is dead, or return None when it is alive or cannot be told.

    Args:
        run: the run, with its tags.
        grace_seconds: how old a heartbeat may be on another host.
        now: the time now, in milliseconds since the epoch.
        host: this machine's host name.
    """
    tags = run.data.tags
    try:
        heartbeat = int(tags[HEARTBEAT_TAG])
    except (KeyError, ValueError):
        return None
    if tags.get(HOST_TAG) == host:
        try:
            pid, started = int(tags[PID_TAG]), float(tags[PROCESS_STARTED_TAG])
        except (KeyError, ValueError):
            pass  # no usable process record: judge by the heartbeat alone
        else:
            if process_alive(pid, started):
                return None
            return f"process {pid} (started {_iso(started * 1000)}) is gone from {host}"
    age = (now - heartbeat) / 1000
    if age > grace_seconds:
        where = tags.get(HOST_TAG, "an unknown host")
        return f"no heartbeat for {age:.0f} s (grace {grace_seconds:g} s), last from {where}"
    return None


def reap_stale_runs(
    client: MlflowClient,
    experiment_ids: Iterable[str],
    grace_seconds: float,
    *,
    dry_run: bool = False,
    time_limit: float | None = None,
) -> ReapReport:
    """End, KILLED, every dead RUNNING run of the experiments; return what was done.

    Only RUNNING runs are read (`search_runs` filters them in the store), a page at a time, so a
    store with thousands of finished runs costs one query.

    Args:
        client: an MLflow client on the tracking store.
        experiment_ids: the experiments to look in.
        grace_seconds: how old a heartbeat may be before a run on another host counts as dead.
        dry_run: say what would be reaped, change nothing.
        time_limit: stop after this many seconds (`complete` is False then); None: no limit.
    """
    from mlflow.entities import RunTag, ViewType

    deadline = None if time_limit is None else time.monotonic() + time_limit
    report = ReapReport()
    host = socket.gethostname()
    reaper = f"{host} pid {os.getpid()}"
    # Read every page first: reaping changes the set the store pages through (by offset).
    running: list[Run] = []
    token: str | None = None
    ids = list(experiment_ids)
    while ids:
        page = client.search_runs(
            ids,
            filter_string="attributes.status = 'RUNNING'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=PAGE_SIZE,
            page_token=token,
        )
        running += page
        token = page.token
        if not token:
            break
        if deadline is not None and time.monotonic() > deadline:
            report.complete = False
            break
    now = now_ms()
    for run in running:
        if deadline is not None and time.monotonic() > deadline:
            report.complete = False
            break
        reason = dead_reason(run, grace_seconds, now, host)
        if reason is None:
            if HEARTBEAT_TAG in run.data.tags:
                report.alive += 1
            else:
                report.unknown += 1
            continue
        reaped = ReapedRun(run.info.run_id, run.info.run_name, run.info.experiment_id, reason)
        if not dry_run:
            tags = {
                REAPED_TAG: "true",
                REAPED_AT_TAG: _iso(now),
                REAPED_REASON_TAG: reason,
                REAPED_BY_TAG: reaper,
            }
            client.log_batch(reaped.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            last_sign = int(run.data.tags[HEARTBEAT_TAG])
            client.set_terminated(reaped.run_id, "KILLED", end_time=last_sign)
            reaped = dataclasses.replace(reaped, log_attached=_attach(client, reaped.run_id))
        report.reaped.append(reaped)
    return report


def _attach(client: MlflowClient, run_id: str) -> bool:
    """Attach the files a killed run left in `$TMPDIR`; never fail the reap for them."""
    try:
        return attach_stranded(client, run_id)
    except Exception as error:
        from loguru import logger

        logger.warning("MLflow: the log run {} left could not be attached: {}", run_id, error)
        return False


def _iso(milliseconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(milliseconds / 1000, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds")


def reap_and_say(
    client: MlflowClient, experiment_id: str, grace_seconds: float, time_limit: float
) -> ReapReport:
    """Reap one experiment within `time_limit` seconds, one WARNING log line per run reaped."""
    from loguru import logger

    report = reap_stale_runs(client, [experiment_id], grace_seconds, time_limit=time_limit)
    for reaped in report.reaped:
        logger.warning(
            "MLflow run {} ({}) ended KILLED: {}{}",
            reaped.run_name,
            reaped.run_id,
            reaped.reason,
            "; the log it left is attached as logs/run.log" if reaped.log_attached else "",
        )
    return report
