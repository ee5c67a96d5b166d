"""Configuration YAML is read within bounds: size, depth, aliases and their expansion."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from model_name.errors import ConfigurationError
from model_name.yaml_limits import (
    MAX_FILE_BYTES,
    compose_bounded,
    read_text_bounded,
    safe_load_bounded,
)


def billion_laughs() -> str:
    """The classic: nine anchors, each a list of nine aliases to the previous one (under 1 KiB)."""
    lines = ['lol1: &lol1 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(2, 10):
        aliases = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_document_is_refused_at_once() -> None:
    text = billion_laughs()
    assert len(text.encode()) < 1024  # under 1 KiB, a billion "lol"s once expanded

    started = time.monotonic()
    with pytest.raises(
        ConfigurationError, match=r"^c.yaml: more than 10000 values once its aliases"
    ):
        compose_bounded(text, "c.yaml")
    assert time.monotonic() - started < 5  # expanded, it would take minutes and gigabytes


def test_deep_nesting_is_refused_with_its_line_not_a_recursion_error() -> None:
    with pytest.raises(ConfigurationError, match=r"^c.yaml:1:\d+: nested deeper than 32 levels$"):
        compose_bounded("x: " + "[" * 5000 + "]" * 5000, "c.yaml")
    with pytest.raises(ConfigurationError, match=r"nested deeper than 32 levels"):
        safe_load_bounded("{a: " * 3000 + "1" + "}" * 3000, "--set x")


def test_too_many_aliases_are_refused() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 101) + "]\n"
    with pytest.raises(ConfigurationError, match=r"more than 100 aliases"):
        compose_bounded(text, "c.yaml")


def test_shared_sections_within_the_limits_still_load() -> None:
    text = "base: &base {level: DEBUG}\nlogger: *base\nother: *base\n"
    assert safe_load_bounded(text, "c.yaml") == {
        "base": {"level": "DEBUG"},
        "logger": {"level": "DEBUG"},
        "other": {"level": "DEBUG"},
    }


def test_a_file_larger_than_the_limit_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * MAX_FILE_BYTES + b"\n")
    with pytest.raises(ConfigurationError, match=r"big.yaml is larger than 1024 KiB"):
        read_text_bounded(path)
    with pytest.raises(ConfigurationError, match=r"larger than 1024 KiB"):
        read_text_bounded(Path("/dev/zero"))  # endless: only the limit is read


def test_a_control_character_is_refused_in_one_line() -> None:
    # found by the property test: the YAML reader refuses it before parsing starts
    with pytest.raises(ConfigurationError) as caught:
        compose_bounded("{\x1b", "--set x")

    assert str(caught.value) == (
        "--set x: invalid YAML: unacceptable character #x001b: special characters are not allowed"
    )
