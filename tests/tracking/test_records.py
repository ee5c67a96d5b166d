"""What a run records: its configuration and command line, with every secret masked."""

from __future__ import annotations

import enum

import pydantic as pdt
import pytest

from model_name.tracking.records import config_yaml, masked_command

MASK = "**********"  # what a user sees in place of a secret, as pydantic shows a SecretStr

# --- configuration rendering ----------------------------------------------------------------


def test_config_yaml_masks_secrets_everywhere() -> None:
    class Color(enum.Enum):
        RED = "red"

    class Section(pdt.BaseModel):
        token: pdt.SecretStr
        names: tuple[str, ...]
        color: Color

    section = Section(token=pdt.SecretStr("t0k3n"), names=("a", "b"), color=Color.RED)
    text = config_yaml({"section": section, "n": None})

    assert "t0k3n" not in text
    assert text == (
        "section:\n  token: '**********'\n  names:\n  - a\n  - b\n  color: red\nn: null\n"
    )


# --- the recorded command line --------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "mlflow.tracking_password",
        "mlflow.tracking_token",
        "storage.secret",
        "storage.api_key",
        "storage.APIKEY",
        "db.passwd",
        "cloud.credentials",
    ],
)
def test_a_secret_set_value_is_masked_in_both_forms(key: str) -> None:
    # given a command line setting a secret key, as `--set KEY=VALUE` and as `--set=KEY=VALUE`
    argv = ["model_name", "training", "--set", f"{key}=s3cr3t", f"--set={key}=s3cr3t"]

    # when it is masked
    masked = masked_command(argv)

    # then both values are masked and everything else is kept
    assert masked == [
        "model_name",
        "training",
        "--set",
        f"{key}={MASK}",
        f"--set={key}={MASK}",
    ]


def test_a_secret_value_containing_equals_signs_is_masked_whole() -> None:
    masked = masked_command(["model_name", "--set", "mlflow.tracking_token=a=b=c"])

    assert masked == ["model_name", "--set", f"mlflow.tracking_token={MASK}"]


def test_non_secret_settings_and_other_arguments_are_kept() -> None:
    # given settings whose keys are not secret (even when their values look like one)
    argv = [
        "model_name",
        "training",
        "--set",
        "jobs.training.alpha=0.5",
        "--set=mlflow.experiment_name=token",
        "--set",
        "mlflow.tracking_uri=sqlite:///mlflow.db",
        "--verbose",
    ]

    # when the command line is masked, then it is unchanged
    assert masked_command(argv) == argv


@pytest.mark.parametrize(
    "argv",
    [
        ["model_name", "training", "--set"],
        ["model_name", "--set", "token"],
        ["model_name", "--set=", "--set=token"],
        ["--set"],
        [],
    ],
    ids=["set-last", "set-without-equals", "set-equals-without-key", "only-set", "empty"],
)
def test_a_set_without_a_key_value_is_kept_as_it_is(argv: list[str]) -> None:
    assert masked_command(argv) == argv


def test_only_a_secret_field_is_masked_not_a_section_named_like_one() -> None:
    # given a job section whose name, not its field, looks like a secret
    argv = ["model_name", "--set", "jobs.token_audit.outputs=out.csv"]

    # when the command line is masked, then it is kept: the field is read as plain configuration
    assert masked_command(argv) == argv


def test_a_urls_password_is_masked_in_the_recorded_command_and_configuration() -> None:
    # given a study storage URL with a password, on the command line and in the configuration
    url = "postgresql://tuner:hunter2@db:5432/optuna"
    # when the command and the configuration are recorded
    command = masked_command(["model_name", "run", "tuning", "--set", f"optuna.storage={url}"])
    text = config_yaml({"optuna": {"storage": url}})
    # then the URL is kept, its password masked
    assert command[-1] == "optuna.storage=postgresql://tuner:**********@db:5432/optuna"
    assert "postgresql://tuner:**********@db:5432/optuna" in text
    assert "hunter2" not in " ".join(command) + text
