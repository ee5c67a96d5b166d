"""`model_name run pipeline [NAME]`: validate the whole pipeline, then run or explain it.

The command line hands over its loaded configuration; this module checks every step's section
(exit 2, one line, before anything starts), builds the container, and either prints the plan
(`--dry-run`: each step, run or reuse, and why) or runs the steps in one container lifetime:
the services start once and stop once, and the pipeline sends one alert.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Mapping
from typing import Any

import pydantic as pdt

from model_name.configuration import Configuration
from model_name.console import PROG, say_error
from model_name.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    Terminated,
    UsageError,
    exit_code,
    one_line,
)
from model_name.pipelines.validation import Step, pipeline_named, validate_pipeline


def prepare(
    configuration: Configuration,
    name: str | None,
    force: Collection[str] = (),
    jobs: Mapping[str, type[pdt.BaseModel]] | None = None,
) -> tuple[str, list[Step], bool]:
    """Return the pipeline's name, its validated steps and whether each step alerts.

    Raises:
        ConfigurationError: a bad pipeline, job or override (exit 2).
        UsageError: `--force` names no step of the pipeline.
    """
    if jobs is None:
        from model_name.jobs import JOBS

        jobs = JOBS
    name, pipeline = pipeline_named(configuration, name)
    steps = validate_pipeline(configuration, name, pipeline, jobs)
    names = [step.name for step in steps]
    for forced in force:
        if forced not in names:
            raise UsageError(f"no step {forced!r} in pipeline {name} (steps: {', '.join(names)})")
    return name, steps, pipeline.alert_each_step


def run_pipeline_command(
    configuration: Configuration,
    name: str | None,
    *,
    dry_run: bool = False,
    force: Collection[str] = (),
    no_cache: bool = False,
    only: str | None = None,
) -> int:
    """Validate a pipeline, then print its plan or run it; return the exit code."""
    from model_name.containers import create_container
    from model_name.lifecycle import check_services

    name, steps, alert_each_step = prepare(configuration, name, [*force, *([only] if only else [])])
    container = create_container(configuration.settings)
    if dry_run:
        check_services(container)
        return print_plan(
            container, name, steps, configuration.settings, force=force, no_cache=no_cache
        )
    return run_pipeline(
        container, name, steps, configuration.settings, force=force, no_cache=no_cache,
        alert_each_step=alert_each_step, only=only,
    )  # fmt: skip


def print_plan(
    container: Any,
    name: str,
    steps: list[Step],
    settings: Any,
    *,
    force: Collection[str] = (),
    no_cache: bool = False,
) -> int:
    """Print each step and whether it would run or be reused, and why; start no service."""
    from model_name.pipelines.quick import close, store_as_is
    from model_name.pipelines.runner import PipelineRunner

    client, experiment_id = store_as_is(settings)
    runner = PipelineRunner(container, name, steps, settings, force=force, no_cache=no_cache)
    try:
        plan = runner.plan(client, experiment_id)
    finally:
        close(client)
    print(f"{PROG}: pipeline {name} valid; {len(steps)} steps:")
    for outcome in plan:
        print(f"  {outcome.line()}")
    return EXIT_OK


def run_pipeline(
    container: Any,
    name: str,
    steps: list[Step],
    settings: Any,
    *,
    force: Collection[str] = (),
    no_cache: bool = False,
    alert_each_step: bool = False,
    only: str | None = None,
) -> int:
    """Start the container's services once, run the steps, alert once, stop the services.

    Returns:
        0 when every step ran or was reused; 1 when a step failed; 130 / 143 when interrupted.
    """
    from model_name import signals
    from model_name.lifecycle import shutdown_services
    from model_name.pipelines.runner import PipelineRunner

    runner = PipelineRunner(
        container, name, steps, settings, force=force, no_cache=no_cache,
        alert_each_step=alert_each_step, only=only,
    )  # fmt: skip
    failure: BaseException | None = None
    started = False
    if not (force or no_cache or only):
        from model_name.pipelines.quick import reuse_everything

        reused = reuse_everything(container, name, steps, settings)
        if reused is not None:  # nothing to run: the tracking service need not start
            runner.outcomes = reused
            return _report_reused(container, name, reused)
    with signals.handling_signals() as received:
        try:
            container.init_resources()
            started = True
            runner.run()
        except (Exception, KeyboardInterrupt) as error:  # said below, after the wrap-up
            failure = error
        with signals.wrap_up():
            if started:
                _alert(container, name, runner.outcomes, failure)
            stop_errors = shutdown_services(container)
    for outcome in runner.outcomes:
        print(f"{PROG}: {outcome.line()}")
    code = EXIT_OK if failure is None else _code(failure)
    if failure is not None:
        at = next((o.step for o in runner.outcomes if o.status in ("failed", "interrupted")), None)
        where = f" at step {at}" if at else ("" if started else ": a service could not start")
        say_error(f"pipeline {name} {_verb(failure)}{where}: {one_line(failure)}")
    for stop_error in stop_errors:
        say_error(f"stopping a service failed: {one_line(stop_error)}")
        code = code or EXIT_FAILED
    if code == EXIT_OK and received:
        code = signals.exit_code(received[0])
    return code


def _report_reused(container: Any, name: str, outcomes: list[Any]) -> int:
    """Send the one alert of a pipeline whose every step was reused, and print the steps."""
    from model_name.lifecycle import shutdown_services

    try:
        _alert(container, name, outcomes, None)  # starts the logger and alerts services
    finally:
        stop_errors = shutdown_services(container)
    for outcome in outcomes:
        print(f"{PROG}: {outcome.line()}")
    for stop_error in stop_errors:
        say_error(f"stopping a service failed: {one_line(stop_error)}")
    return EXIT_FAILED if stop_errors else EXIT_OK


def _code(failure: BaseException) -> int:
    if isinstance(failure, Terminated):
        return EXIT_TERMINATED
    if isinstance(failure, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return exit_code(failure)


def _alert(container: Any, name: str, outcomes: list[Any], failure: BaseException | None) -> None:
    """Send the pipeline's one alert: its outcome and each step's."""
    verb = "succeeded" if failure is None else _verb(failure)
    body = "\n".join(outcome.line() for outcome in outcomes)
    if failure is not None:
        body += f"\n{one_line(failure)}"
    with contextlib.suppress(Exception):  # an alert never changes the pipeline's outcome
        container.alerts_service().notify(f"pipeline {name} {verb}", body)


def _verb(error: BaseException) -> str:
    if isinstance(error, Terminated):
        return "terminated (SIGTERM)"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (SIGINT)"
    return "failed"
