"""The `runs` commands: look after the tracked runs themselves, outside any job.

    model_name runs reap [--experiment NAME] [--grace SECONDS] [--dry-run]
                         [--config FILE]... [--set KEY=VALUE]...

`reap` ends, KILLED, the RUNNING runs whose process is dead (see
`model_name.io.services.reaper`). The tracking store and its credentials are the configuration's
(`mlflow.*`), as for `model_name run`. MLflow is imported only when a command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from model_name.errors import UsageError

if TYPE_CHECKING:
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
        help="how old a heartbeat may be (default: mlflow.reap_grace_seconds, or four heartbeats)",
    )
    reap.add_argument("--dry-run", action="store_true", help="say what would be reaped, only")
    reap.set_defaults(command=lambda args: reap_command(args, load_settings(args)))


def reap_command(args: argparse.Namespace, settings: MlflowSettings) -> int:
    """Reap the dead RUNNING runs of one experiment; print one line per run and a summary.

    Returns:
        0, also when there was nothing to reap.

    Raises:
        UsageError: the experiment does not exist, or the grace is not positive.
    """
    from model_name.io.services.reaper import reap_stale_runs

    if args.grace is not None and args.grace <= 0:
        raise UsageError(f"--grace must be a positive number of seconds, not {args.grace:g}")
    name = args.experiment or settings.experiment_name
    grace = args.grace if args.grace is not None else settings.grace_seconds()
    with _tracking(settings) as service:
        experiment = service.client().get_experiment_by_name(name)
        if experiment is None:
            raise UsageError(f"no experiment named {name!r} at {_safe_uri(settings.tracking_uri)}")
        report = reap_stale_runs(
            service.client(), [experiment.experiment_id], grace, dry_run=args.dry_run
        )
    verb = "would reap" if args.dry_run else "reaped"
    for run in report.reaped:
        print(f"{verb} run {run.run_id} ({run.run_name}): {run.reason}")
    print(
        f"{verb} {len(report.reaped)} run(s) in experiment {name!r}; "
        f"{report.alive} RUNNING run(s) alive, {report.unknown} without a heartbeat left alone"
    )
    return 0


def _tracking(settings: MlflowSettings) -> MlflowService:
    """Return an MLflow service on the configured store that reaps nothing by itself."""
    from model_name.io.services import MlflowService

    return MlflowService.model_validate(
        {**dict(settings), "reap_stale_runs": False, "autolog_disable": True}
    )


def _safe_uri(uri: str) -> str:
    """Return a URI with any password it embeds masked (`https://user:***@host`)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
