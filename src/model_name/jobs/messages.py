"""What an alert about a job says: the job, the outcome, the duration, the metrics, the run's link.

On failure it also gives the error's one line. Each alert has two bodies: one line of plain text
(the desktop and the log show it) and Markdown (chat and e-mail channels format it). The title
carries the outcome: `training failed`.

Example:
    >>> alert = compose("training", "success", seconds=83.2, metrics={"rmse": 53.1, "r2": 0.46})
    >>> alert.title
    'training succeeded'
    >>> alert.body
    'Job training completed. Duration 1 min 23 s. Metrics: rmse 53.1, r2 0.46.'

"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Literal

from model_name.errors import one_line
from model_name.io.services import AlertText, Severity

Event = Literal["start", "success", "failure", "interrupted"]

OUTCOMES: dict[Event, tuple[str, Severity]] = {
    "start": ("started", "info"),
    "success": ("succeeded", "success"),
    "failure": ("failed", "failure"),
    "interrupted": ("interrupted", "warning"),
}
"""Each moment's word in the title, and its severity (the colour or icon a channel shows)."""


@dataclasses.dataclass(frozen=True)
class AlertMessage:
    """An alert ready to send: `alerts_service.notify(alert.title, alert.body)`.

    Attributes:
        title: the job and the outcome: `training succeeded`.
        body: the plain-text body, one line, carrying its Markdown form and severity.
    """

    title: str
    body: AlertText


def compose(
    kind: str,
    event: Event,
    *,
    seconds: float | None = None,
    metrics: Mapping[str, float] | None = None,
    error: BaseException | None = None,
    run_url: str | None = None,
) -> AlertMessage:
    """Compose the alert of one moment of a job.

    Args:
        kind: the job's name.
        event: the moment: `start`, `success`, `failure` or `interrupted`.
        seconds: how long the job ran; None leaves the duration out.
        metrics: the headline metrics of the job's run, by name, in the order to show them.
        error: the exception that failed or interrupted the job.
        run_url: the address of the job's run in the MLflow UI.
    """
    word, severity = OUTCOMES[event]
    if event == "start":
        first = f"Job {kind} is running."
    elif event == "success":
        first = f"Job {kind} completed."
    elif event == "interrupted":
        first = f"Job stopped by {type(error).__name__ if error else 'an interruption'}."
    else:
        first = one_line(error) if error is not None else f"Job {kind} failed."
    text = [first if first.endswith((".", "!", "?")) else f"{first}."]
    markdown = [f"**Job `{kind}` {word}.**"]
    if event == "failure" and error is not None:
        quoted = first.replace("`", "'")
        markdown.append(f"Error: `{quoted}`")
    elif event == "interrupted":
        markdown.append(first)
    if seconds is not None:
        text.append(f"Duration {duration(seconds)}.")
        markdown.append(f"Duration: {duration(seconds)}")
    if metrics:
        shown = ", ".join(f"{name} {value:.4g}" for name, value in metrics.items())
        text.append(f"Metrics: {shown}.")
        markdown.append("\n".join(f"- {name}: **{value:.4g}**" for name, value in metrics.items()))
    if run_url:
        text.append(f"Run: {run_url}")
        markdown.append(f"[Open the run in MLflow]({run_url})")
    body = AlertText(" ".join(text), markdown="\n\n".join(markdown), severity=severity)
    return AlertMessage(f"{kind} {word}", body)


def headline(metrics: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    """Return the named metrics that the run logged, in the order of `names`.

    Example:
        >>> headline({"mae": 40.0, "r2": 0.5, "rmse": 52.0}, ("rmse", "r2", "mape"))
        {'rmse': 52.0, 'r2': 0.5}
    """
    return {name: metrics[name] for name in names if name in metrics}


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """Return the run's address in the MLflow UI, or None unless the tracking URI is http(s).

    Credentials written in the URI (`https://user:password@host`) are left out.

    Example:
        >>> run_url("https://me:s3cr3t@mlflow.example.org/", "3", "ab12")
        'https://mlflow.example.org/#/experiments/3/runs/ab12'
        >>> run_url("sqlite:///mlflow.db", "3", "ab12") is None
        True
    """
    parts = urllib.parse.urlsplit(tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"


def where_to_look(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """Say how to look at a run: its URL on a server, or the `mlflow ui` command and its path.

    The tracking URI is quoted as given: mask it (`redaction.mask_url`) before showing it.

    Example:
        >>> where_to_look("http://127.0.0.1:5000", "1", "ab12")
        'http://127.0.0.1:5000/#/experiments/1/runs/ab12'
        >>> where_to_look("sqlite:///mlflow.db", "1", "ab12")
        'uv run mlflow ui --backend-store-uri sqlite:///mlflow.db, then http://127.0.0.1:5000/#/experiments/1/runs/ab12'
    """
    url = run_url(tracking_uri, experiment_id, run_id)
    if url is not None:
        return url
    local = run_url("http://127.0.0.1:5000", experiment_id, run_id)
    return f"uv run mlflow ui --backend-store-uri {tracking_uri}, then {local}"


def duration(seconds: float) -> str:
    """Say a duration the way a person reads it.

    Example:
        >>> duration(0.42), duration(83.2), duration(7384)
        ('0.42 s', '1 min 23 s', '2 h 03 min')
    """
    if seconds < 10:
        return f"{seconds:.2g} s" if seconds < 1 else f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
