"""The configuration layers: precedence, interpolation, provenance and error messages."""

from __future__ import annotations

from pathlib import Path

import pydantic as pdt
import pytest

from model_name.configuration import load_configuration
from model_name.errors import ConfigurationError
from model_name.layers import (
    environment_layer,
    file_layer,
    interpolate,
    parse_override,
    parse_value,
)


class DemoJob(pdt.BaseModel):
    """A stand-in for a job's parameters: what `load_configuration` validates `jobs.demo` with."""

    model_config = pdt.ConfigDict(extra="forbid")

    epochs: int = pdt.Field(default=3, ge=1)
    rate: float = 0.1
    logger_service: object = None  # a reserved field: set by the container, never by config


JOBS = {"demo": DemoJob}


def load(tmp_path: Path, text: str | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
    files = []
    if text is not None:
        files = [tmp_path / "containers.yaml"]
        files[0].write_text(text)
    kwargs.setdefault("environ", {})
    kwargs.setdefault("jobs", JOBS)
    kwargs.setdefault("reserved_job_fields", ["logger_service"])
    return load_configuration(config_files=files, **kwargs)  # type: ignore[arg-type]


# --- precedence ------------------------------------------------------------------------------


def test_defaults_in_code_apply_when_nothing_is_set(tmp_path: Path) -> None:
    configuration = load(tmp_path)

    assert configuration.settings.logger.level == "INFO"
    assert configuration.settings.mlflow.tracking_uri == "sqlite:///mlflow.db"
    assert configuration.settings.jobs["demo"] == {"epochs": 3, "rate": 0.1}
    assert configuration.origin("logger.level") == "default"


def test_a_key_set_at_all_four_levels_takes_the_highest(tmp_path: Path) -> None:
    # given the same key in the file, the environment and a flag
    text = "logger:\n  level: WARNING\n"
    environ = {"MODEL_NAME_LOGGER__LEVEL": "ERROR"}

    # when each higher layer is added in turn
    from_file = load(tmp_path, text)
    from_env = load(tmp_path, text, environ=environ)
    from_flag = load(tmp_path, text, environ=environ, overrides=["logger.level=debug"])

    # then the highest layer wins, and its origin is reported
    assert load(tmp_path).settings.logger.level == "INFO"
    assert from_file.settings.logger.level == "WARNING"
    assert from_file.origin("logger.level") == f"{tmp_path / 'containers.yaml'}:2"
    assert from_env.settings.logger.level == "ERROR"
    assert from_env.origin("logger.level") == "environment variable MODEL_NAME_LOGGER__LEVEL"
    assert from_flag.settings.logger.level == "DEBUG"
    assert from_flag.origin("logger.level") == "--set logger.level"


def test_layers_merge_key_by_key(tmp_path: Path) -> None:
    text = "logger:\n  level: WARNING\n  sink: app.log\n"

    configuration = load(tmp_path, text, overrides=["logger.level=ERROR"])

    assert configuration.settings.logger.sink == "app.log"
    assert configuration.settings.logger.level == "ERROR"


def test_later_config_files_win(tmp_path: Path) -> None:
    base, local = tmp_path / "base.yaml", tmp_path / "local.yaml"
    base.write_text("alerts:\n  app_name: base\n  timeout: 5\n")
    local.write_text("alerts:\n  app_name: local\n")

    configuration = load_configuration(config_files=[base, local], environ={})

    assert configuration.settings.alerts.app_name == "local"
    assert configuration.settings.alerts.timeout == 5
    assert configuration.origin("alerts.app_name") == f"{local}:2"


def test_mlflow_variables_are_the_defaults_under_the_file(tmp_path: Path) -> None:
    environ = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999", "MLFLOW_EXPERIMENT_NAME": "env"}

    without_file = load(tmp_path, environ=environ)
    with_file = load(tmp_path, "mlflow:\n  experiment_name: file\n", environ=environ)

    assert without_file.settings.mlflow.tracking_uri == "http://127.0.0.1:5999"
    assert without_file.origin("mlflow.tracking_uri") == "environment variable MLFLOW_TRACKING_URI"
    assert with_file.settings.mlflow.experiment_name == "file"
    assert with_file.settings.mlflow.tracking_uri == "http://127.0.0.1:5999"


def test_job_sections_are_validated_and_filled_with_defaults(tmp_path: Path) -> None:
    configuration = load(
        tmp_path, "jobs:\n  demo:\n    epochs: 5\n", environ={"MODEL_NAME_JOBS__DEMO__RATE": "0.5"}
    )

    assert configuration.settings.jobs["demo"] == {"epochs": 5, "rate": 0.5}


def test_an_empty_section_does_not_wipe_lower_layers(tmp_path: Path) -> None:
    configuration = load(
        tmp_path, "mlflow: {}\n", environ={"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999"}
    )

    assert configuration.settings.mlflow.tracking_uri == "http://127.0.0.1:5999"


def test_the_default_file_is_read_from_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("containers.yaml").write_text("alerts:\n  app_name: here\n")

    configuration = load_configuration(environ={})

    assert configuration.settings.alerts.app_name == "here"
    assert configuration.origin("alerts.app_name") == "containers.yaml:2"


# --- interpolation ---------------------------------------------------------------------------


def test_variables_in_the_file_are_replaced(tmp_path: Path) -> None:
    text = "logger:\n  sink: ${LOG_DIR:/tmp}/app.log\n  level: ${LEVEL}\nalerts:\n  timeout: ${T}\n"

    configuration = load(tmp_path, text, environ={"LEVEL": "debug", "T": "7"})

    assert configuration.settings.logger.sink == "/tmp/app.log"
    assert configuration.settings.logger.level == "DEBUG"
    assert configuration.settings.alerts.timeout == 7
    assert configuration.origin("logger.level").endswith(
        "containers.yaml:3 via environment variable LEVEL"
    )
    assert configuration.origin("logger.sink").endswith("containers.yaml:2, default of ${LOG_DIR}")


def test_an_unset_variable_without_default_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"containers.yaml:2: \$\{NOPE\} is not set"):
        load(tmp_path, "logger:\n  level: ${NOPE}\n")


