"""Find a finished run a step may reuse, by its fingerprint, and say why a step must run.

Every step run is tagged with its pipeline, its step name, its fingerprint and each part's
digest (`model_name.pipeline.*`). A step is reused when a FINISHED, not deleted, step run has
its fingerprint and its outputs still hold; otherwise the reason names what changed, compared
with the last finished run of the same step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from model_name.pipelines import outputs as step_outputs

PREFIX = "model_name.pipeline"
NAME_TAG = f"{PREFIX}.name"
STEP_TAG = f"{PREFIX}.step"
ROLE_TAG = f"{PREFIX}.role"
FINGERPRINT_TAG = f"{PREFIX}.fingerprint"
PART_TAG = f"{PREFIX}.part."
OUTPUT_TAG = f"{PREFIX}.output."
STEPS_TAG = f"{PREFIX}.steps."
"""On the parent run, one tag a step: `ran RUN_ID`, `reused RUN_ID`, `failed RUN_ID`,
`interrupted RUN_ID` or `not reached`."""

PART_NAMES = {
    "job": "the job",
    "config": "its settings",
    "code": "its code",
    "inputs": "its input files",
    "state": "the version it acts on",
    "upstream": "a step before it",
}


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether a step runs or is reused, and why.

    Attributes:
        reuse: the id of the step run it reuses, or None: it runs.
        why: the reason, in words.
        outputs: the reused run's outputs (empty when it runs).
    """

    reuse: str | None
    why: str
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)


def step_tags(
    pipeline: str, step: str, fingerprint: str, parts: Mapping[str, str]
) -> dict[str, str]:
    """Return the tags of a step run: what it is, its fingerprint and its parts."""
    tags = {NAME_TAG: pipeline, STEP_TAG: step, ROLE_TAG: "step", FINGERPRINT_TAG: fingerprint}
    return {**tags, **{PART_TAG + key: value for key, value in parts.items()}}


def outputs_of(run: Any) -> dict[str, str]:
    """Return the outputs a step run recorded (its `model_name.pipeline.output.*` tags)."""
    tags: dict[str, str] = run.data.tags
    return {
        key[len(OUTPUT_TAG) :]: value for key, value in tags.items() if key.startswith(OUTPUT_TAG)
    }


def decide(
    client: Any,
    experiment_id: str,
    *,
    pipeline: str,
    step: Any,
    fingerprint: str,
    parts: Mapping[str, str],
    registry_name: str,
    forced: str | None = None,
) -> Verdict:
    """Decide whether a step runs or reuses a finished run, and why.

    Args:
        client: an MLflow client on the store.
        experiment_id: the experiment of the pipeline's runs.
        pipeline: the pipeline's name.
        step: the step (`model_name.pipelines.validation.Step`).
        fingerprint: its fingerprint now.
        parts: its parts' digests now.
        registry_name: the registered model's name.
        forced: why the cache is not looked at (`--force`, `--no-cache`), or None.
    """
    if forced:
        return Verdict(None, forced)
    finished = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{FINGERPRINT_TAG}` = '{fingerprint}' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=5,
    )
    gone = None
    for run in finished:
        outputs = outputs_of(run)
        reason = step_outputs.still_holds(step.kind, outputs, step.params, client, registry_name)
        if reason is None:
            return Verdict(run.info.run_id, "nothing it depends on changed", outputs)
        gone = gone or f"outputs of run {run.info.run_id} are gone: {reason}"
    return Verdict(None, gone or _what_changed(client, experiment_id, pipeline, step.name, parts))


def _what_changed(
    client: Any, experiment_id: str, pipeline: str, step: str, parts: Mapping[str, str]
) -> str:
    """Say what differs from the last finished run of the same step, or that there is none."""
    last = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{NAME_TAG}` = '{pipeline}' and tags.`{STEP_TAG}` = '{step}' "
            f"and tags.`{ROLE_TAG}` = 'step' and attributes.status = 'FINISHED'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not last:
        return "no finished run of this step yet"
    tags = last[0].data.tags
    changed = [
        PART_NAMES.get(key, key)
        for key, value in parts.items()
        if tags.get(PART_TAG + key) != value
    ]
    since = f"since run {last[0].info.run_id}"
    return f"{', '.join(changed)} changed {since}" if changed else f"not reusable {since}"
