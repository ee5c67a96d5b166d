"""The command line: run a job, list the jobs, show the configuration.

    model_name run JOB [--config FILE]... [--set KEY=VALUE]... [--traceback] [--dry-run]
    model_name run pipeline [NAME] [--force STEP]... [--no-cache] [--dry-run] [...]
    model_name jobs
    model_name config show [JOB] [--config FILE]... [--set KEY=VALUE]... [--sources]
    model_name config schema
    model_name runs reap [--experiment NAME] [--grace SECONDS] [--dry-run]
    model_name pipeline export [NAME] --format argo|airflow [--image IMAGE]
    model_name data check FILE (--job JOB | --model NAME[:VERSION|@ALIAS]) [--report FILE]

Exit codes: 0 success; 1 the job failed; 2 bad command line or configuration; 130 interrupted
(SIGINT); 143 terminated (SIGTERM).

This is the only module that builds a container. It imports the heavy parts (the container, hence
dependency-injector and the services' libraries) only for `run`, so that `--help`, `jobs` and
`config show` answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from model_name.console import PROG, say_error
from model_name.data import add_data_commands
from model_name.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    ModelNameError,
    UsageError,
    exit_code,
    one_line,
)
from model_name.pipelines.export import add_pipeline_commands
from model_name.runs import add_runs_commands

if TYPE_CHECKING:
    from dependency_injector.containers import Container

    from model_name.configuration import Configuration


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    Args:
        argv: the arguments after the program name; `None` means `sys.argv[1:]`.

    Example:
        code = main(["run", "training", "--set", "alerts.enable=false"])  # 0 once it succeeded
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed its usage message
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    command: Callable[[argparse.Namespace], int] = args.command
    from model_name.redaction import masked_output

    try:
        with masked_output():  # libraries print URLs (credentials included) straight to stdout
            return command(args)
    except ModelNameError as error:
        say_error(str(error))
        return exit_code(error)
    except KeyboardInterrupt:  # Ctrl-C before the job's services started (imports, validation)
        say_error("interrupted (SIGINT) before the job started; nothing was created")
        return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command line (cheap: it imports nothing heavy)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run the jobs of a machine learning project with logging, alerts and MLflow.",
        epilog="Exit codes: 0 success, 1 job failed, 2 bad command line or configuration, "
        "130 interrupted (SIGINT), 143 terminated (SIGTERM).",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show the version and exit", nargs=0
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    layers = argparse.ArgumentParser(add_help=False)
    layers.add_argument(
        "--config",
        metavar="FILE",
        action="append",
        type=Path,
        help="a YAML configuration file; repeat to layer several, later ones winning "
        "(default: ./containers.yaml when there is one)",
    )
    layers.add_argument(
        "--set",
        metavar="KEY=VALUE",
        dest="overrides",
        action="append",
        default=[],
        help="set one value, above files and environment: --set logger.level=DEBUG",
    )

    run = commands.add_parser(
        "run", parents=[layers], help="run a job", description="Run a job in its services."
    )
    run.add_argument(
        "job", metavar="JOB", help="the job to run (see `model_name jobs`), or `pipeline`"
    )
    run.add_argument("name", metavar="NAME", nargs="?", help="`run pipeline NAME`: the pipeline")
    run.add_argument(
        "--traceback",
        dest="overrides",
        action="append_const",
        const="logger.traceback=true",
        help="print a failure's whole traceback on the terminal (as --set logger.traceback=true; "
        "level DEBUG prints it too); it is always in the run's logs/run.log",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the configuration and stop before starting any service "
        "(a pipeline: also say which steps would run or be reused, and why)",
    )
    run.add_argument(
        "--force", metavar="STEP", action="append", default=[],
        help="a pipeline: run this step whatever its fingerprint (repeatable)",
    )  # fmt: skip
    run.add_argument("--no-cache", action="store_true", help="a pipeline: run every step")
    run.add_argument(
        "--only", metavar="STEP", help="a pipeline: run this step, the ones before it reused"
    )
    run.set_defaults(command=run_command)

    jobs = commands.add_parser("jobs", help="list the jobs", description="List the jobs.")
    jobs.set_defaults(command=jobs_command)

    config = commands.add_parser("config", help="inspect the configuration")
    config_commands = config.add_subparsers(title="commands", required=True, metavar="COMMAND")
    show = config_commands.add_parser(
        "show",
        parents=[layers],
        help="print the resolved configuration",
        description="Print the resolved, validated configuration, secrets masked.",
    )
    show.add_argument("job", metavar="JOB", nargs="?", help="show only this job's section")
    show.add_argument("--sources", action="store_true", help="say where each value came from")
    show.set_defaults(command=config_show_command)
    schema = config_commands.add_parser(
        "schema",
        help="print the configuration's JSON Schema",
        description="Print the JSON Schema of the whole configuration (services and every job), "
        "for editors: `# yaml-language-server: $schema=containers.schema.json` in containers.yaml.",
    )
    schema.set_defaults(command=config_schema_command)
    add_runs_commands(commands, layers, lambda args: _load_configuration(args).settings.mlflow)
    add_pipeline_commands(commands, layers, _load_configuration)
    add_data_commands(commands, layers, _load_configuration)
    return parser


def jobs_command(args: argparse.Namespace) -> int:
    """Print each job with the first line of its docstring."""
    from model_name.jobs import JOBS

    width = max(len(kind) for kind in JOBS)
    for kind, job_type in JOBS.items():
        summary = (job_type.__doc__ or "").strip().splitlines()
        print(f"{kind:<{width}}  {summary[0] if summary else ''}")
    return EXIT_OK


def config_show_command(args: argparse.Namespace) -> int:
    """Print the resolved configuration as YAML, secrets masked, and each value's source."""
    configuration = _load_configuration(args)
    data: dict[str, Any] = configuration.settings.model_dump(mode="json")
    if args.job is not None:
        _check_job(args.job)
        data["jobs"] = {args.job: data["jobs"][args.job]}
    for line in _render(data, configuration if args.sources else None):
        print(line)
    return EXIT_OK


