"""What a run records: its configuration, and where it comes from, with every secret masked.

`RunConfig` says how `MlflowService.run_context` opens a run; the run then gets the tags of
`run_record_tags()` (version, command line, host, git checkout) and the artifact `config.yaml`
rendered by `config_yaml()`.
"""

from __future__ import annotations

import enum
import shlex
import socket
import subprocess
import sys
from collections.abc import Mapping
from typing import Annotated, Any

import pydantic as pdt

from model_name.redaction import MASK, is_secret_key, mask_url
from model_name.settings import MAX_ENTITY_KEY_LENGTH, MAX_TAG_VALUE_LENGTH

PACKAGE = "model_name"
"""The distribution whose version is recorded on every run (tag `model_name.version`)."""

GIT_TIMEOUT_SECONDS = 2.0
"""How long a `git` command may take when a run records the checkout it comes from."""


class RunConfig(pdt.BaseModel):
    """How `MlflowService.run_context` opens a run.

    Attributes:
        name: the run's name.
        description: the run's description, shown in the MLflow UI.
        tags: tags set on the run when it starts.
        log_system_metrics: sample CPU, memory, disk and network as `system/` metrics.
        config: the resolved configuration, recorded as the artifact `config.yaml` (secrets
            masked); None records nothing.
    """

    model_config = pdt.ConfigDict(extra="forbid")

    name: str = pdt.Field(min_length=1, max_length=MAX_TAG_VALUE_LENGTH)
    description: str | None = pdt.Field(default=None, max_length=MAX_TAG_VALUE_LENGTH)
    tags: dict[
        Annotated[str, pdt.StringConstraints(min_length=1, max_length=MAX_ENTITY_KEY_LENGTH)],
        Annotated[str, pdt.StringConstraints(max_length=MAX_TAG_VALUE_LENGTH)],
    ] = pdt.Field(default_factory=dict)
    log_system_metrics: bool = False
    config: dict[str, Any] | None = None


class EndedRun(pdt.BaseModel):
    """A run `MlflowService.run_context` ended: what an alert about it says.

    Attributes:
        run_id: the run's id.
        experiment_id: its experiment's id.
        status: how it ended: `FINISHED`, `FAILED` or `KILLED`.
        metrics: the last value of each metric logged with `MlflowService.log_metrics`.
    """

    model_config = pdt.ConfigDict(frozen=True)

    run_id: str
    experiment_id: str
    status: str
    metrics: dict[str, float] = pdt.Field(default_factory=dict)


def run_record_tags() -> dict[str, str]:
    """Return the tags that record where a run comes from: version, command, host, git checkout.

    Returns:
        `model_name.version`, `model_name.command`, `model_name.host`, and, inside a git checkout,
        `model_name.git_commit` and `model_name.git_dirty` ("true" when tracked files changed).
    """
    import importlib.metadata

    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - not installed
        version = "unknown"
    tags = {
        f"{PACKAGE}.version": version,
        f"{PACKAGE}.command": shlex.join(masked_command(sys.argv)),
        f"{PACKAGE}.host": socket.gethostname(),
    }
    status = _git("status", "--porcelain=v2", "--branch", "--untracked-files=no")
    if status is None:
        return tags
    entries = status.splitlines()
    headers = dict(entry[2:].partition(" ")[::2] for entry in entries if entry.startswith("# "))
    tags[f"{PACKAGE}.git_commit"] = headers.get("branch.oid", "unknown")
    tags[f"{PACKAGE}.git_dirty"] = str(any(not entry.startswith("#") for entry in entries)).lower()
    return tags


def masked_command(argv: list[str]) -> list[str]:
    """Return a command line with the values of secret `--set KEY=VALUE` flags masked.

    A key is secret by `model_name.redaction.is_secret_key`, the rule the configuration reads
    secrets by (`mlflow.tracking_token`, `mlflow.tracking_password`, ...): the command line is
    recorded on every run (tag `model_name.command`), where a secret must never appear.

    Example:
        >>> masked_command(["model_name", "--set", "mlflow.tracking_token=s3cr3t"])
        ['model_name', '--set', 'mlflow.tracking_token=**********']
    """
    from model_name.redaction import mask_secrets_in_text

    masked: list[str] = []
    for index, argument in enumerate(argv):
        flag, equals, setting = argument.partition("=")
        if flag == "--set" and equals:  # --set=KEY=VALUE
            masked.append(f"--set={_masked_setting(setting)}")
        elif index > 0 and argv[index - 1] == "--set":
            masked.append(_masked_setting(argument))
        else:
            masked.append(argument)
    # a URI's credentials (`--set mlflow.tracking_uri=http://u:PASSWORD@host`), and any known
    # secret value given under a key not named like a secret
    return [mask_secrets_in_text(argument) for argument in masked]


def _masked_setting(setting: str) -> str:
    key, equals, _ = setting.partition("=")
    return f"{key}={MASK}" if equals and is_secret_key(key) else mask_url(setting)


def _git(*arguments: str) -> str | None:
    """Return a git command's output in the current folder, or None when git cannot tell."""
    try:
        result = subprocess.run(
            ["git", *arguments],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip()


def config_yaml(config: Mapping[str, Any]) -> str:
    """Render a configuration as YAML, with every secret (`SecretStr`) masked.

    Args:
        config: the configuration; pydantic models, paths and enums in it are rendered plainly.

    Returns:
        The YAML document.

    Example:
        >>> print(config_yaml({"mlflow": {"tracking_token": pdt.SecretStr("s3cr3t")}}), end="")
        mlflow:
          tracking_token: '**********'
    """
    import yaml

    return yaml.safe_dump(_plain(config), sort_keys=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    if isinstance(value, pdt.BaseModel):
        value = dict(value)
    elif isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, pdt.SecretStr | pdt.SecretBytes):
        return MASK
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return mask_url(value)  # `http://user:PASSWORD@host`: the URI stays, its password not
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_url(str(value))
