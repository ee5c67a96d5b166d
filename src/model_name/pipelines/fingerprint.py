"""What a step depends on, as hashes: its job, settings, code, input files and upstream steps.

A step's fingerprint is the SHA-256 of its parts, each a hash of its own (kept as run tags, so
`--dry-run` can say which part changed):

- `job`: the job's kind;
- `config`: its parameters (section + overrides), secret keys left out (`is_secret_key`), and the
  service settings that change its outcome: `mlflow.registry_name` and `optuna.storage` (its
  password masked); `alert_on` is left out (who hears of a step, not what it computes);
- `code`: the package's version, Python's, the source of the job's module and of every module of
  its package (and of `model_name`) it imports, transitively, found by reading their `import`
  statements (`ast`), and every installed distribution's name and version. A line changed in
  `jobs/training.py` or in `io/datasets.py` changes it; a line in a module the job never
  imports does not (a package passed through, `jobs/__init__.py`, counts by its own source);
- `inputs`: every parameter naming an existing file (its `outputs` excepted) by
  `model_name.digests.file_digest`;
- `state`: what the step reads from shared state, resolved now (`model_name.pipelines.outputs`);
- `upstream`: each step before it, by name, fingerprint and outputs.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from model_name.digests import file_digest
from model_name.redaction import is_secret_key, mask_url

UNFINGERPRINTED_PARAMS = frozenset({"alert_on"})
"""Parameters that change who hears about a step, not what it computes."""
OUTPUT_PARAMS = frozenset({"outputs"})
"""Parameters naming what a step writes, not what it reads."""


def digest(value: Any) -> str:
    """Return the SHA-256 of a JSON-able value, keys sorted: the same value, the same digest."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def config_part(params: Mapping[str, Any], settings: Any) -> dict[str, Any]:
    """Return what a step's configuration contributes to its fingerprint.

    Its parameters minus secrets and alerting, and the service settings that change its outcome.
    """
    kept = {
        key: value
        for key, value in params.items()
        if not is_secret_key(key) and key not in UNFINGERPRINTED_PARAMS
    }
    services = {
        "mlflow.registry_name": settings.mlflow.registry_name,
        "optuna.storage": mask_url(settings.optuna.storage),
    }
    return {"params": kept, "services": services}


def input_files(params: Mapping[str, Any], folder: Path | None = None) -> dict[str, str]:
    """Return the fingerprint of every file a step reads: each parameter naming an existing file.

    A parameter naming a missing file is recorded as `missing` (the job will say why it fails).
    """
    found: dict[str, str] = {}
    for key, value in sorted(params.items()):
        if key in OUTPUT_PARAMS or not isinstance(value, str) or not value or "://" in value:
            continue
        path = Path(value) if folder is None else folder / value
        if key == "inputs" or path.suffix in (".csv", ".parquet", ".json", ".yaml", ".txt"):
            found[key] = file_digest(path) if path.is_file() else "missing"
    return found


def code_part(module: str, cache: dict[str, Any] | None = None) -> str:
    """Return the digest of the code that runs a job defined in `module`.

    It covers the sources of `module` and of the modules of its own top-level package and of
    `model_name` it imports, transitively (their `import` statements, wherever they are in the
    file), every installed distribution's name and version, the package's version and Python's.

    Args:
        module: the job class's `__module__`.
        cache: a dict shared by the steps of one pipeline run: each module is read and parsed
            once, the installed distributions listed once.
    """
    cache = {} if cache is None else cache
    packages = {module.split(".", maxsplit=1)[0], "model_name"}
    modules = module_closure(module, packages, cache.setdefault("modules", {}))
    if "distributions" not in cache:
        cache["distributions"] = installed_distributions()
    return digest(
        {
            "sources": {name: info.digest for name, info in modules.items()},
            "distributions": cache["distributions"],
            "python": sys.version,
            "package": _package_version(),
        }
    )


def installed_distributions() -> list[str]:
    """Return the installed distributions as `name-version`, from their `.dist-info` folders.

    Every library, not only the ones a job imports: scikit-learn's own dependencies (NumPy,
    SciPy) change its results too. Upgrading any of them reruns every step: never stale.
    Listing the folders costs a millisecond; reading each one's metadata would cost 0.2-1 s.
    """
    found = set()
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file, a missing folder
            continue
        found |= {name.removesuffix(".dist-info") for name in names if name.endswith(".dist-info")}
    return sorted(found)