def test_interpolate_keeps_text_without_variables() -> None:
    assert interpolate("plain $HOME text", {}, "here") == "plain $HOME text"


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "logger:\n  levle: DEBUG\n",
            r"unknown key logger.levle \(from .*:2\); did you mean logger.level\?",
        ),
        ("loger:\n  level: DEBUG\n", r"unknown key loger \(from .*:1\); did you mean logger\?"),
        (
            "alerts:\n  timeout: soon\n",
            r"alerts.timeout \(from .*:2\): Input should be a valid integer",
        ),
        (
            "alerts:\n  timeout: -1\n",
            r"alerts.timeout \(from .*:2\): Input should be greater than or equal to 0",
        ),
        ("jobs:\n  dmeo: {}\n", r"unknown key jobs.dmeo \(from .*:2\); did you mean jobs.demo\?"),
        (
            "jobs:\n  demo:\n    epoch: 2\n",
            r"unknown key jobs.demo.epoch \(from .*:3\); did you mean jobs.demo.epochs\?",
        ),
        (
            "jobs:\n  demo:\n    epochs: 0\n",
            r"jobs.demo.epochs \(from .*:3\): Input should be greater than or equal to 1",
        ),
        ("jobs:\n  demo:\n    logger_service: x\n", r"unknown key jobs.demo.logger_service"),
        ("jobs: [a]\n", r"jobs \(from .*:1\): should map job names"),
        ("jobs:\n  demo: 3\n", r"jobs.demo \(from .*:2\): should map fields"),
        ("logger:\n  level: A\n  level: B\n", r"containers.yaml:3: duplicate key logger.level"),
        ("logger: [\n", r"containers.yaml:2:1: invalid YAML"),
        ("- a\n- b\n", r"containers.yaml:1: the file should map sections"),
        ("", r"is empty"),
    ],
)
def test_file_errors_name_the_key_and_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load(tmp_path, text)


def test_environment_errors_name_the_variable(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"alerts.timeout \(from environment variable MODEL_NAME_ALERTS__TIMEOUT\)",
    ):
        load(tmp_path, environ={"MODEL_NAME_ALERTS__TIMEOUT": "soon"})
    with pytest.raises(
        ConfigurationError,
        match=r"unknown key alrets \(from environment variable MODEL_NAME_ALRETS__ENABLE\); did you mean alerts\?",
    ):
        load(tmp_path, environ={"MODEL_NAME_ALRETS__ENABLE": "true"})
    with pytest.raises(ConfigurationError, match=r"MODEL_NAME_LOGGER____LEVEL: expected"):
        environment_layer({"MODEL_NAME_LOGGER____LEVEL": "x"})


