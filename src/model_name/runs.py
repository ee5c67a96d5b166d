"""The `runs` commands: look after the tracked runs themselves, outside any job.

    model_name runs reap [--experiment NAME] [--grace SECONDS] [--dry-run]
                         [--config FILE]... [--set KEY=VALUE]...
    model_name runs sync [--to URI] [--timeout SECONDS] [--config FILE]... [--set KEY=VALUE]...

`reap` ends, KILLED, the RUNNING runs whose process is dead (see
`model_name.tracking.reaper`). `sync` sends what jobs left in the outbox
(`mlflow.outbox_dir`) for the configured store, once their processes are gone, then uploads
the runs tracked offline (`mlflow.offline_dir`) to the server (`--to`, or `mlflow.tracking_uri`).
The tracking store and its credentials are the configuration's (`mlflow.*`), as for
`model_name run`.
MLflow is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from model_name.errors import EXIT_FAILED, EXIT_OK, ModelNameError, ServiceError, UsageError
from model_name.redaction import mask_url

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from model_name.io.services import MlflowService
    from model_name.settings import MlflowSettings


def add_runs_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    layers: argparse.ArgumentParser,
    load_settings: Callable[[argparse.Namespace], MlflowSettings],
) -> None:
    """Add `runs` and its subcommands to the command line's parser.

    Args:
        commands: the top-level subparsers.
        layers: the parent parser with `--config` and `--set`.
        load_settings: returns the validated `mlflow` section from the parsed arguments.
    """
    runs = commands.add_parser("runs", help="look after tracked runs (reap dead ones)")
    runs_commands = runs.add_subparsers(title="commands", required=True, metavar="COMMAND")
    reap = runs_commands.add_parser(
        "reap",
        parents=[layers],
        help="end, KILLED, the RUNNING runs whose process is dead",
        description="End, KILLED, every RUNNING run whose process is gone from this host, or "
        "whose heartbeat is older than the grace period; tag each with when and why.",
    )
    reap.add_argument(
        "--experiment", metavar="NAME", help="the experiment (default: mlflow.experiment_name)"
    )
    reap.add_argument(
        "--grace",
        metavar="SECONDS",
        type=float,
        help="how old a heartbeat may be "
        "(default: mlflow.grace_period_seconds, or four heartbeats)",
    )
    reap.add_argument("--dry-run", action="store_true", help="say what would be reaped, only")
    reap.set_defaults(command=lambda args: _guarded(reap_command, args, load_settings(args)))

    sync = runs_commands.add_parser(
        "sync",
        parents=[layers],
        help="send what finished jobs left unsent in the outbox",
        description="Send to the tracking store what jobs that have ended left in the outbox "
        "(metric points, params, tags, artifacts, end statuses), in the order it was logged.",
    )
    sync.add_argument(
        "--to",
        metavar="URI",
        help="the tracking server to upload offline runs to (default: mlflow.tracking_uri)",
    )
    sync.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=600.0,
        help="give up after this long; what is left stays for the next sync (default: 600)",
    )
    sync.set_defaults(command=lambda args: _guarded(sync_command, args, load_settings(args)))


def _guarded(
    command: Callable[[argparse.Namespace, MlflowSettings], int],
    args: argparse.Namespace,
    settings: MlflowSettings,
) -> int:
    """Run a `runs` command; a tracking error becomes a `ServiceError` (exit code 1).

    The command line's one error path prints it: one line, secrets masked.
    """
    try:
        return command(args, settings)
    except ModelNameError:
        raise
    except Exception as error:
        message = " ".join(str(error).split())
        raise ServiceError(f"{type(error).__name__}: {message}") from error


def reap_command(args: argparse.Namespace, settings: MlflowSettings) -> int:
    """Reap the dead RUNNING runs of one experiment; print one line per run and a summary.

    Returns:
        `EXIT_OK`, also when there was nothing to reap.

    Raises:
        UsageError: the experiment does not exist, or the grace is not positive.
    """
    from model_name.tracking.reaper import reap_stale_runs

    if args.grace is not None and args.grace <= 0:
        raise UsageError(f"--grace must be a positive number of seconds, not {args.grace:g}")
    name = args.experiment or settings.experiment_name
    grace = args.grace if args.grace is not None else settings.grace_seconds()
    with tracking_service(settings) as service:
        experiment = service.client().get_experiment_by_name(name)
        if experiment is None:
            raise UsageError(f"no experiment named {name!r} at {mask_url(settings.tracking_uri)}")
        report = reap_stale_runs(
            service.client(), [experiment.experiment_id], grace, dry_run=args.dry_run
        )
    verb = "would reap" if args.dry_run else "reaped"
    for run in report.reaped:
        attached = "; the log it left is attached as logs/run.log" if run.log_attached else ""
        print(f"{verb} run {run.run_id} ({run.run_name}): {run.reason}{attached}")
    print(
        f"{verb} {len(report.reaped)} run(s) in experiment {name!r}; "
        f"{report.alive} RUNNING run(s) alive, {report.unknown} without a heartbeat left alone"
    )
    return EXIT_OK


def sync_command(args: argparse.Namespace, settings: MlflowSettings) -> int:
    """Send what ended jobs left in the outbox for the configured store; print a summary.

    Returns:
        `EXIT_OK` when nothing is left to send, `EXIT_FAILED` when the store did not take
        everything in time.
    """
    import time
    from pathlib import Path

    from model_name.io.progress import Progress
    from model_name.tracking.delivery import Delivery

    if args.to:
        settings = settings.model_copy(update={"tracking_uri": args.to, "registry_uri": None})
    uri = mask_url(settings.tracking_uri)
    with tracking_service(settings) as service:
        delivery = Delivery(Path(settings.outbox_dir), settings.tracking_uri, service.client())
        delivery.start()
        owed = delivery.unsent()
        total = sum(owed.values())
        deadline = time.monotonic() + args.timeout
        # a bar on a terminal (standard output), else one line every 5 s
        progress = Progress(total, "item", _say, stream=sys.stdout, description="sent")
        try:
            while not delivery.sender.drain(min(5.0, max(0.0, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    break
                progress.reach(
                    delivery.sender.sent,
                    f"sent {delivery.sender.sent} of {total} item(s) to {uri}...",
                )
        finally:
            progress.reach(delivery.sender.sent)
            progress.close()
            left = delivery.close()
        summary = f"sent {delivery.sender.sent} item(s) of {len(owed)} run(s) to {uri}"
        if left:
            print(
                f"{summary}; {sum(left.values())} item(s) of {len(left)} run(s) left in "
                f"{delivery.outbox.path}: the store did not take them in {args.timeout:g} s, "
                "sync again"
            )
            return EXIT_FAILED
        print(f"{summary}; nothing left to send", flush=True)
        _upload_offline_runs(settings, service.client(), uri)
    return EXIT_OK


def _say(line: str) -> None:
    print(line, flush=True)


def _upload_offline_runs(settings: MlflowSettings, target: MlflowClient, uri: str) -> None:
    """Upload the ended runs of the offline store, if there is one; print progress and a summary."""
    from pathlib import Path

    from mlflow import MlflowClient

    from model_name.io.progress import Progress
    from model_name.tracking.offline import offline_uri, upload_runs

    if not (Path(settings.offline_dir) / "mlflow.db").exists():
        return
    store = offline_uri(settings.offline_dir)
    source = MlflowClient(tracking_uri=store, registry_uri=store)  # not the process's registry
    with Progress(None, "run", _say, stream=sys.stdout, description="uploaded") as progress:
        report = upload_runs(source, target, progress.advance)
    print(
        f"uploaded {report.uploaded} offline run(s) to {uri}; {report.skipped} already there, "
        f"{report.running} still running offline; {report.registered} model version(s) registered"
    )


def tracking_service(settings: MlflowSettings) -> MlflowService:
    """Return an MLflow service on the configured store that reaps nothing by itself."""
    from model_name.io.services import MlflowService

    return MlflowService.model_validate(
        {
            **dict(settings),
            "reaping": False,
            "autolog": {"disable": True},
            "outbox": False,
            "mode": "online",
        }
    )