def config_schema_command(args: argparse.Namespace) -> int:
    """Print the JSON Schema of the whole configuration."""
    import json

    from model_name.configuration import settings_schema

    print(json.dumps(settings_schema(), indent=2, ensure_ascii=False))
    return EXIT_OK


def run_command(args: argparse.Namespace) -> int:
    """Validate the configuration, start the services, run the job and stop everything."""
    if args.job == "pipeline":
        from model_name.pipelines.command import run_pipeline_command

        return run_pipeline_command(
            _load_configuration(args), args.name, dry_run=args.dry_run, force=args.force,
            no_cache=args.no_cache, only=args.only,
        )  # fmt: skip
    if args.name is not None or args.force or args.no_cache or args.only:
        raise UsageError("NAME, --force, --no-cache and --only go with `run pipeline` only")
    job_type = _check_job(args.job)
    configuration = _load_configuration(args)
    _check_inputs(configuration, args.job, job_type)  # a missing file: exit 2, no run opened
    if args.dry_run:
        _check_services(configuration)
        print(f"{PROG}: configuration valid; would run job {args.job} ({job_type.__name__})")
        return EXIT_OK

    from model_name import containers

    return run_in_container(containers.create_container(configuration.settings), args.job)


def run_in_container(container: Container, job_name: str) -> int:
    """Start a container's services, run one of its jobs, stop every service; return the exit code.

    `run_command` calls it with the container it builds from the configuration; a test can call
    it with a container whose services it swapped, and see exactly what the command line does:
    the exit code and the one-line messages on stderr. The job is injected into
    `model_name.entrypoint.run_job` by dependency-injector's wiring.

    Args:
        container: the container, its services not started.
        job_name: the job to run, one of `container.jobs`.
    """
    from model_name import entrypoint, signals
    from model_name.lifecycle import shutdown_services

    code = EXIT_OK
    errors: list[Exception] = []
    tracking = None
    starting = True
    said = ""
    container.wire(modules=[entrypoint])
    # signals: the first SIGINT/SIGTERM unwinds, later ones never cut the wrap-up short
    with signals.handling_signals() as received:
        try:
            try:
                container.init_resources()
                starting = False
                tracking = container.mlflow_service()  # to say where the job's run is, after
                entrypoint.run_job(job_name)
            finally:
                with signals.wrap_up():
                    errors = shutdown_services(container)
        except KeyboardInterrupt as signalled:  # Terminated (SIGTERM) too
            code = exit_code(signalled)
            say_error(_stopped_by_signal(job_name, code))
        except UsageError as failure:  # a service's check refused its configuration
            code = exit_code(failure)
            say_error(str(failure))
        except Exception as failure:
            said = _describe(failure, container)
            if received:
                # the signal was raised inside a library that turned it into an error of its
                # own (SQLAlchemy's PendingRollbackError): the job stopped because it was asked
                code = signals.exit_code(received[0])
                say_error(f"{_stopped_by_signal(job_name, code)}, then {said}")
            else:
                code = exit_code(failure)
                stage = "a service could not start: " if starting else ""
                say_error(f"job {job_name} failed: {stage}{said}")
        finally:
            container.unwire()
    for error in errors:
        described = _describe(error, container)
        if described != said:  # a stop failing for the job's own reason (a full disk): said once
            say_error(f"stopping a service failed: {described}")
    if errors and code == EXIT_OK:
        code = EXIT_FAILED
    if code == EXIT_OK and received:  # a signal came during a successful job's wrap-up
        code = signals.exit_code(received[0])
    _say_where_the_run_is(tracking)
    return code


