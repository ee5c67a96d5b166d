"""Tests that need an OS program skip without it on a developer's machine, and fail under CI.

`uv run pytest` must pass on a machine with only python3 and uv; CI (`CI=true`) installs the Debian
packages, and there a skipped test would hide a broken one, so it fails instead.
"""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest


def under_ci() -> bool:
    """Whether the suite runs under CI (`CI` set to anything but empty, `0` or `false`)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def require_programs(*programs: str, packages: str) -> None:
    """Skip the test (fail it under CI) unless every program is on PATH.

    Args:
        *programs: the executables the test runs.
        packages: the Debian packages that provide them, named in the reason.

    Example:
        require_programs("Xvfb", packages="xvfb")  # skips, or fails under CI, without Xvfb
    """
    missing = [name for name in programs if shutil.which(name) is None]
    if not missing:
        return
    skip_or_fail(
        f"{', '.join(missing)} not found: install the Debian package(s) {packages}",
        under_ci_hint=" (.ci/run installs them)",
    )


def skip_or_fail(reason: str, under_ci_hint: str = "") -> NoReturn:
    """Skip the test with `reason` on a developer's machine; fail it under CI, which must run it."""
    if under_ci():
        pytest.fail(f"CI must run this test: {reason}{under_ci_hint}", pytrace=False)
    pytest.skip(reason)
