"""The command line's `run`: the job, chosen by name, injected by dependency-injector's wiring.

The command line wires this module to its container (`container.wire(modules=[entrypoint])`),
starts the container's services, calls `run_job`, and stops the services. A user's own entry
point (a notebook cell, an Airflow task) does the same in a few lines:

    from dependency_injector.wiring import Provide, inject

    from model_name.containers import create_container
    from model_name.jobs import TrainingJob

    @inject
    def nightly_training(job: TrainingJob = Provide["jobs.training"]) -> None:
        with job:
            job.run()

    container = create_container()
    container.wire(modules=[__name__])
    container.init_resources()
    try:
        nightly_training()
    finally:
        container.shutdown_resources()

Importing `dependency_injector.wiring` takes about a second where FastAPI is installed (it
imports it), so only `run` imports this module.
"""

from __future__ import annotations

from typing import Any

from dependency_injector.wiring import Provide, inject

from model_name.containers import Container
from model_name.jobs import Job, Locals


@inject
def run_job(kind: str, jobs: Any = Provide[Container.jobs.provider]) -> Locals:
    """Build the job named `kind` from the container's `jobs`, and run it in its context.

    Args:
        kind: the job's `KIND`, one of the container's jobs.
        jobs: the container's job factories, injected.

    Returns:
        What the job's `run` returned.
    """
    job: Job = jobs(kind)
    with job:
        outputs: Locals = job.run()
    return outputs
