"""Configuration keys that were renamed: still read under their old names for one release.

`RENAMED_KEYS` maps each old key path to its new one. `rename_old_keys` moves what a layer sets
under an old key (its value and its origin) to the new key, and warns with one line naming the
old key, where it was given and the new key. The configuration's sources apply it to every layer
alike (files, `MODEL_NAME_...` variables, `--set` flags), so validation, `config show` and the
services only ever see the new names. `rename_old_arguments` applies the same rule to settings and
services built in Python (`MlflowService(reap_stale_runs=False)`).

Example:
    >>> import warnings
    >>> from model_name.layers import override_layer
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     layer = rename_old_keys(override_layer(["mlflow.reap_stale_runs=false"]))
    >>> layer.values, layer.origins
    ({'mlflow': {'reaping': 'false'}}, {('mlflow', 'reaping'): '--set mlflow.reap_stale_runs'})
    >>> str(caught[0].message).partition(" is deprecated: ")[2]
    'use mlflow.reaping; the old key stops working in the next release'
"""

from __future__ import annotations

import warnings
from typing import Any

from model_name.errors import ConfigurationError
from model_name.layers import ENV_PREFIX, KeyPath, Layer

AUTOLOG_OPTIONS = (
    "disable",
    "disable_for_unsupported_versions",
    "exclusive",
    "log_input_examples",
    "log_model_signatures",
    "log_models",
    "log_datasets",
    "silent",
)
"""The options of `mlflow.autolog()` in the `mlflow.autolog` section (once `autolog_<option>`)."""

RENAMED_KEYS: dict[KeyPath, KeyPath] = {
    # the channels' budget, beside `alerts.timeout` (the seeds' seconds on screen)
    ("alerts", "timeout_seconds"): ("alerts", "channels_timeout_seconds"),
    # a setting, not a function: whether `start()` reaps
    ("mlflow", "reap_stale_runs"): ("mlflow", "reaping"),
    # the same idea and the same name as `optuna.grace_period_seconds`
    ("mlflow", "reap_grace_seconds"): ("mlflow", "grace_period_seconds"),
    **{
        ("mlflow", f"autolog_{option}"): ("mlflow", "autolog", option) for option in AUTOLOG_OPTIONS
    },
}
"""Each old key path, and the key path that replaced it."""


class DeprecatedKeyWarning(FutureWarning):
    """A configuration gave a key under its old name (a `FutureWarning`: shown by default)."""


def rename_old_keys(layer: Layer) -> Layer:
    """Return a layer with what it set under old keys moved to the new keys, warning for each.

    Raises:
        ConfigurationError: the layer sets one setting under both its old and its new name.
    """
    if not any(_parent(layer.values, old) is not None for old in RENAMED_KEYS):
        return layer
    values = _copy_mappings(layer.values)
    origins = dict(layer.origins)
    for old, new in RENAMED_KEYS.items():
        parent = _parent(values, old)
        if parent is None:
            continue
        where = _origin(origins, old)
        target = _parent(values, new, create=True)
        if target is None:  # the new key's section given as something else than a mapping
            raise ConfigurationError(
                f"{_dotted(old)} (from {where}): {_dotted(new[:-1])} (from "
                f"{_origin(origins, new[:-1])}) should map keys to values"
            )
        if new[-1] in target:
            raise ConfigurationError(
                f"{_dotted(old)} (from {where}) and {_dotted(new)} (from {_origin(origins, new)}) "
                f"are one setting under its old and new name: keep {_dotted(new)} only"
            )
        target[new[-1]] = parent.pop(old[-1])
        for path in [path for path in origins if path[: len(old)] == old]:
            origins[new + path[len(old) :]] = origins.pop(path)
        warnings.warn(_deprecation(old, new, where), DeprecatedKeyWarning, stacklevel=2)
    return Layer(values, origins)


def rename_old_arguments(section: str, owner: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Return a section's keyword arguments with old keys renamed, warning for each.

    The same rule for settings built in Python (`MlflowService(reap_stale_runs=False)`).

    Args:
        section: the configuration section the arguments are (`mlflow`).
        owner: the class given them, named in the warning (`MlflowService`).
        arguments: the keyword arguments, as given.
    """
    if not any(old[0] == section and old[1] in arguments for old in RENAMED_KEYS):
        return arguments
    origins: dict[KeyPath, str] = {(section, key): f"{owner}({key}=...)" for key in arguments}
    renamed = rename_old_keys(Layer({section: dict(arguments)}, origins))
    values: dict[str, Any] = renamed.values[section]
    return values


def _deprecation(old: KeyPath, new: KeyPath, where: str) -> str:
    """The warning's one line: the old key, where it was given, and the new key to write."""
    use = _dotted(new)
    if where.startswith("environment variable"):
        use += f" ({ENV_PREFIX}{'__'.join(new).upper()})"
    return (
        f"{_dotted(old)} (from {where}) is deprecated: use {use}; "
        "the old key stops working in the next release"
    )


def _copy_mappings(values: dict[str, Any]) -> dict[str, Any]:
    """Copy the nested mappings a rename may change, and only them: values are not copied."""
    return {
        key: _copy_mappings(value) if isinstance(value, dict) else value
        for key, value in values.items()
    }


def _parent(values: dict[str, Any], path: KeyPath, create: bool = False) -> dict[str, Any] | None:
    """Return the mapping that holds (or, with `create`, may hold) a key path's last part."""
    target: Any = values
    for part in path[:-1]:
        if create and isinstance(target, dict) and part not in target:
            target[part] = {}
        target = target.get(part) if isinstance(target, dict) else None
    if not isinstance(target, dict) or (not create and path[-1] not in target):
        return None
    return target


def _origin(origins: dict[KeyPath, str], path: KeyPath) -> str:
    """Return where a key path was given: its own origin, or the nearest section's."""
    for end in range(len(path), 0, -1):
        if path[:end] in origins:
            return origins[path[:end]]
    return "default"


def _dotted(path: KeyPath) -> str:
    return ".".join(path)