def _stopped_by_signal(job_name: str, code: int) -> str:
    """Say that a job stopped on a signal, named by the exit code it gives (130 or 143)."""
    how = "terminated (SIGTERM)" if code == EXIT_TERMINATED else "interrupted (SIGINT)"
    return f"job {job_name} {how}"


def _say_where_the_run_is(service: Any) -> None:
    """End with one line: the job's run, its status, and how to look at it (URL or `mlflow ui`)."""
    from model_name.jobs.messages import where_to_look
    from model_name.redaction import mask_secrets_in_text, mask_url

    run = getattr(service, "last_run", None)  # a fresh process: the last run is this job's
    if service is None or run is None:
        return
    look = where_to_look(mask_url(service.tracking_uri), run.experiment_id, run.run_id)
    line = f"{PROG}: run {run.run_id} {run.status}: {look}"
    print(mask_secrets_in_text(line), file=sys.stderr)


def _load_configuration(args: argparse.Namespace) -> Configuration:
    import warnings

    from model_name.configuration import load_configuration
    from model_name.redaction import remember_secrets, secrets_in
    from model_name.renamed_keys import DeprecatedKeyWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecatedKeyWarning)
        configuration = load_configuration(config_files=args.config, overrides=args.overrides)
    for warning in caught:  # an old key: one line, as the error lines are; others as Python does
        if issubclass(warning.category, DeprecatedKeyWarning):
            print(f"{PROG}: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    # every error line and log line from now on masks them, whatever quotes them
    remember_secrets(secrets_in(configuration.settings))
    return configuration


def _check_inputs(configuration: Configuration, kind: str, job_type: Any) -> None:
    """Check the tables the job reads (file, format, columns) before anything starts."""
    from model_name.io.inputs import check_inputs

    params = configuration.settings.jobs[kind]
    check_inputs(job_type, params, f"jobs.{kind}", configuration.origin)


def _check_services(configuration: Configuration) -> None:
    """Run each service's `check()` (what needs its library: Apprise parses the channel URLs)."""
    from model_name.containers import create_container
    from model_name.lifecycle import check_services

    check_services(create_container(configuration.settings))


def _check_job(kind: str) -> Any:
    import difflib

    from model_name.jobs import JOBS

    if kind in JOBS:
        return JOBS[kind]
    nearest = difflib.get_close_matches(kind, JOBS, n=1)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
    raise UsageError(f"unknown job {kind!r}{hint} (jobs: {', '.join(JOBS)})")


def _render(data: dict[str, Any], sources: Configuration | None, path: str = "") -> list[str]:
    import yaml

    from model_name.redaction import mask_url

    lines: list[str] = []
    indent = "  " * path.count(".") + ("  " if path else "")
    for key, value in data.items():
        dotted = f"{path}.{key}" if path else key
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:")
            lines += _render(value, sources, dotted)
            continue
        shown = mask_url(value) if isinstance(value, str) else value  # a URI's password
        text = yaml.safe_dump(shown, default_flow_style=True, width=2**31, allow_unicode=True)
        line = f"{indent}{key}: {text.removesuffix(chr(10)).removesuffix('...').strip()}"
        lines.append(f"{line}  # {sources.origin(dotted)}" if sources else line)
    return lines


class _VersionAction(argparse.Action):
    """Print the version, looked up only when asked: the lookup scans every installed package."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"{PROG} {_version()}")
        parser.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROG)
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _describe(failure: BaseException, container: Container) -> str:
    """Say what made a job fail in one line: a full disk as such, anything else by `one_line`."""
    from model_name.tracking.stores import store_full

    try:
        tracking_uri = container.config.mlflow.tracking_uri()  # type: ignore[attr-defined]
    except Exception:  # a container without that setting (a test's): no store to name
        tracking_uri = None
    return one_line(store_full(failure, tracking_uri) or failure)


def main_entry() -> None:
    """The console script: exit with `main`'s code.

    A reader that closes the pipe early (`model_name config schema | head`) ends the command
    quietly, as other Unix tools do, instead of with a traceback.
    """
    try:
        code = main()
        sys.stdout.flush()
        # The job is over and its code is known: a signal during the interpreter's teardown (when
        # Python puts the default handlers back) would kill the process with -2 or -15 instead.
        import signal

        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        code = EXIT_FAILED
    sys.exit(code)
