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
    # services, then jobs built on them
    "io": {"errors", "redaction", "settings", "signals"},
    # serving's HTTP parts, used by the serve job
    "serving": {"errors", "io"},
    "jobs": {"errors", "explainers", "gates", "io", "serving", "settings", "signals"},
    # the wiring, and what drives it
    "configuration": {"errors", "jobs", "settings", "sources"},
    "containers": {"configuration", "io", "jobs", "settings"},
    "runs": {"errors", "io", "redaction", "settings"},
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
