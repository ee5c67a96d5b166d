"""Who may import whom inside model_name: the layers of the README's "Layout", and no cycle.

The rules are written out here by hand; the test reads every module's imports (top-level, inside
functions and under `TYPE_CHECKING`) with `ast`, so a lazy import is held to the same rules as an
eager one. Beside the rules between parts, no module may reach itself back through its imports:
a lazy import only hides a cycle until the day someone moves it to the top of the file.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import model_name

PACKAGE = Path(model_name.__file__).parent

ALLOWED: dict[str, set[str]] = {
    # plain helpers: no services, no jobs
    "errors": set(),
    "redaction": set(),
    "console": {"redaction"},
    "gates": set(),
    "explainers": set(),
    "digests": set(),
    "signals": {"errors"},
    "yaml_limits": {"errors"},
    # the configuration's models and layers (settings reads its sources lazily, at validation)
    "pipeline_settings": set(),
    "settings": {"pipeline_settings", "renamed_keys", "sources"},
    "layers": {"errors", "redaction", "yaml_limits"},
    "sources": {"layers", "renamed_keys"},
    "renamed_keys": {"errors", "layers"},
    # the tracking machinery (outbox, sender, heartbeat, reaper, stores, run records), then the
    # services that hold it, then jobs built on them
    "tracking": {"errors", "redaction", "settings"},
    # data contracts and lineage: below io, whose input checks use them
    "contracts": {"digests", "errors"},
    "io": {"contracts", "errors", "redaction", "settings", "signals", "tracking"},
    # serving's HTTP parts, used by the serve job
    "serving": {"contracts", "errors", "io"},
    # inference in batches: sources, part files and resume, the local and Dask engines
    "batches": {"errors", "io"},
    "jobs": {
        "batches",
        "contracts",
        "errors",
        "explainers",
        "gates",
        "io",
        "serving",
        "settings",
        "signals",
    },
    # the wiring, and what drives it
    "configuration": {"errors", "jobs", "renamed_keys", "settings", "sources"},
    "lifecycle": {"io"},
    "containers": {"configuration", "io", "jobs", "lifecycle", "settings"},
    "runs": {"errors", "io", "redaction", "settings", "tracking"},
    "data": {"batches", "configuration", "contracts", "errors", "io", "runs", "settings"},
    "entrypoint": {"containers", "jobs"},
    "testing": {"configuration", "containers", "io"},
    # pipelines: steps, fingerprints, reuse and resume, run with the container's services
    "pipelines": {
        "console",
        "configuration",
        "containers",
        "digests",
        "errors",
        "gates",
        "io",
        "jobs",
        "lifecycle",
        "pipeline_settings",
        "redaction",
        "settings",
        "signals",
    },
    "cli": {
        "console",
        "configuration",
        "containers",
        "data",
        "entrypoint",
        "errors",
        "lifecycle",
        "io",
        "jobs",
        "pipelines",
        "redaction",
        "renamed_keys",
        "runs",
        "signals",
        "tracking",
    },
    "__main__": {"cli"},
}
"""For each part of the package (a top-level module, or `io` and `jobs` as wholes): what it may
import. Nothing may import `cli`; `io` never imports `jobs`; a job never imports the container."""


def part_of(module: str) -> str:
    """`model_name.io.services.tracking` -> `io`; `model_name.cli` -> `cli`."""
    return module.split(".")[1]


def imported_parts(path: Path) -> set[str]:
    """The parts of model_name a source file imports, itself left out."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "model_name":  # `from model_name import gates`
                names = [f"model_name.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {part_of(name) for name in names if name.startswith("model_name.")}
    return found


def module_part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def test_every_part_of_the_package_has_a_rule() -> None:
    parts = {module_part(path) for path in PACKAGE.rglob("*.py")} - {"__init__"}

    assert parts == set(ALLOWED)


def test_each_part_imports_only_what_its_layer_allows() -> None:
    broken = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        part = module_part(path)
        if part == "__init__":
            continue
        extra = imported_parts(path) - ALLOWED[part] - {part}
        if extra:
            broken[str(path.relative_to(PACKAGE))] = sorted(extra)

    assert broken == {}


def test_the_rule_reader_sees_lazy_and_package_level_imports(tmp_path: Path) -> None:
    # given a module importing three ways, one of them inside a function
    source = tmp_path / "example.py"
    source.write_text(
        "from model_name import gates\n"
        "import model_name.io.services.tracking\n"
        "def later():\n"
        "    from model_name.jobs.base import Job\n"
    )

    # then each import counts
    assert imported_parts(source) == {"gates", "io", "jobs"}


# --- no cycle between modules ---------------------------------------------------------------


def module_name(path: Path, root: Path) -> str:
    """`<root>/io/services/tracking.py` -> `model_name.io.services.tracking` (root's name first)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path, modules: set[str]) -> set[str]:
    """The modules of the package a source file imports: `from a.b import c` is `a.b.c` when
    that is a module, else `a.b`; relative imports are resolved from the file's package."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return (found & modules) - {here}


def import_graph(root: Path) -> dict[str, set[str]]:
    """Each module of the package under `root`, and the package's modules it imports."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    modules = set(paths)
    return {name: imported_modules(path, root, modules) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """Every module that reaches itself back, as the shortest such path: `a -> b -> a`."""
    found: set[str] = set()
    for start in sorted(graph):
        came_from: dict[str, str] = {}
        queue = deque([start])
        while queue:
            module = queue.popleft()
            for imported in sorted(graph[module]):
                if imported == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    loop = [start, *reversed(path[:-1])]
                    first = loop.index(min(loop))  # one spelling per cycle, whoever starts it
                    loop = loop[first:] + loop[:first]
                    found.add(" -> ".join([*loop, loop[0]]))
                    queue.clear()
                    break
                if imported not in came_from and imported != start:
                    came_from[imported] = module
                    queue.append(imported)
    return sorted(found)


def test_no_module_imports_itself_back() -> None:
    assert cycles(import_graph(PACKAGE)) == []


def test_the_cycle_finder_sees_a_cycle_closed_by_a_lazy_import(tmp_path: Path) -> None:
    # given the cycle the configuration once had: layers -> settings, settings -> sources only
    # inside a function, sources -> layers
    root = tmp_path / "model_name"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "layers.py").write_text("from model_name.settings import is_secret_key\n")
    (root / "settings.py").write_text(
        "def sources():\n    from model_name.sources import layer_sources\n"
    )
    (root / "sources.py").write_text("from model_name.layers import Layer\n")
    (root / "errors.py").write_text("")
    (root / "cli.py").write_text("from . import errors\nimport model_name.sources\n")

    # when the finder reads the package
    graph = import_graph(root)

    # then it sees each import (relative ones too) and names the cycle once
    assert graph["model_name.cli"] == {"model_name.errors", "model_name.sources"}
    assert cycles(graph) == [
        "model_name.layers -> model_name.settings -> model_name.sources -> model_name.layers"
    ]


def test_the_services_are_imported_from_their_package_only() -> None:
    # the rule of io/services/__init__.py: outside the package, never one of its modules
    services = PACKAGE / "io" / "services"
    reaching_in = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(services):
            continue
        modules = {
            module
            for module in modules_imported_by(path)
            if module.startswith("model_name.io.services.")
        }
        if modules:
            reaching_in[str(path.relative_to(PACKAGE))] = sorted(modules)

    assert reaching_in == {}


def modules_imported_by(path: Path) -> set[str]:
    """The modules a source file imports from (`from X import y` counts `X`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_nothing_reaches_into_the_tracking_machinery_for_a_private_name() -> None:
    # an underscore name is its module's own: imported elsewhere, it is a hidden contract
    tracking = PACKAGE / "tracking"
    private = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            into = node.module.startswith("model_name.tracking")
            if not (into or path.is_relative_to(tracking)) or not node.module.startswith(
                "model_name"
            ):
                continue
            names = [alias.name for alias in node.names if alias.name.startswith("_")]
            if names:
                private[str(path.relative_to(PACKAGE))] = names

    assert private == {}
