"""mask_url: the password of a URL never shows, the rest of the text does."""

from __future__ import annotations

import pytest

from model_name.redaction import mask_url


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "postgresql://optuna:pa55@db:5432/optuna",
            "postgresql://optuna:**********@db:5432/optuna",
        ),
        ("mysql+pymysql://u:p%40ss@h/d", "mysql+pymysql://u:**********@h/d"),
        ("redis://:tok@cache:6379/0", "redis://:**********@cache:6379/0"),
        ("http://user@host/x", "http://user@host/x"),
        ("sqlite:///optuna.db", "sqlite:///optuna.db"),
        ("optuna.journal", "optuna.journal"),
        (
            "from a://u:one@h to b://v:two@k",
            "from a://u:**********@h to b://v:**********@k",
        ),
    ],
)
def test_only_the_password_of_each_url_is_masked(text: str, shown: str) -> None:
    # given a text quoting URLs; when it is masked; then only passwords are hidden
    assert mask_url(text) == shown
