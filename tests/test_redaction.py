"""Secrets inside URIs and known secret values are masked in any text bound for an output."""

from __future__ import annotations

import io
from pathlib import Path

import pydantic as pdt
import pytest
from loguru import logger

from model_name.redaction import (
    MaskingSink,
    known_secrets,
    mask_secrets_in_text,
    mask_url,
    remember_secrets,
    secrets_in,
    url_password,
)
from model_name.settings import AppSettings

MASK = "**********"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://bob:pw1234@host:5000/api", f"http://bob:{MASK}@host:5000/api"),
        ("postgresql://mlflow:pw@db.example.com:5432/mlflow", f"postgresql://mlflow:{MASK}@db.example.com:5432/mlflow"),
        ("https://ghp_tokenvalue@github.com/x.git", f"https://{MASK}@github.com/x.git"),
        ("s3://key:se/cret@bucket", f"s3://key:{MASK}@bucket"),  # a raw '/' ends the authority
        ("smtp://u:p@ss@mail:25", f"smtp://u:{MASK}@mail:25"),  # an unescaped '@' in a password
        ("failed: 'http://a:b@127.0.0.1:1/x' then http://c:d@h", f"failed: 'http://a:{MASK}@127.0.0.1:1/x' then http://c:{MASK}@h"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("http://mlflow.example.com:5000", "http://mlflow.example.com:5000"),
        ("mail me at bob@example.com", "mail me at bob@example.com"),
    ],
)  # fmt: skip
def test_mask_url_masks_the_password_in_every_uri_of_a_text(text: str, expected: str) -> None:
    assert mask_url(text) == expected


def test_a_known_secret_is_masked_raw_and_url_quoted() -> None:
    # given a secret with characters a URL quotes
    secret = "p@ss/w0rd"

    # when texts quoting it, raw and quoted, are masked
    masked = mask_secrets_in_text("raw p@ss/w0rd, quoted p%40ss%2Fw0rd", [secret])

    # then neither form is left
    assert masked == f"raw {MASK}, quoted {MASK}"


def test_secrets_in_settings_are_secret_strings_and_uri_passwords() -> None:
    # given settings holding a token and a password inside the registry URI
    settings = AppSettings(
        mlflow={
            "tracking_token": "tok-1234",
            "registry_uri": "postgresql://u:p%40ss@db/mlflow",
        }
    )

    # then both are found, the URI's password decoded
    assert secrets_in(settings) == {"tok-1234", "p@ss"}
    assert url_password("http://host:5000") is None
    assert url_password("postgresql://postgres@db/mlflow") is None  # a user name, not a secret


def test_remembered_secrets_and_mlflow_variables_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "from-the-environment")
    remember_secrets(["remembered-value"])
    assert {"from-the-environment", "remembered-value"} <= known_secrets()
    assert mask_secrets_in_text("remembered-value") == MASK


def test_masking_sink_masks_whole_records_tracebacks_included(tmp_path: Path) -> None:
    # given a file sink and a stream sink that mask, and a secret quoted by an exception
    remember_secrets(["hunter2-secret"])
    stream = io.StringIO()
    path = tmp_path / "logs" / "app.log"
    ids = [logger.add(MaskingSink(stream)), logger.add(MaskingSink(path))]
    try:
        # when an error quoting the secret and a URI is logged with its traceback
        try:
            raise RuntimeError("login hunter2-secret at http://bob:pw99@host failed")
        except RuntimeError:
            logger.exception("it broke")
    finally:
        for handler in ids:
            logger.remove(handler)

    # then both sinks have the record and its traceback, without the secret
    for text in (stream.getvalue(), path.read_text()):
        assert "Traceback" in text and "it broke" in text
        assert "hunter2-secret" not in text and "pw99" not in text


def test_a_secret_str_is_also_found_inside_lists() -> None:
    assert secrets_in({"a": [pdt.SecretStr("in-a-list"), "ftp://u:v@h"]}) == {"in-a-list", "v"}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "postgresql://optuna:pa55@db:5432/optuna",
            "postgresql://optuna:**********@db:5432/optuna",
        ),
        ("mysql+pymysql://u:p%40ss@h/d", "mysql+pymysql://u:**********@h/d"),
        ("redis://:tok@cache:6379/0", "redis://:**********@cache:6379/0"),
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
