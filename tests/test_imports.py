"""Who may import whom inside model_name: the layers of the README's "Layout", enforced.

The rules are written out here by hand; the test reads every module's imports (top-level and
inside functions) with `ast`, so a lazy import is held to the same rules as an eager one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import model_name

PACKAGE = Path(model_name.__file__).parent

ALLOWED: dict[str, set[str]] = {
    # plain helpers: no services, no jobs
    "errors": set(),
    "redaction": set(),
    "gates": set(),
    "explainers": set(),
    "signals": {"errors"},
    "yaml_limits": {"errors"},
    # the configuration's models and layers (settings reads its sources lazily, at validation)
    "settings": {"sources"},
    "layers": {"errors", "settings", "yaml_limits"},
    "sources": {"layers"},
    # the tracking machinery (outbox, sender, heartbeat, reaper, stores, run records), then the
    # services that hold it, then jobs built on them
    "tracking": {"errors", "redaction", "settings"},
    "io": {"errors", "redaction", "settings", "signals", "tracking"},
    "jobs": {"errors", "explainers", "gates", "io", "settings", "signals"},
    # the wiring, and what drives it
    "configuration": {"errors", "jobs", "settings", "sources"},
    "containers": {"configuration", "io", "jobs", "settings"},
    "runs": {"errors", "io", "redaction", "settings", "tracking"},
    "testing": {"configuration", "containers", "io"},
    "cli": {
        "configuration",
        "containers",
        "errors",
        "io",
        "jobs",
        "redaction",
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


def test_the_services_are_imported_from_their_package_only() -> None:
    # the rule of io/services/__init__.py: outside the package, never one of its modules
    services = PACKAGE / "io" / "services"
    reaching_in = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(services):
            continue
        modules = {
            module
            for module in imported_modules(path)
            if module.startswith("model_name.io.services.")
        }
        if modules:
            reaching_in[str(path.relative_to(PACKAGE))] = sorted(modules)

    assert reaching_in == {}


def imported_modules(path: Path) -> set[str]:
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
