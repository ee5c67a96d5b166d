"""Run a pipeline in one container lifetime: services once, a parent run, one nested run a step.

`PipelineRunner.run()` starts nothing itself: the caller has started the container's services
(`init_resources()`) and stops them after. Inside one parent MLflow run (tagged
`model_name.pipeline.role=pipeline`), each step comes up in order; its fingerprint is computed
then (so a step after a promotion sees the new alias), and it is either reused (a tag on the
parent points at the reused run, whose outputs are read back) or run: a nested step run,
tagged with its fingerprint, holds the job's own run, and gets the job's outputs as tags once the
job succeeded. A step that fails or is interrupted ends its step run FAILED or KILLED and stops
the pipeline; run again, the steps before it are reused and it runs again: resuming needs no flag.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection, Mapping
from typing import Any

from model_name.pipelines import fingerprint as fp
from model_name.pipelines import outputs as step_outputs
from model_name.pipelines import reuse
from model_name.pipelines.validation import Step


@dataclasses.dataclass
class StepOutcome:
    """What happened to a step: `ran`, `reused`, `failed`, `interrupted` or `not reached`."""

    step: str
    status: str = "not reached"
    run_id: str = ""
    why: str = ""
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)

    def line(self) -> str:
        """Return the step's line in the summary and the alert."""
        run = f" (run {self.run_id})" if self.run_id else ""
        why = f": {self.why}" if self.why else ""
        return f"{self.step}: {self.status}{run}{why}"


class PipelineRunner:
    """Runs, or explains, a validated pipeline's steps with a container's services.

    Args:
        container: the container; its services started by the caller (not for `plan`).
        name: the pipeline's name.
        steps: its validated steps.
        settings: the whole settings (service settings that enter the fingerprints).
        force: step names to run whatever their fingerprint says.
        no_cache: run every step.
        only: run this step alone: the steps before it must be reusable (an orchestrator ran
            them), the steps after it are left to their own commands.
        alert_each_step: let each step's job send its own alerts.
    """

    def __init__(
        self,
        container: Any,
        name: str,
        steps: list[Step],
        settings: Any,
        *,
        force: Collection[str] = (),
        no_cache: bool = False,
        alert_each_step: bool = False,
        only: str | None = None,
    ) -> None:
        self.container = container
        self.only = only
        self.name = name
        self.steps = steps
        self.settings = settings
        self.force = set(force)
        self.no_cache = no_cache
        self.alert_each_step = alert_each_step
        names = [step.name for step in steps]
        self.outcomes = [StepOutcome(step.name) for step in steps[: _end(names, only)]]
        self._code_cache: dict[str, Any] = {}

    def parts(self, step: Step, upstream: list[dict[str, Any]], client: Any) -> dict[str, str]:
        """Return the digests of a step's fingerprint parts (`model_name.pipelines.fingerprint`)."""
        from model_name.jobs import JOBS

        registry_name = self.settings.mlflow.registry_name
        module = JOBS[step.kind].__module__ if step.kind in JOBS else self._module_of(step.kind)
        return {
            "job": fp.digest(step.kind),
            "config": fp.digest(fp.config_part(step.params, self.settings)),
            "code": fp.code_part(module, self._code_cache),
            "inputs": fp.digest(fp.input_files(step.params)),
            "state": fp.digest(step_outputs.state(step.kind, step.params, client, registry_name)),
            "upstream": fp.digest(upstream),
        }

    def _module_of(self, kind: str) -> str:
        job_type = self.container.jobs.providers[kind].args[0]  # build_job(job_type, ...)
        return str(job_type.__module__)

    def _forced(self, step: Step) -> str | None:
        if self.only is not None and step.name != self.only:
            return None  # a step before --only STEP is only ever reused
        if self.no_cache:
            return "--no-cache"
        if step.name in self.force:
            return f"--force {step.name}"
        return None

    def plan(self, client: Any, experiment_id: str | None) -> list[StepOutcome]:
        """Say what a run would do now, without running anything (`--dry-run`).

        A step after one that would run is said to run too: its upstream's outputs will change.
        """
        upstream: list[dict[str, Any]] = []
        rerun_before: str | None = None
        plan = []
        for declared in self.steps:
            step = declared.with_upstream(_outputs_by_step(upstream))
            parts = self.parts(step, upstream, client)
            fingerprint = fp.step_fingerprint(parts)
            forced = self._forced(step)
            if forced is None and experiment_id is None:
                forced = "no tracking store or experiment yet"
            if forced is None and rerun_before is not None:
                forced = f"{rerun_before} runs before it"
            verdict = self._decide(
                client, experiment_id=experiment_id, step=step, fingerprint=fingerprint,
                parts=parts, forced=forced,
            )  # fmt: skip
            status = "would reuse" if verdict.reuse else "would run"
            plan.append(StepOutcome(step.name, status, verdict.reuse or "", verdict.why))
            if verdict.reuse is None:
                rerun_before = rerun_before or step.name
            upstream.append(_upstream_entry(step, fingerprint, verdict.outputs))
        return plan

    def _decide(
        self,
        client: Any,
        *,
        experiment_id: str | None,
        step: Step,
        fingerprint: str,
        parts: Mapping[str, str],
        forced: str | None,
    ) -> reuse.Verdict:
        return reuse.decide(
            client,
            experiment_id or "",
            pipeline=self.name,
            step=step,
            fingerprint=fingerprint,
            parts=parts,
            registry_name=self.settings.mlflow.registry_name,
            forced=forced,
        )

    def run(self) -> list[StepOutcome]:
        """Run the pipeline inside one parent MLflow run; return each step's outcome.

        Raises:
            BaseException: what the failed or interrupted step raised, after the parent run
                recorded every step's outcome.
        """
        from model_name.io.services import RunConfig

        mlflow_service = self.container.mlflow_service()
        client = mlflow_service.client()
        tags = {reuse.NAME_TAG: self.name, reuse.ROLE_TAG: "pipeline"}
        config = RunConfig(
            name=f"pipeline {self.name}",
            description=f"Pipeline {self.name}: {', '.join(s.name for s in self.steps)}.",
            tags=tags,
            config=self.settings.model_dump(mode="json"),
        )
        with mlflow_service.run_context(config) as parent:
            experiment_id = parent.info.experiment_id
            try:
                self._run_steps(mlflow_service, client, experiment_id)
            finally:
                _record(client, parent.info.run_id, self.outcomes, self._log)
        return self.outcomes

    def _run_steps(self, mlflow_service: Any, client: Any, experiment_id: str) -> None:
        from model_name.io.services import RunConfig

        upstream: list[dict[str, Any]] = []
        for declared, outcome in zip(self.steps[: len(self.outcomes)], self.outcomes, strict=True):
            step = declared.with_upstream(_outputs_by_step(upstream))
            parts = self.parts(step, upstream, client)
            fingerprint = fp.step_fingerprint(parts)
            verdict = self._decide(
                client, experiment_id=experiment_id, step=step, fingerprint=fingerprint,
                parts=parts, forced=self._forced(step),
            )  # fmt: skip
            outcome.why = verdict.why
            if self.only not in (None, step.name) and verdict.reuse is None:
                from model_name.errors import JobError

                outcome.status = "failed"
                raise JobError(
                    f"step {step.name} must run before {self.only} (run it first): {verdict.why}"
                )
            if verdict.reuse is not None:
                outcome.status, outcome.run_id, outcome.outputs = (
                    "reused",
                    verdict.reuse,
                    verdict.outputs,
                )
                self._log("Step {} reused: {}", step.name, verdict.why)
                upstream.append(_upstream_entry(step, fingerprint, verdict.outputs))
                continue
            self._log("Step {} runs: {}", step.name, verdict.why)
            step_config = RunConfig(
                name=step.name,
                description=f"Step {step.name} of pipeline {self.name}: {verdict.why}.",
                tags=reuse.step_tags(self.name, step.name, fingerprint, parts),
            )
            started = time.monotonic()
            with mlflow_service.run_context(step_config) as step_run:
                outcome.run_id = step_run.info.run_id
                outcome.status = "failed"
                try:
                    produced = self._run_job(step)
                except KeyboardInterrupt:
                    outcome.status = "interrupted"
                    raise
                outputs = step_outputs.capture(step.kind, produced, client)
                for key, value in outputs.items():
                    client.set_tag(step_run.info.run_id, reuse.OUTPUT_TAG + key, value)
                outcome.status, outcome.outputs = "ran", outputs
            outcome.why = f"{verdict.why}; {time.monotonic() - started:.1f} s"
            upstream.append(_upstream_entry(step, fingerprint, outputs))

    def _run_job(self, step: Step) -> dict[str, Any]:
        fields: dict[str, Any] = dict(step.overrides)
        if not self.alert_each_step:
            fields["alert_on"] = frozenset()  # the pipeline sends one alert for all
        job = self.container.jobs(step.kind, **fields)
        with job:
            produced: dict[str, Any] = job.run()
        return produced

    def _log(self, message: str, *args: Any) -> None:
        self.container.logger_service().logger().info(message, *args)


