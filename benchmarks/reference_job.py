"""The hand-written reference for `model_name run check`: the same MLflow calls, no framework.

Sets up loguru, sets the tracking URI and the experiment, opens a run, logs one metric point and
ends the run, the way a script written without `model_name` would.

Usage:
    python benchmarks/reference_job.py TRACKING_URI [EXPERIMENT_NAME]
"""

from __future__ import annotations

import sys

from loguru import logger

DEFAULT_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
    "<cyan>{name}</cyan>:<cyan>{function}</cyan>:<cyan>{line}</cyan> - <level>{message}</level>"
)


def main(argv: list[str]) -> int:
    """Open one run, log one metric point, end the run; return the exit code."""
    tracking_uri = argv[0]
    experiment_name = argv[1] if len(argv) > 1 else "model_name"

    logger.remove()
    logger.add(sys.stderr, level="INFO", format=DEFAULT_FORMAT)

    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment_name)
    with mlflow.start_run(run_name="check", tags={"model_name.job": "check"}) as run:
        logger.info("Check run {} open on {}", run.info.run_id, tracking_uri)
        mlflow.log_metric("heartbeat", 1.0, step=0)
        logger.info("Check done: 1 heartbeat(s) logged")
    logger.success("Job check succeeded")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
