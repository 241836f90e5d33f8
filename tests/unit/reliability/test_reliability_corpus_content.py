"""Degenerate corpora are refused at start-up, as a usage error: never a verdict (fixtures.corpus_text.check_text_content).

The rules and their thresholds are unit-tested in tests/unit/test_corpus_content.py; here, what a user sees.
"""

from __future__ import annotations

import random
from pathlib import Path

pytest_plugins = ("pytester",)


def test_nul_byte_corpus_is_a_usage_error_not_a_verdict(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nul.txt"
    path.write_bytes(b"\x00" * 4096)
    error = usage_error(f"--claims-datasets={path}")
    assert error.startswith(f"ERROR: corpus {str(path)!r} contains 4,096 NUL characters (first in 'nul.txt')")
    assert "Fix: remove non-text files, or convert the text to UTF-8" in error


def test_random_bytes_corpus_is_a_usage_error_naming_binary_data(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "blob.txt"
    path.write_bytes(random.Random(0).randbytes(65_536))
    error = usage_error(f"--claims-datasets={path}")
    assert error.startswith(f"ERROR: {path} is binary data, not text: ")
    assert "Fix: pass UTF-8 text files only" in error


def test_one_word_repeated_corpus_is_a_usage_error_naming_the_counts(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "hello.txt"
    path.write_text("hello " * 5000)
    error = usage_error(f"--claims-datasets={path}")
    assert error == (
        f"ERROR: corpus {str(path)!r} has too few distinct words to measure anything: 1 distinct among 5,000 words "
        "(at least 20 needed). Fix: use varied natural text"
    )
