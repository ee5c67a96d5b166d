"""The coverage bound (90% of lines and branches) applies to the whole suite, never to a part.

`uv run pytest` (no arguments: the `testpaths`, every test and doctest) fails below the bound;
`uv run pytest tests/jobs/test_report.py`, `-k ...` or `-m ...` pass when their tests pass,
since a part of the suite covers a part of the code. `--cov-fail-under=N` on the command line
still sets a bound of its own for any run.
"""

from __future__ import annotations

import pytest

WHOLE_SUITE_BOUND = 90.0
"""The least total coverage, in percent, of a run of the whole suite."""


def whole_suite(config: pytest.Config) -> bool:
    """Whether this run is the whole suite: the configured test paths, nothing deselected."""
    option = config.option
    return (
        config.args_source == pytest.Config.ArgsSource.TESTPATHS
        and not option.keyword
        and not option.markexpr
        and not getattr(option, "lf", False)
        and not getattr(option, "stepwise", False)
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Give pytest-cov the bound when the whole suite runs and no bound was asked for (0 is none)."""
    coverage = config.pluginmanager.get_plugin("_cov")  # pytest-cov's, when --cov is on
    options = getattr(coverage, "options", None)
    if options is not None and not options.cov_fail_under and whole_suite(config):
        options.cov_fail_under = WHOLE_SUITE_BOUND
