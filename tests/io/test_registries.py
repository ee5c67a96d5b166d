"""The registry functions: log, register, alias and load a tiny model on a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from model_name.errors import ModelNotFoundError
from model_name.io import registries
from model_name.io.services import MlflowService, RunConfig


@pytest.fixture
def running(mlflow_service: MlflowService) -> Iterator[MlflowService]:
    with mlflow_service:
        yield mlflow_service


@pytest.fixture
def tiny() -> tuple[Any, pd.DataFrame]:
    """A linear model of y = 2a + b fitted on four rows, and those rows."""
    from sklearn.linear_model import LinearRegression

    features = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    return LinearRegression().fit(features, 2 * features["a"] + features["b"]), features


def test_log_register_alias_and_load_round_trip(
    tiny: tuple[Any, pd.DataFrame], running: MlflowService
) -> None:
    # given a tiny fitted model
    model, features = tiny
    client = running.client()

    # when it is logged, registered twice and aliased
    with running.run_context(RunConfig(name="registry")) as run:
        info = registries.log_model(model, signature_input=features, tags={"size": "tiny"})
        first = registries.register_model(info.model_uri, "tiny", tags={"purpose": "test"})
        second = registries.register_model(info.model_uri, "tiny")
    promoted = registries.set_alias(client, "tiny", "champion", 1)

    # then the versions are 1 and 2, from the run, and the alias points at 1
    assert (str(first.version), str(second.version)) == ("1", "2")
    assert first.run_id == run.info.run_id
    assert client.get_model_version("tiny", "1").tags == {"purpose": "test"}
    assert str(promoted.version) == "1"
    assert str(registries.latest_version(client, "tiny").version) == "2"
    assert str(registries.get_alias(client, "tiny", "champion").version) == "1"
    assert str(registries.resolve_version(client, "tiny", alias="champion").version) == "1"
    assert str(registries.resolve_version(client, "tiny", version=2).version) == "2"
    assert str(registries.resolve_version(client, "tiny").version) == "2"
    assert [str(v.version) for v in registries.versions(client, "tiny")] == ["1", "2"]
    # and the model loads by alias with its signature, input example and pinned requirements
    loaded = registries.load_model(registries.model_uri("tiny", alias="champion"))
    assert list(loaded.predict(pd.DataFrame({"a": [10.0], "b": [1.0]}))) == pytest.approx([21.0])
    schema = loaded.metadata.get_input_schema()
    assert schema is not None and schema.input_names() == ["a", "b"]
    assert loaded.metadata.saved_input_example_info is not None
    assert info.signature is not None
    import mlflow.pyfunc

    uri = registries.model_uri("tiny", version=2)
    requirements = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text()
    for pin in registries.requirements():
        assert pin in requirements
    assert "skops==" in requirements


def test_missing_models_versions_and_aliases_say_what_exists(
    tiny: tuple[Any, pd.DataFrame], running: MlflowService
) -> None:
    client = running.client()
    # an empty registry
    with pytest.raises(ModelNotFoundError, match="registered models: none"):
        registries.latest_version(client, "tiny")

    # a registered model without versions
    client.create_registered_model("empty")
    with pytest.raises(ModelNotFoundError, match="'empty' is registered but has no"):
        registries.latest_version(client, "empty")
    with pytest.raises(ModelNotFoundError, match=r"is not registered.*'empty'"):
        registries.get_version(client, "tiny", 1)

    # a model with one version and one alias
    model, features = tiny
    with running.run_context(RunConfig(name="registry")):
        info = registries.log_model(model, signature_input=features, input_example=features.head(1))
        registries.register_model(info.model_uri, "tiny")
    registries.set_alias(client, "tiny", "champion", 1)
    with pytest.raises(
        ModelNotFoundError,
        match=r"model 'tiny' has no version 3; its versions: 1; its aliases: champion -> 1",
    ):
        registries.set_alias(client, "tiny", "champion", 3)
    with pytest.raises(
        ModelNotFoundError, match=r"model 'tiny' has no alias 'prod'; its versions: 1"
    ):
        registries.resolve_version(client, "tiny", alias="prod")


def test_registry_errors_other_than_not_found_propagate(running: MlflowService) -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException) as caught:
        registries.registered_model(running.client(), "")
    assert not isinstance(caught.value, ModelNotFoundError)


@pytest.mark.parametrize(
    ("alias", "problem"),
    [
        ("", "1 to 255"),
        ("has space", "1 to 255"),
        ("a/b", "1 to 255"),
        ("x" * 256, "1 to 255"),
        ("latest", "reserved"),
        ("LATEST", "reserved"),
        ("v3", "reserved"),
    ],
)
def test_aliases_mlflow_refuses_are_refused_first(alias: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        registries.check_alias(alias)


def test_good_aliases_pass() -> None:
    assert registries.check_alias("champion-2_b") == "champion-2_b"
    assert registries.check_alias("version3") == "version3"


def test_model_uri_needs_exactly_one_of_alias_and_version() -> None:
    assert registries.model_uri("m", alias="champion") == "models:/m@champion"
    assert registries.model_uri("m", version=4) == "models:/m/4"
    for kwargs in ({}, {"alias": "champion", "version": 4}):
        with pytest.raises(ValueError, match="exactly one"):
            registries.model_uri("m", **kwargs)  # type: ignore[arg-type]


def test_requirements_pin_installed_distributions_and_skip_missing_ones() -> None:
    import sklearn

    pins = registries.requirements(("scikit-learn", "no-such-distribution-here"))

    assert pins == [f"scikit-learn=={sklearn.__version__}"]
