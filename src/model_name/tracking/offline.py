"""Offline tracking: where runs go when there is no server, and how they reach one later.

`mlflow.mode: offline` (or `auto` with a server that does not answer at start) tracks into a
SQLite store and an artifact folder under `mlflow.offline_dir`. `upload_runs` copies that store's
ended runs to a tracking server: params, every metric point (its step and time kept), tags,
status, start and end times, and artifacts. Each uploaded run is tagged
`model_name.source_run_id` (the offline run's id) and, once whole, `model_name.synced`; a run
already whole on the server is skipped, a partial one (the upload was cut) is completed, so
uploading twice copies nothing twice. The run's logged models, and the versions it registered
offline, are copied too (`model_name.tracking.offline_models`).

Why not `mlflow-export-import`: it is not in the lock (and pyproject must not change here); it
exports to a folder then imports from it (two steps, twice the disk); its imports create new
runs every time (nothing matches a run already imported), and it does not keep the runs' times
(its issue #238). The copy below is a few MLflow client calls a run.
"""

from __future__ import annotations

import dataclasses
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from model_name.tracking.batches import METRICS_PER_BATCH, PARAMS_PER_BATCH, iter_chunks
from model_name.tracking.offline_models import copy_models

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

SOURCE_TAG = "model_name.source_run_id"
SYNCED_TAG = "model_name.synced"
PROBE_SECONDS = 3.0
"""How long `auto` mode waits for the server's `/health` at start."""


def offline_uri(offline_dir: str) -> str:
    """Return the `sqlite:///` URI of the offline store in `offline_dir`."""
    return f"sqlite:///{(Path(offline_dir) / 'mlflow.db').resolve()}"


def offline_artifacts(offline_dir: str) -> str:
    """Return the URI of the offline artifact folder (for the experiments made offline)."""
    return (Path(offline_dir) / "artifacts").resolve().as_uri()


def server_answers(tracking_uri: str) -> bool:
    """Say whether an `http(s)://` tracking server answers `/health` now; other stores do."""
    if not tracking_uri.startswith(("http://", "https://")):
        return True
    try:
        url = f"{tracking_uri.rstrip('/')}/health"
        with urllib.request.urlopen(url, timeout=PROBE_SECONDS) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclasses.dataclass
class UploadReport:
    """What `upload_runs` did.

    Attributes:
        uploaded: runs copied (or completed) now.
        skipped: runs already whole on the target.
        running: offline runs not ended yet, left for a later sync.
        registered: model versions registered on the target now.
    """

    uploaded: int = 0
    registered: int = 0
    skipped: int = 0
    running: int = 0


def upload_runs(
    source: MlflowClient, target: MlflowClient, progress: Callable[[str], None]
) -> UploadReport:
    """Copy every ended run of the source store to the target, once.

    Args:
        source: a client on the offline store.
        target: a client on the tracking server.
        progress: called with one line per run copied.
    """
    from mlflow.entities import ViewType

    report = UploadReport()
    for experiment in source.search_experiments():
        runs = source.search_runs(
            [experiment.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=50_000
        )
        target_experiment = target.get_experiment_by_name(experiment.name)
        experiment_id = (
            target_experiment.experiment_id
            if target_experiment is not None
            else target.create_experiment(experiment.name)
        )
        for index, run in enumerate(sorted(runs, key=lambda run: run.info.start_time or 0)):
            if run.info.status == "RUNNING":
                report.running += 1
                continue
            found = target.search_runs(
                [experiment_id], filter_string=f"tags.`{SOURCE_TAG}` = '{run.info.run_id}'"
            )
            if found and found[0].data.tags.get(SYNCED_TAG) == "true":
                report.skipped += 1
                continue
            report.registered += copy_run(
                source, target, run, experiment_id, found[0].info.run_id if found else None
            )
            report.uploaded += 1
            progress(
                f"uploaded run {run.info.run_name} ({run.info.run_id}) of experiment "
                f"{experiment.name!r}, {index + 1}/{len(runs)}"
            )
    return report


def copy_run(
    source: MlflowClient, target: MlflowClient, run: Run, experiment_id: str, into: str | None
) -> int:
    """Copy one run (into an earlier, partial copy when given); return the versions registered."""
    from mlflow.entities import Metric, Param, RunTag

    tags = {**run.data.tags, SOURCE_TAG: run.info.run_id}
    tags.pop(SYNCED_TAG, None)
    if into is None:
        created = target.create_run(
            experiment_id, start_time=run.info.start_time, tags=tags, run_name=run.info.run_name
        )
        into = created.info.run_id
    params = [Param(key, value) for key, value in run.data.params.items()]
    for chunk in iter_chunks(params, PARAMS_PER_BATCH):
        target.log_batch(into, params=chunk)
    for key in run.data.metrics:
        history = source.get_metric_history(run.info.run_id, key)
        points = [Metric(key, p.value, p.timestamp, p.step) for p in history]
        for chunk in iter_chunks(points, METRICS_PER_BATCH):
            target.log_batch(into, metrics=chunk)
    with tempfile.TemporaryDirectory(prefix="model_name-sync-") as folder:
        if source.list_artifacts(run.info.run_id):
            local = source.download_artifacts(run.info.run_id, "", folder)
            target.log_artifacts(into, local)
    run_tags = [RunTag(key, value) for key, value in tags.items()]
    for chunk in iter_chunks(run_tags, PARAMS_PER_BATCH):
        target.log_batch(into, tags=chunk)
    registered = copy_models(source, target, run, experiment_id, into)
    target.set_terminated(into, run.info.status, end_time=run.info.end_time)
    target.set_tag(into, SYNCED_TAG, "true")  # last: a cut upload is completed next time
    return registered


def tracks_offline(mode: str, tracking_uri: str) -> bool:
    """Say whether a service in `mode` tracks offline: `offline`, or `auto` with a silent server."""
    return mode == "offline" or (mode == "auto" and not server_answers(tracking_uri))
