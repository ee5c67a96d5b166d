"""Properties of the `--set` parser and of the layering, over many generated inputs."""

from __future__ import annotations

import contextlib
import io
import os
import string
import tempfile
from pathlib import Path
from unittest import mock

import pydantic as pdt
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_name.cli import main
from model_name.configuration import load_configuration
from model_name.errors import ConfigurationError
from model_name.layers import parse_override, parse_value

keys = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)
plain_texts = st.text(
    string.ascii_letters + string.digits + " -_./:@", min_size=1, max_size=30
).filter(lambda text: text.strip() not in ("", "null", "~"))
LEVELS = ("file", "environment", "flag")


@given(path=st.lists(keys, min_size=1, max_size=4), value=st.text(max_size=40))
def test_an_override_splits_at_the_first_equals_sign(path: list[str], value: str) -> None:
    text = ".".join(path) + "=" + value
    if value.strip()[:1] in ("[", "{"):
        try:
            expected = parse_value(value)
        except ConfigurationError:
            return  # an invalid list or mapping is rejected, tested below
    else:
        expected = parse_value(value)

    assert parse_override(text) == (tuple(path), expected)


@given(text=st.text(max_size=40).filter(lambda text: "=" not in text))
def test_an_override_without_equals_sign_is_rejected(text: str) -> None:
    with pytest.raises(ConfigurationError, match=r"expected KEY\.PATH=VALUE"):
        parse_override(text)


@given(values=st.fixed_dictionaries({}, optional=dict.fromkeys(LEVELS, plain_texts)))
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_highest_level_that_sets_a_value_wins(values: dict[str, str]) -> None:
    # given the same key set at a random subset of the levels, each to its own value
    with tempfile.TemporaryDirectory() as folder:
        files = []
        if "file" in values:
            files = [Path(folder) / "containers.yaml"]
            files[0].write_text(yaml.safe_dump({"alerts": {"app_name": values["file"]}}))
        environ = {}
        if "environment" in values:
            environ["MODEL_NAME_ALERTS__APP_NAME"] = values["environment"]
        overrides = [f"alerts.app_name={values['flag']}"] if "flag" in values else []

        # when the configuration is loaded
        configuration = load_configuration(files, overrides, environ)

    # then the value of the highest level that set it wins, and defaults fill the rest
    expected = next((values[level] for level in reversed(LEVELS) if level in values), "model_name")
    assert configuration.settings.alerts.app_name == expected


# Neither NUL nor lone surrogates: os.environ refuses both, so no variable can hold them.
def _pydantic_reads_an_integer(text: str) -> bool:
    """Whether pydantic's lax mode reads the text as an integer (`"3"`, `"0.0"`, ...)."""
    try:
        pdt.TypeAdapter(int).validate_python(text.strip())
    except pdt.ValidationError:
        return False
    return True


not_an_integer = st.text(
    st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=20
).filter(lambda text: not _pydantic_reads_an_integer(text) and text.strip() not in ("null", "~"))


@given(value=not_an_integer, level=st.sampled_from(LEVELS))
@settings(max_examples=90, deadline=None)
def test_an_invalid_value_from_any_source_exits_2_without_traceback(value: str, level: str) -> None:
    # given a value that is not an integer, for an integer field, from one of the levels
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "containers.yaml"
        section = {"timeout": value} if level == "file" else {}
        config.write_text(yaml.safe_dump({"alerts": section}))
        flags = ["--set", f"alerts.timeout={value}"] if level == "flag" else []
        environ = {"MODEL_NAME_ALERTS__TIMEOUT": value} if level == "environment" else {}
        err = io.StringIO()

        # when a job is run with it
        with mock.patch.dict(os.environ, environ), contextlib.redirect_stderr(err):
            code = main(["run", "check", "--dry-run", "--config", str(config), *flags])

    # then the command line refuses it with exit code 2 and one message, never a traceback
    assert code == 2
    assert err.getvalue().startswith("model_name: error: ")
    assert "Traceback" not in err.getvalue()


@given(
    value=st.integers(min_value=-(10**6), max_value=-1)
    | st.integers(min_value=3601, max_value=10**9)
)
def test_an_out_of_range_value_is_rejected_with_its_key(value: int) -> None:
    with pytest.raises(ConfigurationError, match=r"alerts.timeout \(from --set alerts.timeout\)"):
        load_configuration([], [f"alerts.timeout={value}"], {})