@dataclasses.dataclass(frozen=True)
class ModuleInfo:
    """What the code fingerprint needs of one module: its source's digest and its imports.

    Attributes:
        digest: the SHA-256 of its source.
        imports: the modules whose code it uses, absolute (`from a import f`: `a`).
        parents: the packages it imports only to reach a submodule (`from a import b`, `b`
            a module; `import a.b`): their `__init__.py` runs, but what they import is not used.
    """

    digest: str
    imports: tuple[str, ...]
    parents: tuple[str, ...]


def module_closure(
    root: str, packages: set[str], parsed: dict[str, ModuleInfo | None]
) -> dict[str, ModuleInfo]:
    """Return `root` and the modules of `packages` it uses, transitively, by name.

    A module whose code is used brings in what it imports; a package only passed through on the
    way to a submodule brings in its own source (`__init__.py` runs), not what it imports: a
    line changed in `jobs/training.py` does not rerun the tuning step because `jobs/__init__.py`
    imports both.
    """
    found: dict[str, ModuleInfo] = {}
    followed: set[str] = set()
    waiting = [(root, True)]
    while waiting:
        name, follow = waiting.pop()
        if name in followed or (name in found and not follow):
            continue
        if name not in parsed:
            parsed[name] = _parse(name, packages)
        info = parsed[name]
        if info is None:
            continue
        found[name] = info
        parts = name.split(".")
        waiting += [(".".join(parts[:i]), False) for i in range(1, len(parts))]
        if follow:
            followed.add(name)
            waiting += [(module, True) for module in info.imports]
            waiting += [(module, False) for module in info.parents]
    return dict(sorted(found.items()))


def _parse(name: str, packages: set[str]) -> ModuleInfo | None:
    path = _source_path(name)
    if path is None:
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    imports, parents = [], []
    for module in imported_modules(text, name, path.name == "__init__.py"):
        if module.split(".", maxsplit=1)[0] not in packages:
            continue
        package = module.rpartition(".")[0]
        if not package or _source_path(module) is not None:  # a module: b of `from a import b`
            imports.append(module)
        else:  # a function or a class of module `package`: that module's code is used
            imports.append(package)
    used = set(imports)
    for module in used:
        parents += [p for p in _packages_above(module) if p not in used]
    return ModuleInfo(
        hashlib.sha256(text.encode()).hexdigest(),
        tuple(sorted(used)),
        tuple(sorted(set(parents))),
    )


def _packages_above(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(source: str, module: str, is_package: bool = False) -> list[str]:
    """Return what a source imports, absolute: `import a.b` gives a.b, `from a import b` a.b.

    `a.b` may be a module or a name defined in module `a`: the caller tells them apart.
    """
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in _statements(ast.parse(source).body):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            stars = [alias for alias in node.names if alias.name == "*"]
            names += [base] if stars else []
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
    return [name for name in names if name]


def _statements(nodes: list[Any]) -> Iterator[ast.AST]:
    """Yield every statement, nested ones included (an import is a statement).

    Expressions are not visited (no statement is inside one): a tenth of `ast.walk`'s nodes.
    """
    for node in nodes:
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(node, field, None)
            if isinstance(children, list):
                yield from _statements(children)


def _source_path(name: str) -> Path | None:
    """Return the `.py` file of a module of a package, or None when there is none.

    Only the top-level package is looked up (importing nothing new: it is the job's own, or
    `model_name`); below it, a module is a file or a folder with `__init__.py`, looked for on
    disk, so `from a.b import SomeClass` costs two `stat` calls, not an import.
    """
    top, _, rest = name.partition(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    base = Path(spec.origin).parent if spec.submodule_search_locations else None
    if not rest:
        return Path(spec.origin)
    if base is None:
        return None
    path = base.joinpath(*rest.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def step_fingerprint(parts: Mapping[str, str]) -> str:
    """Return a step's fingerprint from its parts' digests."""
    return digest(dict(parts))


def _package_version() -> str:
    try:
        return metadata.version("model_name")
    except metadata.PackageNotFoundError:  # a source tree never installed: its sources say it
        return "unknown"
