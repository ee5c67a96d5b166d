"""Read configuration YAML within bounds: size, nesting depth, aliases and their expansion.

A configuration file is small and flat; a hostile one is not. A "billion laughs" file (nine
anchors, each a list of nine aliases to the previous one: 525 bytes) composes into a tiny graph
whose expansion has a billion leaves, and walking it takes minutes and gigabytes; a few thousand
nested brackets raise RecursionError inside PyYAML. Every file and every flow-style value given as
text (`--set`, environment variables) is read here, and refused in one line, in bounded time and
memory, before anything else happens:

| limit | value | why |
|---|---|---|
| `MAX_FILE_BYTES` | 1 MiB | `containers.yaml` is 2 KiB; stops `/dev/zero`, a log given by mistake |
| `MAX_DEPTH` | 32 | the deepest setting is 3 levels; Python's recursion limit is 1000 |
| `MAX_ALIASES` | 100 | anchors and aliases are legitimate for sharing a few sections |
| `MAX_NODES` | 10 000 | values after aliases are expanded (the default file has about 60) |

Example:
    >>> safe_load_bounded("[a, b]", "--set x")
    ['a', 'b']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from model_name.errors import ConfigurationError

MAX_FILE_BYTES = 1024 * 1024
"""The largest configuration file read (bytes)."""

MAX_DEPTH = 32
"""The deepest nesting of mappings and lists in a file or a value."""

MAX_ALIASES = 100
"""The most aliases (`*name`) in a file or a value."""

MAX_NODES = 10_000
"""The most values (mappings, lists and scalars) in a file or a value once aliases are expanded."""


class BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting depth and aliases while it composes a document.

    It refuses a document nested deeper than `MAX_DEPTH` or with more than `MAX_ALIASES` aliases
    before any recursion can run away.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose one node, counting aliases and nesting depth."""
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _LimitError(mark, f"more than {MAX_ALIASES} aliases (*name)")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _LimitError(mark, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _LimitError(yaml.YAMLError):
    def __init__(self, mark: yaml.Mark | None, problem: str) -> None:
        super().__init__(problem)
        self.problem_mark = mark
        self.problem = problem


def read_text_bounded(path: Path) -> str:
    """Read a configuration file's text, refusing one larger than `MAX_FILE_BYTES`.

    Raises:
        ConfigurationError: the file is too large.
        OSError, UnicodeDecodeError: the file cannot be read, or is not UTF-8.
    """
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)  # never more: the file may be endless (/dev/zero)
    if len(data) > MAX_FILE_BYTES:
        raise ConfigurationError(
            f"configuration file {path} is larger than {MAX_FILE_BYTES // 1024} KiB, the limit "
            "for a configuration file"
        )
    return data.decode("utf-8")


def compose_bounded(text: str, where: str) -> yaml.Node | None:
    """Compose a YAML document into its node graph, within every limit.

    Args:
        text: the document.
        where: what it is (a file path, `--set key`), to name in an error.

    Raises:
        ConfigurationError: invalid YAML, or beyond a limit, with the line and column.
    """
    try:  # the reader refuses control characters as soon as it is built
        loader = BoundedLoader(text)
    except yaml.YAMLError as error:
        first_line = str(error).splitlines()[0]  # the rest points into a string, not a file
        raise ConfigurationError(f"{where}: invalid YAML: {first_line}") from None
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        at = f"{where}:{mark.line + 1}:{mark.column + 1}" if mark else where
        problem = getattr(error, "problem", None) or "invalid YAML"
        prefix = "" if isinstance(error, _LimitError) else "invalid YAML: "
        raise ConfigurationError(f"{at}: {prefix}{problem}") from None
    finally:
        loader.dispose()
    if node is not None and expanded_size(node) > MAX_NODES:
        raise ConfigurationError(
            f"{where}: more than {MAX_NODES} values once its aliases are expanded (a 'billion "
            "laughs' document?)"
        )
    return node


def expanded_size(node: yaml.Node, limit: int = MAX_NODES) -> int:
    """Count the values of a node graph as if its aliases were copies, stopping past `limit`.

    Shared nodes are counted once per reference, from a memo, so the count of a billion-laughs
    graph takes as many steps as it has distinct nodes, not as many as its expansion.
    """
    memo: dict[int, int] = {}

    def size(item: yaml.Node) -> int:
        key = id(item)
        if key in memo:
            return memo[key]
        total = 1
        if isinstance(item, yaml.MappingNode):
            for key_node, value_node in item.value:
                total += size(key_node) + size(value_node)
                if total > limit:
                    break
        elif isinstance(item, yaml.SequenceNode):
            for child in item.value:
                total += size(child)
                if total > limit:
                    break
        memo[key] = min(total, limit + 1)
        return memo[key]

    return size(node)


def safe_load_bounded(text: str, where: str) -> Any:
    """Load a YAML value given as text (a `--set` flag, a variable) within every limit.

    Raises:
        ConfigurationError: invalid YAML, or beyond a limit.
    """
    node = compose_bounded(text, where)
    if node is None:
        return None
    return yaml.SafeLoader("").construct_document(node)
