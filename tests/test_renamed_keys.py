"""Renamed configuration keys: the old names still work for one release, with one warning line.

Given as a user gives them (a YAML file, an environment variable, a `--set` flag), read back as
`model_name config show` prints them.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from model_name.cli import main
from model_name.configuration import load_configuration, settings_schema
from model_name.errors import ConfigurationError
from model_name.renamed_keys import DeprecatedKeyWarning

NEXT_RELEASE = "the old key stops working in the next release"

RENAMES = [
    # old key, new key, a value that is not the default, as config show prints it
    ("alerts.timeout_seconds", "alerts.channels_timeout_seconds", "3", "3.0"),
    ("mlflow.reap_stale_runs", "mlflow.reaping", "false", "false"),
    ("mlflow.reap_grace_seconds", "mlflow.grace_period_seconds", "90", "90.0"),
    ("mlflow.autolog_disable", "mlflow.autolog.disable", "true", "true"),
    (
        "mlflow.autolog_disable_for_unsupported_versions",
        "mlflow.autolog.disable_for_unsupported_versions",
        "true",
        "true",
    ),
    ("mlflow.autolog_exclusive", "mlflow.autolog.exclusive", "true", "true"),
    ("mlflow.autolog_log_input_examples", "mlflow.autolog.log_input_examples", "true", "true"),
    (
        "mlflow.autolog_log_model_signatures",
        "mlflow.autolog.log_model_signatures",
        "false",
        "false",
    ),
    ("mlflow.autolog_log_models", "mlflow.autolog.log_models", "true", "true"),
    ("mlflow.autolog_log_datasets", "mlflow.autolog.log_datasets", "true", "true"),
    ("mlflow.autolog_silent", "mlflow.autolog.silent", "true", "true"),
]


def shown(out: str, key: str) -> str:
    """The value `config show` printed for a dotted key (without its `# source` comment)."""
    printed = yaml.safe_load(out)
    for part in key.split("."):
        printed = printed[part]
    return yaml.safe_dump(printed).removesuffix("\n...\n").strip()


def config_file(tmp_path: Path, key: str, value: str) -> Path:
    """A YAML file that sets one dotted key."""
    section, *rest = key.split(".")
    text = f"{section}:\n  {'.'.join(rest)}: {value}\n"
    path = tmp_path / "old.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("old", "new", "value", "printed"), RENAMES)
def test_an_old_key_in_a_file_works_with_one_warning_line_naming_the_new_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, value: str, printed: str
) -> None:
    # given a configuration file written for the previous release
    path = config_file(tmp_path, old, value)

    # when the configuration is shown
    code = main(["config", "show", "--config", str(path)])

    # then the value is taken, printed under its new name only, and one line says what to write
    out, err = capsys.readouterr()
    assert code == 0
    assert shown(out, new) == printed
    section, _, name = old.partition(".")
    assert name not in yaml.safe_load(out)[section]
    assert err.splitlines() == [
        f"model_name: warning: {old} (from {path}:2) is deprecated: use {new}; {NEXT_RELEASE}"
    ]


def test_an_old_environment_variable_works_and_the_warning_names_the_new_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_NAME_MLFLOW__AUTOLOG_LOG_MODELS", "true")

    code = main(["config", "show", "--sources"])

    out, err = capsys.readouterr()
    assert code == 0
    assert "    log_models: true  # environment variable MODEL_NAME_MLFLOW__AUTOLOG_LOG_MODELS" in (
        out.splitlines()
    )
    assert err.splitlines() == [
        "model_name: warning: mlflow.autolog_log_models (from environment variable "
        "MODEL_NAME_MLFLOW__AUTOLOG_LOG_MODELS) is deprecated: use mlflow.autolog.log_models "
        f"(MODEL_NAME_MLFLOW__AUTOLOG__LOG_MODELS); {NEXT_RELEASE}"
    ]


def test_an_old_set_flag_works_and_keeps_its_place_among_the_layers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the new key in a file, and the old key in a flag, which is the higher layer
    path = config_file(tmp_path, "mlflow.reaping", "true")

    flags = ["--config", str(path), "--set", "mlflow.reap_stale_runs=false"]
    code = main(["config", "show", "--sources", *flags])

    out, err = capsys.readouterr()
    assert code == 0
    assert "  reaping: false  # --set mlflow.reap_stale_runs" in out.splitlines()
    assert err.splitlines() == [
        "model_name: warning: mlflow.reap_stale_runs (from --set mlflow.reap_stale_runs) is "
        f"deprecated: use mlflow.reaping; {NEXT_RELEASE}"
    ]


def test_one_setting_under_its_old_and_new_names_in_one_layer_is_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    flags = ["--set", "mlflow.reaping=true", "--set", "mlflow.reap_stale_runs=false"]
    code = main(["config", "show", *flags])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "model_name: error: mlflow.reap_stale_runs (from --set mlflow.reap_stale_runs) and "
        "mlflow.reaping (from --set mlflow.reaping) are one setting under its old and new name: "
        "keep mlflow.reaping only"
    )


def test_a_bad_value_under_an_old_key_is_named_by_the_new_key_and_where_it_came_from(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["config", "show", "--set", "alerts.timeout_seconds=-1"])

    assert code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "model_name: error: alerts.channels_timeout_seconds (from --set alerts.timeout_seconds): "
        "Input should be greater than 0"
    )


def test_config_show_prints_only_the_new_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show"]) == 0

    out, err = capsys.readouterr()
    printed = yaml.safe_load(out)
    assert {"channels_timeout_seconds", "timeout"} <= set(printed["alerts"])
    assert "timeout_seconds" not in printed["alerts"]
    assert {"reaping", "grace_period_seconds", "autolog"} <= set(printed["mlflow"])
    assert [key for key in printed["mlflow"] if key.startswith("autolog_")] == []
    assert "reap_stale_runs" not in printed["mlflow"]
    assert "reap_grace_seconds" not in printed["mlflow"]
    assert err == ""


def test_the_seeds_alerts_timeout_keeps_its_name(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["config", "show", "--set", "alerts.timeout=5"])

    out, err = capsys.readouterr()
    assert code == 0
    assert yaml.safe_load(out)["alerts"]["timeout"] == 5
    assert err == ""


def test_python_callers_get_a_deprecation_warning_and_the_new_key() -> None:
    with pytest.warns(DeprecatedKeyWarning, match=r"use mlflow\.grace_period_seconds;"):
        configuration = load_configuration(
            overrides=["mlflow.reap_grace_seconds=90"], environ={}, config_files=[]
        )

    assert configuration.settings.mlflow.grace_period_seconds == 90
    assert configuration.origin("mlflow.grace_period_seconds") == "--set mlflow.reap_grace_seconds"


def test_the_warning_is_a_future_warning_shown_by_default() -> None:
    # DeprecationWarning is hidden outside __main__; a user's notebook must see this one
    assert issubclass(DeprecatedKeyWarning, FutureWarning)


def test_an_old_key_inside_a_section_given_whole_is_renamed_too() -> None:
    with pytest.warns(DeprecatedKeyWarning, match=r"mlflow\.autolog_silent \(from --set mlflow\)"):
        configuration = load_configuration(
            overrides=["mlflow={autolog_silent: true}"], environ={}, config_files=[]
        )

    assert configuration.settings.mlflow.autolog.silent is True


def test_old_keys_are_valid_but_deprecated_in_the_schema() -> None:
    # an editor checking an old containers.yaml strikes the old keys instead of refusing them
    schema = settings_schema()
    old = {"alerts": {"timeout_seconds": 3}, "mlflow": {"reap_stale_runs": False}}

    jsonschema.validate(old, schema)
    assert schema["$defs"]["MlflowSettings"]["properties"]["reap_stale_runs"]["deprecated"]


def test_the_new_autolog_section_refuses_unknown_options() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown key mlflow\.autolog\.silence"):
        load_configuration(overrides=["mlflow.autolog.silence=true"], environ={}, config_files=[])


def test_a_service_built_in_python_takes_an_old_name_with_the_same_warning() -> None:
    from model_name.io.services import AlertsService, MlflowService

    with pytest.warns(DeprecatedKeyWarning) as caught:
        mlflow_service = MlflowService(reap_stale_runs=False, autolog_log_models=True)
    with pytest.warns(DeprecatedKeyWarning) as caught_too:
        alerts_service = AlertsService(timeout_seconds=3)

    assert mlflow_service.reaping is False
    assert mlflow_service.autolog.log_models is True
    assert alerts_service.channels_timeout_seconds == 3
    assert [str(warning.message) for warning in [*caught, *caught_too]] == [
        "mlflow.reap_stale_runs (from MlflowService(reap_stale_runs=...)) is deprecated: use "
        f"mlflow.reaping; {NEXT_RELEASE}",
        "mlflow.autolog_log_models (from MlflowService(autolog_log_models=...)) is deprecated: "
        f"use mlflow.autolog.log_models; {NEXT_RELEASE}",
        "alerts.timeout_seconds (from AlertsService(timeout_seconds=...)) is deprecated: use "
        f"alerts.channels_timeout_seconds; {NEXT_RELEASE}",
    ]
