"""Tests that need an OS program skip without it on a developer's machine, and fail under CI.

`uv run pytest` must pass on a machine with only python3 and uv; CI (`CI=true`) installs the Debian
packages, and there a skipped test would hide a broken one, so it fails instead. A skip names the
test, each missing program and the Debian package that really provides it, and pytest reports it
at the test, not here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

SYSTEM_FOLDERS = ("/usr/sbin", "/sbin", "/usr/local/sbin")
"""Searched after PATH: administration programs (`runuser`, `mount`) live there, and a user's PATH
often leaves them out."""

DEBIAN_PACKAGES = {
    "runuser": "util-linux",
    "mount": "mount",
    "umount": "mount",
    "initdb": "postgresql",
    "pg_ctl": "postgresql",
    "Xvfb": "xvfb",
    "dbus-daemon": "dbus-daemon",
    "dbus-send": "dbus-bin",
    "dunst": "dunst",
    "dunstctl": "dunst",
    "notify-send": "libnotify-bin",
}
"""The Debian package that provides each program the tests run (`dpkg -S` on Debian 12)."""


def under_ci() -> bool:
    """Whether the suite runs under CI (`CI` set to anything but empty, `0` or `false`)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def find_program(name: str) -> str | None:
    """Return the path of a program: on PATH, else in /usr/sbin or /sbin; None when absent.

    Example:
        find_program("runuser")  # '/usr/sbin/runuser', even when /usr/sbin is not on PATH
    """
    found = shutil.which(name)
    if found is None and not os.path.isabs(name):
        found = shutil.which(name, path=os.pathsep.join(SYSTEM_FOLDERS))
    return found


def require_programs(*programs: str) -> None:
    """Skip the test (fail it under CI) unless every program is found (`find_program`).

    Args:
        *programs: the executables the test runs (a name, or an absolute path).

    Example:
        require_programs("Xvfb")  # without it: "... Xvfb not found: install the Debian package xvfb"
    """
    missing = [name for name in programs if find_program(name) is None]
    if not missing:
        return
    needs = "; ".join(f"{name} not found: {_how_to_install(name)}" for name in missing)
    skip_or_fail(needs, under_ci_hint=" (.ci/run installs them)")


def _how_to_install(program: str) -> str:
    package = DEBIAN_PACKAGES.get(Path(program).name)
    return f"install the Debian package {package}" if package else "install it"


def skip_or_fail(reason: str, under_ci_hint: str = "") -> NoReturn:
    """Skip the test with `reason` on a developer's machine; fail it under CI, which must run it.

    The reason starts with the test's name, and the skip is reported at the test's own line.
    """
    current = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0]
    reason = f"{current}: {reason}" if current else reason
    if under_ci():
        pytest.fail(f"CI must run this test: {reason}{under_ci_hint}", pytrace=False)
    raise pytest.skip.Exception(reason, _use_item_location=True)