def _end(names: list[str], only: str | None) -> int:
    """Return how many steps a run goes through: all, or up to and including `only`."""
    return len(names) if only is None else names.index(only) + 1


def _outputs_by_step(upstream: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {entry["step"]: entry["outputs"] for entry in upstream}


def _upstream_entry(step: Step, fingerprint: str, outputs: Mapping[str, str]) -> dict[str, Any]:
    return {"step": step.name, "fingerprint": fingerprint, "outputs": step_outputs.chained(outputs)}


def _record(client: Any, parent_id: str, outcomes: list[StepOutcome], log: Any) -> None:
    """Tag the parent run with each step's outcome and the run it ran in or reused.

    A store that refuses the tags is logged, never raised: the step's own error comes first.
    """
    try:
        tag_outcomes(client, parent_id, outcomes)
    except Exception as error:
        log("Could not record the steps' outcomes on run {}: {}", parent_id, error)


def tag_outcomes(client: Any, parent_id: str, outcomes: list[StepOutcome]) -> None:
    """Tag a pipeline's run with each step's outcome and a summary (`2 ran, 3 reused`)."""
    for key, value in outcome_tags(outcomes).items():
        client.set_tag(parent_id, key, value)


def outcome_tags(outcomes: list[StepOutcome]) -> dict[str, str]:
    """Return a pipeline run's tags: each step's outcome and run, and the summary, last."""
    tags = {
        reuse.STEPS_TAG + outcome.step: f"{outcome.status} {outcome.run_id}".strip()
        for outcome in outcomes
    }
    counts = {
        status: sum(outcome.status == status for outcome in outcomes)
        for status in ("ran", "reused", "failed", "interrupted", "not reached")
    }
    summary = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
    return {**tags, f"{reuse.PREFIX}.summary": summary}
