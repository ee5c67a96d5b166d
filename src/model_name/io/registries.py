"""Saving, registering, finding and loading models in the MLflow model registry.

The jobs never call the registry API themselves: they log a model with `log_model`, register it
with `register_model`, move an alias with `set_alias`, find a version with `resolve_version` (or
`get_version`, `latest_version`) and load it with `load_model`. A model or version that does not
exist raises `ModelNotFoundError`, whose message names the model, what was asked and what exists.

MLflow is imported inside the functions, so importing this module stays cheap. The functions use
the tracking and registry URIs that `MlflowService.start()` set, or the client they are given.

Example:
    info = log_model(pipeline, name="model", signature_input=features)
    version = register_model(info.model_uri, "model_name")
    set_alias(client, "model_name", "champion", int(version.version))
    model = load_model(model_uri("model_name", alias="champion"))
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import pydantic as pdt

from model_name.errors import ModelNotFoundError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.models.model import ModelInfo
    from mlflow.pyfunc import PyFuncModel

REQUIREMENTS = ("mlflow", "scikit-learn", "skops", "numpy", "pandas", "scipy")
"""The distributions a logged scikit-learn model needs to be loaded again, pinned at logging."""

SERIALIZATION_FORMAT = "skops"
"""How models are saved: skops, which loads without running arbitrary code (unlike pickle)."""

INPUT_EXAMPLE_ROWS = 5
"""How many rows of the signature input are kept as the model's input example by default."""

_RESERVED_ALIAS = re.compile(r"^(latest|[vV]\d+)$", re.IGNORECASE)


def check_alias(alias: str) -> str:
    """Return the alias if MLflow accepts it: letters, digits, `_`, `-`, not `latest` nor `v<N>`.

    Args:
        alias: a registered model alias, such as `champion`.

    Raises:
        ValueError: the alias is empty, too long, has other characters or is reserved.
    """
    if not re.fullmatch(r"[\w\-]{1,255}", alias):
        raise ValueError(
            f"alias '{alias}' must be 1 to 255 letters, digits, underscores (_) or dashes (-)"
        )
    if _RESERVED_ALIAS.match(alias):
        raise ValueError(f"alias '{alias}' is reserved by MLflow ('latest' and 'v<number>')")
    return alias


Alias = Annotated[str, pdt.AfterValidator(check_alias)]
"""A pydantic field type: a registered model alias MLflow accepts, checked when a job is built."""


def model_uri(name: str, *, alias: str | None = None, version: int | None = None) -> str:
    """Return the registry URI of a model version: `models:/<name>@<alias>` or `/<version>`.

    Args:
        name: the registered model's name.
        alias: the alias to point at (give this or `version`).
        version: the version number to point at (give this or `alias`).

    Raises:
        ValueError: neither or both of `alias` and `version` were given.

    Example:
        >>> model_uri("model_name", alias="champion")
        'models:/model_name@champion'
        >>> model_uri("model_name", version=3)
        'models:/model_name/3'
    """
    if (alias is None) == (version is None):
        raise ValueError("give exactly one of alias and version")
    return f"models:/{name}@{alias}" if version is None else f"models:/{name}/{version}"


def requirements(names: tuple[str, ...] = REQUIREMENTS) -> list[str]:
    """Return pinned pip requirements (`name==version`) for the installed distributions.

    Giving them to MLflow saves the 4-6 s subprocess it otherwise runs to infer them.

    Args:
        names: distribution names; those not installed are left out.
    """
    pins = []
    for name in names:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def conda_environment(pins: list[str]) -> dict[str, Any]:
    """Return the model's environment as MLflow's `conda_env`: this Python, pip, and the pins.

    Example:
        >>> environment = conda_environment(["scikit-learn==1.6.1"])
        >>> environment["dependencies"][1:]
        ['pip', {'pip': ['scikit-learn==1.6.1']}]
    """
    import platform

    python = f"python={platform.python_version()}"
    return {
        "name": "mlflow-env",
        "channels": ["conda-forge"],
        "dependencies": [python, "pip", {"pip": list(pins)}],
    }


