"""What a user looks at after a fault: the one error line, the runs, what a run recorded."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

JOB_SECONDS = 120
"""The most any job of the fault tests may take: a fault must end a job, never hang it."""


def runs(tracking_uri: str, experiment: str = "model_name") -> list[Run]:
    """The runs of an experiment, newest first; none when the experiment does not exist."""
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    return [] if found is None else client.search_runs([found.experiment_id])


def assert_one_line_error(err: str, message: str) -> None:
    """The command line said what went wrong in one `model_name: error:` line, no traceback."""
    errors = [line for line in err.splitlines() if line.startswith("model_name: error: ")]
    assert len(errors) == 1, err
    assert message in errors[0], err
    assert "Traceback" not in err


def everything_recorded(client: MlflowClient, run: Run, folder: Path) -> str:
    """A run's params, tags and every artifact's bytes, as one text to search."""
    downloaded = Path(client.download_artifacts(run.info.run_id, "", str(folder)))
    files = [
        path.read_bytes().decode(errors="replace")
        for path in downloaded.rglob("*")
        if path.is_file()
    ]
    assert files, "the run has no artifacts"
    # JSON, not YAML: a dump must never fold a long value (a secret) across two lines
    return "\n".join(
        [
            json.dumps(run.data.params, ensure_ascii=False),
            json.dumps(run.data.tags, ensure_ascii=False),
            *files,
        ]
    )
