"""What a step depends on, as hashes: its job, settings, code, input files and upstream steps.

A step's fingerprint is the SHA-256 of its parts, each a hash of its own (kept as run tags, so
`--dry-run` can say which part changed):

- `job`: the job's kind;
- `config`: its parameters (section + overrides), secret keys left out (`is_secret_key`), and the
  service settings that change its outcome: `mlflow.registry_name` and `optuna.storage` (its
  password masked); `alert_on` is left out (who hears of a step, not what it computes);
- `code`: the package's version, Python's, the source of the job's module and of every module of
  its package (and of `model_name`) it imports, transitively, found by reading their `import`
  statements (`ast`), and the versions of the distributions those modules import (scikit-learn,
  MLflow, ...). A line changed in `jobs/training.py` or in `io/datasets.py` changes it; a line
  in a module the job never imports does not;
- `inputs`: every parameter naming an existing file (its `outputs` excepted) by `file_digest`;
- `state`: what the step reads from shared state, resolved now (`model_name.pipelines.outputs`);
- `upstream`: each step before it, by name, fingerprint and outputs.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import json
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from model_name.redaction import mask_url
from model_name.settings import is_secret_key

FULL_HASH_BYTES = 64 * 2**20
"""Files up to this size are hashed whole; larger ones are sampled (see `file_digest`)."""
EDGE_BYTES = 2**20
"""A sampled file's first and last bytes hashed (a Parquet file's footer: its schema, row groups
and column statistics, all of which move when the data changes)."""
SAMPLE_BLOCKS = 64
"""A sampled file's blocks in between, evenly spaced."""
SAMPLE_BYTES = 64 * 2**10
"""The size of each sampled block."""
UNFINGERPRINTED_PARAMS = frozenset({"alert_on"})
"""Parameters that change who hears about a step, not what it computes."""
OUTPUT_PARAMS = frozenset({"outputs"})
"""Parameters naming what a step writes, not what it reads."""


def digest(value: Any) -> str:
    """Return the SHA-256 of a JSON-able value, keys sorted: the same value, the same digest."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: Path) -> str:
    """Return a cheap fingerprint of a file's content: its size and a BLAKE2b of its bytes.

    Up to `FULL_HASH_BYTES` (64 MiB) the whole file is hashed. Beyond, its first and last MiB
    and 64 blocks of 64 KiB evenly spaced in between (6 MiB read whatever the size: about 0.05 s
    for 500 MB, see benchmarks/bench_pipelines.py); a change of the same size that touches none of
    those bytes would be missed, so give such a file a new name or use `--force`. Its modification
    time is not part of it: touching a file reruns nothing.
    """
    size = path.stat().st_size
    hasher = hashlib.blake2b(str(size).encode(), digest_size=20)
    with path.open("rb") as handle:
        if size <= FULL_HASH_BYTES:
            for block in iter(lambda: handle.read(2**20), b""):
                hasher.update(block)
            return f"{size}:{hasher.hexdigest()}"
        hasher.update(handle.read(EDGE_BYTES))
        span = size - 2 * EDGE_BYTES - SAMPLE_BYTES
        for index in range(SAMPLE_BLOCKS):
            handle.seek(EDGE_BYTES + span * index // max(SAMPLE_BLOCKS - 1, 1))
            hasher.update(handle.read(SAMPLE_BYTES))
        handle.seek(size - EDGE_BYTES)
        hasher.update(handle.read(EDGE_BYTES))
    return f"{size}:sampled:{hasher.hexdigest()}"


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
    file), the versions of the distributions they import, the package's version and Python's.

    Args:
        module: the job class's `__module__`.
        cache: a dict shared by the steps of one pipeline run: each module is read and parsed
            once, each distribution's version looked up once.
    """
    cache = {} if cache is None else cache
    packages = {module.split(".", maxsplit=1)[0], "model_name"}
    modules = module_closure(module, packages, cache.setdefault("modules", {}))
    third_party = sorted(set().union(*(info.tops for info in modules.values())) - packages)
    return digest(
        {
            "sources": {name: info.digest for name, info in modules.items()},
            "distributions": distribution_versions(third_party, cache),
            "python": sys.version,
            "package": _package_version(),
        }
    )


@dataclasses.dataclass(frozen=True)
class ModuleInfo:
    """What the code fingerprint needs of one module: its source's digest and its imports."""

    digest: str
    imports: tuple[str, ...]
    tops: frozenset[str]


def module_closure(
    root: str, packages: set[str], parsed: dict[str, ModuleInfo | None]
) -> dict[str, ModuleInfo]:
    """Return `root` and every module of `packages` it imports, transitively, by name."""
    found: dict[str, ModuleInfo] = {}
    waiting = [root]
    while waiting:
        name = waiting.pop()
        if name in found:
            continue
        if name not in parsed:
            parsed[name] = _parse(name)
        info = parsed[name]
        if info is None:
            continue
        found[name] = info
        for imported in info.imports:
            parts = imported.split(".")
            if parts[0] in packages:
                # importing a.b.c runs a/__init__.py and a/b/__init__.py too
                waiting += [".".join(parts[: i + 1]) for i in range(len(parts))]
    return dict(sorted(found.items()))


def _parse(name: str) -> ModuleInfo | None:
    path = _source_path(name)
    if path is None:
        return None
    text = path.read_text(encoding="utf-8", errors="replace")
    tree = ast.parse(text)
    return ModuleInfo(
        hashlib.sha256(text.encode()).hexdigest(),
        tuple(imported_modules(tree, name, path.name == "__init__.py")),
        frozenset(imported_top_levels(tree)),
    )


def imported_modules(source: str | ast.AST, module: str, is_package: bool = False) -> list[str]:
    """Return the modules a source imports (absolute names; `from a import b` gives a and a.b)."""
    tree = ast.parse(source) if isinstance(source, str) else source
    package = module if is_package else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.append(base)
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
    return [name for name in names if name]


def imported_top_levels(source: str | ast.AST) -> set[str]:
    """Return the top-level names of a source's absolute imports, but the standard library's."""
    tree = ast.parse(source) if isinstance(source, str) else source
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            tops.add(node.module.split(".")[0])
    return tops - set(sys.stdlib_module_names) - {"__future__"}


def distribution_versions(tops: Iterable[str], cache: dict[str, Any]) -> dict[str, str]:
    """Return the installed version of the distribution of each top-level import name."""
    if "distributions" not in cache:
        cache["distributions"] = metadata.packages_distributions()
    by_top: Mapping[str, list[str]] = cache["distributions"]
    known: dict[str, str] = cache.setdefault("versions", {})
    versions = {}
    for top in tops:
        for distribution in by_top.get(top, []):
            if distribution not in known:
                try:
                    known[distribution] = metadata.version(distribution)
                except metadata.PackageNotFoundError:
                    known[distribution] = "unknown"
            versions[distribution] = known[distribution]
    return dict(sorted(versions.items()))


def _source_path(name: str) -> Path | None:
    """Return the `.py` file of a module, or None when it is not a module of files."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    path = Path(spec.origin)
    return path if path.is_file() else None


def step_fingerprint(parts: Mapping[str, str]) -> str:
    """Return a step's fingerprint from its parts' digests."""
    return digest(dict(parts))


def _package_version() -> str:
    try:
        return metadata.version("model_name")
    except metadata.PackageNotFoundError:  # a source tree never installed: its sources say it
        return "unknown"