def test_flag_errors_name_the_flag(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigurationError, match=r"logger.level \(from --set logger.level\): Input should be"
    ):
        load(tmp_path, overrides=["logger.level=LOUD"])
    with pytest.raises(ConfigurationError, match=r"expected KEY.PATH=VALUE"):
        load(tmp_path, overrides=["logger.level"])
    with pytest.raises(
        ConfigurationError,
        match=r"alerts.timeout \(from --set alerts.timeout\): '\{a: \[\}' is not a valid list or mapping",
    ):
        load(tmp_path, overrides=["alerts.timeout={a: [}"])


def test_a_text_that_is_not_yaml_is_taken_as_written_by_a_string_key(tmp_path: Path) -> None:
    # given a plain loguru format, which starts like a YAML mapping but is not one
    overrides = ["logger.format={level} | {message}"]

    # when the configuration is loaded, from a flag and from a variable
    from_flag = load(tmp_path, overrides=overrides)
    from_variable = load(tmp_path, environ={"MODEL_NAME_LOGGER__FORMAT": "{time} {message}"})

    # then the string-typed key holds the text as written
    assert from_flag.settings.logger.format == "{level} | {message}"
    assert from_variable.settings.logger.format == "{time} {message}"


def test_a_misspelled_section_is_reported_at_its_own_line(tmp_path: Path) -> None:
    # given a file whose section key (line 3) is misspelled, its first child on line 4
    text = "jobs:\n  demo:\n    epochs: 2\n  dmo:\n    epochs: 3\n"

    # when it is loaded, then the error names the key's line, not its child's
    with pytest.raises(
        ConfigurationError, match=r"unknown key jobs.dmo \(from .*containers.yaml:4\)"
    ):
        load(tmp_path, text)
    with pytest.raises(ConfigurationError, match=r"unknown key loger \(from .*containers.yaml:2\)"):
        load(tmp_path, "# a comment\nloger:\n\n  level: DEBUG\n")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.yaml", r"missing.yaml does not exist"),
        (lambda p: p, r"is a directory"),
    ],
)
def test_unusable_files_are_reported(tmp_path: Path, make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match=message):
        file_layer(make(tmp_path), {})


def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00bad")

    with pytest.raises(ConfigurationError, match=r"cannot read configuration file .*binary.yaml"):
        file_layer(path, {})


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("DEBUG", "DEBUG"),
        ("3", "3"),
        ("null", None),
        ("~", None),
        ("[1, 2]", [1, 2]),
        ("{a: b}", {"a": "b"}),
    ],
)
def test_values_from_text(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_an_override_value_may_contain_equals_signs() -> None:
    assert parse_override("mlflow.tracking_uri=http://h/?a=b") == (
        ("mlflow", "tracking_uri"),
        "http://h/?a=b",
    )


def test_secrets_are_validated_as_secrets(tmp_path: Path) -> None:
    configuration = load(tmp_path, overrides=["mlflow.tracking_token=s3cr3t"])

    token = configuration.settings.mlflow.tracking_token
    assert token is not None and token.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(configuration.settings)
    assert "s3cr3t" not in str(configuration.origins)


@pytest.mark.parametrize("secret", ["{pa:ss", "[pa]ss", "{a: 1}", " spaced "])
@pytest.mark.parametrize("source", ["file via ${VAR}", "environment", "--set"])
def test_a_secret_is_taken_as_written_from_any_source(
    tmp_path: Path, secret: str, source: str
) -> None:
    # given a password that YAML would read as a mapping or a list, from one source
    text = "mlflow:\n  tracking_password: ${PASSWORD}\n" if source == "file via ${VAR}" else None
    environ = {
        "file via ${VAR}": {"PASSWORD": secret},
        "environment": {"MODEL_NAME_MLFLOW__TRACKING_PASSWORD": secret},
        "--set": {},
    }[source]
    overrides = [f"mlflow.tracking_password={secret}"] if source == "--set" else []

    # when the configuration is loaded
    configuration = load(tmp_path, text, environ=environ, overrides=overrides)

    # then the secret is exactly what was written: never parsed, never an error quoting it
    password = configuration.settings.mlflow.tracking_password
    assert password is not None and password.get_secret_value() == secret


def test_a_malformed_flag_names_its_key_but_never_its_value() -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_override("mlflow..tracking_token=s3cr3t")

    assert "mlflow..tracking_token" in str(raised.value)
    assert "s3cr3t" not in str(raised.value)


def test_null_unsets_a_secret_so_a_file_can_make_a_token_optional(tmp_path: Path) -> None:
    configuration = load(tmp_path, "mlflow:\n  tracking_token: ${TOKEN:null}\n")

    assert configuration.settings.mlflow.tracking_token is None