def log_model(
    model: Any,
    *,
    name: str = "model",
    signature_input: Any,
    signature_output: Any | None = None,
    input_example: Any | None = None,
    pip_requirements: list[str] | None = None,
    trusted_types: list[str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> ModelInfo:
    """Log a fitted scikit-learn model to the active run, with a signature and an input example.

    The model is saved in the skops format (safe to load) with pinned requirements, which spares
    MLflow the 4-6 s subprocess it would run to infer them.

    Args:
        model: the fitted estimator or pipeline.
        name: the model's name within the run.
        signature_input: model inputs (a DataFrame) the signature's input schema is inferred from.
        signature_output: matching outputs; `None` means `model.predict(signature_input)`.
        input_example: the example stored with the model; `None` means the first rows of
            `signature_input`.
        pip_requirements: the model's requirements; `None` pins `REQUIREMENTS` as installed.
        trusted_types: types beyond skops' defaults that loading the model may create, such as
            `sklearn.tree._tree.Tree` for tree models (see skops' `get_untrusted_types`). List
            only the types of models you built yourself: they are trusted when loading.
        tags: tags of the logged model.

    Returns:
        The logged model's information: `model_uri`, `model_id`, `signature`, ...
    """
    import mlflow.sklearn
    from mlflow.models import infer_signature

    if signature_output is None:
        signature_output = model.predict(signature_input)
    if input_example is None:
        input_example = signature_input[:INPUT_EXAMPLE_ROWS]
    info: ModelInfo = mlflow.sklearn.log_model(
        model,
        name=name,
        serialization_format=SERIALIZATION_FORMAT,
        skops_trusted_types=trusted_types,
        signature=infer_signature(signature_input, signature_output),
        input_example=input_example,
        # The whole environment, not just pip_requirements: from those MLflow writes conda.yaml
        # itself, asking for pip's version, which a uv environment has not got (a WARNING).
        conda_env=conda_environment(
            requirements() if pip_requirements is None else pip_requirements
        ),
        tags=dict(tags or {}),
    )
    return info


def register_model(
    model_uri: str, name: str, *, tags: Mapping[str, str] | None = None
) -> ModelVersion:
    """Register a logged model as a new version of a registered model (created when missing).

    Args:
        model_uri: the logged model's URI (`ModelInfo.model_uri`, or `runs:/<run_id>/<name>`).
        name: the registered model's name.
        tags: tags of the new version.

    Returns:
        The new version; `int(version.version)` is its number.
    """
    import mlflow

    return mlflow.register_model(model_uri, name, tags=dict(tags or {}))


def registered_model(client: MlflowClient, name: str) -> RegisteredModel:
    """Return a registered model, or say which models exist.

    Args:
        client: a client on the registry.
        name: the registered model's name.

    Raises:
        ModelNotFoundError: no model is registered under that name.
    """
    try:
        return client.get_registered_model(name)
    except Exception as error:  # MLflow imported only then: a pipeline's re-run may not need it
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

        if not isinstance(error, MlflowException):
            raise
        if error.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            raise
    names = sorted(model.name for model in client.search_registered_models(max_results=100))
    existing = ", ".join(f"'{other}'" for other in names) or "none"
    raise ModelNotFoundError(
        f"model '{name}' is not registered in the model registry; registered models: {existing}"
    )


def versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    """Return the versions of a registered model, oldest first.

    Args:
        client: a client on the registry.
        name: the registered model's name.

    Raises:
        ModelNotFoundError: no model is registered under that name.
    """
    registered_model(client, name)
    quote = '"' if "'" in name else "'"
    found = client.search_model_versions(f"name = {quote}{name}{quote}")
    return sorted(found, key=lambda version: int(version.version))


def latest_version(client: MlflowClient, name: str) -> ModelVersion:
    """Return the highest-numbered version of a registered model.

    Args:
        client: a client on the registry.
        name: the registered model's name.

    Raises:
        ModelNotFoundError: the model is not registered or has no version.
    """
    found = versions(client, name)
    if not found:
        raise ModelNotFoundError(f"model '{name}' is registered but has no version yet")
    return found[-1]


def get_version(client: MlflowClient, name: str, version: int) -> ModelVersion:
    """Return one version of a registered model, or say which versions exist.

    Args:
        client: a client on the registry.
        name: the registered model's name.
        version: the version number.

    Raises:
        ModelNotFoundError: the model is not registered, or has no such version.
    """
    found = versions(client, name)
    for candidate in found:
        if int(candidate.version) == version:
            return candidate
    raise ModelNotFoundError(
        f"model '{name}' has no version {version}; {_describe(client, name, found)}"
    )


def get_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion:
    """Return the version an alias of a registered model points at, or say which aliases exist.

    Args:
        client: a client on the registry.
        name: the registered model's name.
        alias: the alias, such as `champion`.

    Raises:
        ModelNotFoundError: the model is not registered, or has no such alias.
    """
    model = registered_model(client, name)
    aliases: dict[str, str] = dict(model.aliases or {})
    if alias not in aliases:
        described = _describe(client, name, versions(client, name))
        raise ModelNotFoundError(f"model '{name}' has no alias '{alias}'; {described}")
    return client.get_model_version(name, aliases[alias])


def resolve_version(
    client: MlflowClient, name: str, *, alias: str | None = None, version: int | None = None
) -> ModelVersion:
    """Return the version a job asks for: by number, by alias, or the latest when neither is given.

    Args:
        client: a client on the registry.
        name: the registered model's name.
        alias: an alias to follow (ignored when `version` is given).
        version: a version number (wins over `alias`).

    Raises:
        ModelNotFoundError: the model, version or alias does not exist.
    """
    if version is not None:
        return get_version(client, name, version)
    if alias is not None:
        return get_alias(client, name, alias)
    return latest_version(client, name)


def set_alias(client: MlflowClient, name: str, alias: str, version: int) -> ModelVersion:
    """Point an alias of a registered model at a version (moving it if it pointed elsewhere).

    Args:
        client: a client on the registry.
        name: the registered model's name.
        alias: the alias, such as `champion`.
        version: the version number the alias should point at.

    Returns:
        The version the alias now points at.

    Raises:
        ModelNotFoundError: the model is not registered, or has no such version.
        ValueError: the alias is not one MLflow accepts (see `check_alias`).
    """
    check_alias(alias)
    target = get_version(client, name, version)
    client.set_registered_model_alias(name, alias, str(version))
    return target


def load_model(uri: str) -> PyFuncModel:
    """Load a model as an MLflow pyfunc model, which checks its inputs against the signature.

    Args:
        uri: a model URI: `models:/<name>@<alias>`, `models:/<name>/<version>`, `runs:/...`.

    Returns:
        The model; `predict(frame)` returns its predictions.
    """
    import mlflow.pyfunc

    model: PyFuncModel = mlflow.pyfunc.load_model(uri)
    return model


def _describe(client: MlflowClient, name: str, found: list[ModelVersion]) -> str:
    """Say which versions and aliases a registered model has, for error messages."""
    numbers = ", ".join(str(version.version) for version in found) or "none"
    aliases = dict(registered_model(client, name).aliases or {})
    pointed = ", ".join(f"{alias} -> {number}" for alias, number in sorted(aliases.items()))
    return f"its versions: {numbers}; its aliases: {pointed or 'none'}"


def wanted_version(alias: str | None, version: int | None) -> str:
    """Say which version a job asks for: `version 3`, an alias's, or the latest.

    Example:
        >>> wanted_version(None, 3), wanted_version("champion", None), wanted_version(None, None)
        ('version 3', "the version aliased 'champion'", 'the latest version')
    """
    if version is not None:
        return f"version {version}"
    if alias is not None:
        return f"the version aliased '{alias}'"
    return "the latest version"


def resolve_wanted(
    client: MlflowClient, name: str, alias: str | None, version: int | None, doing: str
) -> ModelVersion:
    """Resolve the version a job asks for; say what the job cannot do when it does not exist.

    Raises:
        ModelNotFoundError: `cannot <doing> <wanted> of model '<name>': <what exists>`.
    """
    try:
        return resolve_version(client, name, alias=alias, version=version)
    except ModelNotFoundError as error:
        wanted = wanted_version(alias, version)
        raise ModelNotFoundError(f"cannot {doing} {wanted} of model '{name}': {error}") from error
