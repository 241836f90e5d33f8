"""Shared pieces of the reliability tests: a private cache per test, one tiny GPT-2, a small text corpus.

Their nested pytest runs take `lean_flags` from tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TEXT = "The committee met on Tuesday.\nIt agreed to meet again in May, and again in June.\n" * 40

# one claim that always passes: a run that must stop at start-up shows its error before reaching it
TOY_CLAIM = """
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis


@claim("T1", title="toy", statement="a value is large", paper_ref="toy", axes=[Axis.ORIGINAL],
       needs=Needs(published=True, text=False), criterion=Criterion(full="x", small="x"))
def toy(ctx):
    return ctx.evidence(True, key=("value", 1.0), reason="value 1.0")
"""


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from zoo.build import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=4096, n_positions=64, n_embd=32, n_layer=2, n_head=2, n_inner=64, bos_token_id=0, eos_token_id=0
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    load_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def text_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("text")
    (folder / "a.txt").write_text(TEXT)
    (folder / "b.txt").write_text(TEXT.upper())
    return folder


@pytest.fixture(scope="session")
def toy_suite_writer():  # type: ignore[no-untyped-def]
    """`write_toy_suite`, for fixtures that build a toy project outside pytester."""
    return write_toy_suite


@pytest.fixture
def toy_suite(pytester: pytest.Pytester):  # type: ignore[no-untyped-def]
    """Writes, into the pytester folder, a project whose only claims are the given source (package `toyclaims`)."""
    return lambda claims_source: write_toy_suite(pytester.path, claims_source)


def write_toy_suite(folder: Path, claims_source: str) -> None:
    """A pytest project in `folder` run by the claims plugin, whose claims are `claims_source`."""
    (folder / "conftest.py").write_text('pytest_plugins = ("claims.plugin",)\n')
    (folder / "tox.ini").write_text(f"[pytest]\nclaims_packages = toyclaims\npythonpath = {ROOT}\n")
    pkg = folder / "toyclaims"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "toy.py").write_text(claims_source)
    (folder / "test_claims.py").write_text(
        "def test_claim(case, claim_result, claim_gate):\n    claim_gate(claim_result)\n"
    )


@pytest.fixture
def usage_error(pytester: pytest.Pytester, toy_suite, lean_flags: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """Runs pytest on a toy suite with the given options; asserts a usage error and returns its one ERROR line."""

    def run(*args: str) -> str:
        toy_suite(TOY_CLAIM)
        result = pytester.runpytest_subprocess(*lean_flags, "--claims-no-figures", *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:] + result.stderr.str()[-2000:]
        assert not (pytester.path / "reports" / "summary.json").exists()
        errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
        assert len(errors) == 1, result.stderr.str()
        return errors[0]

    return run
