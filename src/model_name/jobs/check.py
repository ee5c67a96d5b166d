"""A diagnostics job: prove the services work end to end before trusting them with a long run."""

from __future__ import annotations

import time

import pydantic as pdt

from model_name.jobs.base import Job, Locals


class CheckJob(Job):
    """Check the services: log, open an MLflow run, log a metric and alert, without training.

    Run it after changing the configuration, or on a new machine, to see the log sink, the tracking
    store and the notifications at work in a second. `fail` and `hold_seconds` rehearse the bad
    days: a failing job (its alert, its FAILED run) and a long one to interrupt (its KILLED run).

    Attributes:
        hold_seconds: how long to keep the run open, logging a heartbeat metric each `beat_seconds`.
        beat_seconds: the time between two heartbeat metric points while the run is held open.
        fail: raise an error inside the run, to rehearse a failure.
    """

    KIND = "check"
    HEADLINE_METRICS = ("heartbeat",)

    hold_seconds: float = pdt.Field(default=0.0, ge=0.0, le=86_400.0)
    beat_seconds: float = pdt.Field(default=1.0, ge=0.01, le=3600.0)
    fail: bool = False

    def run(self) -> Locals:
        """Open a run, log a heartbeat, optionally hold it open or fail, and return locals()."""
        logger = self.logger_service.logger()
        with self.mlflow_service.run_context(self.run_config()) as run:
            logger.info(
                "Check run {} open on {}", run.info.run_id, self.mlflow_service.tracking_uri
            )
            started = time.monotonic()
            beats = 0
            while True:
                self.mlflow_service.log_metrics({"heartbeat": 1.0}, step=beats)
                beats += 1
                remaining = self.hold_seconds - (time.monotonic() - started)
                if remaining <= 0:
                    break
                time.sleep(min(self.beat_seconds, remaining))
            if self.fail:
                raise RuntimeError("check job asked to fail (jobs.check.fail=true)")
            logger.info("Check done: {} heartbeat(s) logged", beats)
        return locals()
