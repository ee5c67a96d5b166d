"""Each concept is declared once in the package: the mask, the exit codes, the sample's source.

A second copy drifts from the first (a mask printed as `***` here and `**********` there, an exit
code renamed in one module only); these tests read the package's source with `ast` and name the
module that holds a copy.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import model_name

PACKAGE = Path(model_name.__file__).parent


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield str(path.relative_to(PACKAGE)), ast.parse(path.read_text(encoding="utf-8"))


def docstrings(tree: ast.Module) -> set[int]:
    """The ids of the string constants that are docstrings (examples in them are not code)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for statement in body:
                if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                    found.add(id(statement.value))
    return found


def strings(tree: ast.Module) -> Iterator[str]:
    """The string constants of a module's code, docstrings left out."""
    skipped = docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skipped
        ):
            yield node.value


def assigned_names(tree: ast.Module) -> Iterator[str]:
    """The names a module assigns at its top level."""
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        yield from (target.id for target in targets if isinstance(target, ast.Name))


def test_the_mask_is_written_only_in_redaction() -> None:
    holders = {name for name, tree in modules() if any("***" in text for text in strings(tree))}

    assert holders == {"redaction.py"}


def test_exit_codes_are_declared_only_in_errors() -> None:
    holders = {
        name
        for name, tree in modules()
        if any(assigned.startswith("EXIT_") for assigned in assigned_names(tree))
    }

    assert holders == {"errors.py"}


def test_the_sample_data_set_is_named_only_in_datasets() -> None:
    holders = {
        name for name, tree in modules() if any("load_diabetes" in text for text in strings(tree))
    }

    assert holders == {"io/datasets.py"}


def test_the_rule_reader_skips_docstrings_and_sees_code(tmp_path: Path) -> None:
    source = '"""Example: `http://u:***@h`."""\nMASKED = "***"\nEXIT_X = 3\n'

    tree = ast.parse(source)

    assert list(strings(tree)) == ["***"]
    assert list(assigned_names(tree)) == ["MASKED", "EXIT_X"]


def test_only_the_command_line_writes_error_lines() -> None:
    # `runs` and every other command raise a ModelNameError; cli.main prints it, masked, through
    # the console's one error line
    holders = {name for name, tree in modules() if any("error: " in text for text in strings(tree))}

    assert holders == {"console.py"}
