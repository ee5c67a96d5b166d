"""A step's fingerprint parts: file content (not its mtime), settings without secrets, imports."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from model_name.digests import file_digest
from model_name.pipelines.fingerprint import config_part, digest, imported_modules


def test_a_files_digest_follows_its_content_not_its_modification_time(isolated: Path) -> None:
    # given a small file and its digest
    path = isolated / "data.csv"
    path.write_text("a,b\n1,2\n")
    before = file_digest(path)
    # when only its modification time moves, then the digest is the same
    os.utime(path, (1_000_000, 1_000_000))
    assert file_digest(path) == before
    # when one byte changes, size and time kept, then it differs
    path.write_text("a,b\n1,3\n")
    os.utime(path, (1_000_000, 1_000_000))
    assert file_digest(path) != before
    assert before.startswith("8:")  # the size comes first


def test_a_large_file_is_sampled_and_a_change_in_its_footer_is_seen(isolated: Path) -> None:
    # given a 70 MiB file (sparse: no 70 MiB written), beyond the whole-file limit
    path = isolated / "large.parquet"
    with path.open("wb") as handle:
        handle.truncate(70 * 2**20)
    before = file_digest(path)
    # when a byte of its last MiB (a Parquet footer) changes
    with path.open("r+b") as handle:
        handle.seek(70 * 2**20 - 100)
        handle.write(b"x")
    # then the sampled digest differs
    assert before.startswith(f"{70 * 2**20}:sampled:")
    assert file_digest(path) != before


def test_secret_settings_and_alerting_stay_out_of_the_fingerprint() -> None:
    settings = SimpleNamespace(
        mlflow=SimpleNamespace(registry_name="model_name"),
        optuna=SimpleNamespace(storage="postgresql://user:hunter22@db/optuna"),
    )
    part = config_part({"alpha": 1.0, "api_key": "s3cr3t", "alert_on": ["failure"]}, settings)
    assert part["params"] == {"alpha": 1.0}
    assert "hunter22" not in str(part)


def test_imports_are_read_whole_files_relative_ones_resolved() -> None:
    source = (
        "import os\n"
        "from . import helpers\n"
        "from ..io import datasets\n"
        "def run():\n"
        "    from model_name.io.registries import load_model\n"
    )
    found = imported_modules(source, "model_name.jobs.training")
    assert "model_name.jobs.helpers" in found
    assert "model_name.io.datasets" in found
    assert "model_name.io.registries.load_model" in found  # a module's name: the closure tells
    assert "os" in found


@settings(max_examples=60, deadline=None)
@given(
    content=st.binary(min_size=1, max_size=4096),
    position=st.integers(min_value=0),
    byte=st.integers(min_value=0, max_value=255),
)
def test_any_one_byte_change_of_a_file_changes_its_digest(
    content: bytes, position: int, byte: int
) -> None:
    # given any file, and any one of its bytes replaced by another value
    index = position % len(content)
    changed = content[:index] + bytes([byte]) + content[index + 1 :]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.bin"
        path.write_bytes(content)
        before = file_digest(path)
        path.write_bytes(changed)
        after = file_digest(path)
    # then the digests differ exactly when the content does
    assert (before == after) == (content == changed)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), max_size=8))
def test_a_digest_does_not_depend_on_key_order(values: dict[str, object]) -> None:
    assert digest(values) == digest(dict(reversed(list(values.items()))))


def test_the_training_code_is_what_training_imports_not_its_sibling_jobs() -> None:
    from model_name.pipelines.fingerprint import module_closure

    modules = module_closure("model_name.jobs.training", {"model_name"}, {})

    assert {"model_name.jobs.training", "model_name.io.datasets", "model_name.jobs.base"} <= set(
        modules
    )
    assert "model_name.jobs.tuning" not in modules  # jobs/__init__.py imports it: passed through
    assert "model_name.pipelines.runner" not in modules
