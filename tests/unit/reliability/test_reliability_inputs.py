"""Bad input, as a new user meets it: one clear message naming the fix, at start-up where possible."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import pytest

from claims.context import ClaimContext
from claims.matrix import ClaimCase
from claims.registry import Criterion, Needs, Registry, claim
from claims.runner import run_case
from claims.verdict import Axis, Verdict
from fixtures import models
from fixtures.corpora import load_corpus
from fixtures.model_loading import load_model
from fixtures.models import ModelSpecError, resolve_model
from fixtures.tokens import TokenBudgetError, sample_contexts
from fixtures.workbench import RunSettings, Workbench

pytest_plugins = ("pytester",)


@pytest.fixture(autouse=True)
def _fresh_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "CATALOGUE", models.FamilyCatalogue(hub=dict(models.HUB_FAMILIES)))


def _fake_model_dir(root: Path, name: str, **config: object) -> Path:
    folder = root / name
    folder.mkdir()
    base = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": 2, "n_embd": 8}
    (folder / "config.json").write_text(json.dumps(base | config))
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def _toy_claim_on_text():  # type: ignore[no-untyped-def]
    registry = Registry()

    @claim(
        "E1",
        title="toy on text",
        statement="reads activations",
        paper_ref="toy",
        axes=[Axis.GT1],
        needs=Needs(products=frozenset({"mlp_post.raw"})),
        criterion=Criterion(full="x", small="x"),
        min_tokens=1,
        registry=registry,
    )
    def check(ctx: ClaimContext):  # type: ignore[no-untyped-def]
        raise AssertionError("a claim that does not apply must not be measured")

    return check.claim  # type: ignore[attr-defined]


# --- model and corpus names ------------------------------------------------------------------------------------


def test_unknown_model_name_suggests_the_close_registered_name(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-models", "smolm2-135m")
    assert "'smolm2-135m' is not available offline" in error
    assert "Did you mean 'smollm2-135m-instruct-q4'?" in error


def test_unknown_corpus_name_suggests_the_close_registered_name(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-datasets", "shakespear")
    assert "unknown corpus 'shakespear'. Did you mean 'shakespeare'?" in error
    assert "or pass a local .txt file or folder" in error


def test_hub_id_offline_fails_within_five_seconds_naming_hf_download() -> None:
    start = time.monotonic()
    with pytest.raises(ModelSpecError, match=r"'EleutherAI/pythia-14m' is not available offline.*hf download"):
        resolve_model("EleutherAI/pythia-14m")
    assert time.monotonic() - start < 5


def test_hub_id_offline_is_a_usage_error_before_any_test_runs(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-models", "EleutherAI/pythia-14m")
    assert "hf download EleutherAI/pythia-14m" in error


def test_model_dir_without_config_json_names_save_pretrained(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "weights-only").mkdir()
    (tmp_path / "weights-only" / "model.safetensors").write_bytes(b"x")
    error = usage_error(f"--claims-models={tmp_path / 'weights-only'}")
    assert "has no config.json; save the model with `model.save_pretrained(dir)`" in error


def test_model_path_as_a_separate_argument_is_read_as_the_option_value(  # type: ignore[no-untyped-def]
    usage_error, tmp_path: Path
) -> None:
    (tmp_path / "weights-only").mkdir()
    (tmp_path / "weights-only" / "model.safetensors").write_bytes(b"x")
    error = usage_error("--claims-models", str(tmp_path / "weights-only"))
    assert "has no config.json; save the model with `model.save_pretrained(dir)`" in error


def test_model_dir_with_garbage_config_json_names_the_file(tmp_path: Path) -> None:
    folder = _fake_model_dir(tmp_path, "m")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ModelSpecError, match=r"config.json is not valid JSON"):
        resolve_model(str(folder))


def test_corrupt_safetensors_is_a_model_spec_error_naming_the_directory(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelSpecError) as info:
        load_model(resolve_model(str(folder)))
    assert str(info.value).startswith(f"could not load {str(folder)!r}")
    assert "deserializing header" in str(info.value)


def test_corrupt_safetensors_message_names_the_file_and_the_fix(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelSpecError) as info:
        load_model(resolve_model(str(folder)))
    assert str(weights) in str(info.value)
    assert "save_pretrained" in str(info.value) or "download" in str(info.value)


def test_encoder_only_model_is_not_applicable_with_the_reason(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForMaskedLM

    folder = tmp_path / "tiny-bert"
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    BertForMaskedLM(config).save_pretrained(folder)
    settings = RunSettings(tokens_small=64, tokens_full=64, context_length=16, device="cpu", dtype="float32", seed=0)
    case = ClaimCase(str(folder), "sotu", "E1", Axis.GT1)
    evidence = run_case(case, _toy_claim_on_text(), Workbench(settings))
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason == (
        f"{folder} is BertForMaskedLM, not a causal language model; the paper's claims need a decoder-only LM "
        "with MLP neurons"
    )
    assert math.isnan(evidence.key.value)


def test_family_mixing_architectures_is_a_usage_error_listing_each_member(  # type: ignore[no-untyped-def]
    usage_error, tmp_path: Path, tiny_model_dir: Path
) -> None:
    two, three = tmp_path / "two", tmp_path / "three"
    shutil.copytree(tiny_model_dir, two)
    shutil.copytree(tiny_model_dir, three)
    config = json.loads((three / "config.json").read_text())
    (three / "config.json").write_text(json.dumps(config | {"n_layer": 3}))
    error = usage_error(f"--claims-family=mix={two},{three}", "--claims-models", "mix")
    assert "family 'mix' mixes architectures, so its neurons cannot be matched" in error
    assert f"{two}: " in error
    assert f"{three}: " in error


def test_family_of_one_member_is_a_usage_error(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    error = usage_error(f"--claims-family=solo={_fake_model_dir(tmp_path, 'one')}")
    assert "family 'solo' needs at least 2 members (seeds), got 1" in error


# --- token budgets ---------------------------------------------------------------------------------------------


def test_zero_tokens_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-tokens", "0")
    assert error == "ERROR: --claims-tokens must be a positive number of tokens, got 0"


def test_negative_tokens_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-tokens", "-5")
    assert error == "ERROR: --claims-tokens must be a positive number of tokens, got -5"


def test_zero_sample_tokens_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-sample-tokens", "0")
    assert error == "ERROR: --claims-sample-tokens must be a positive number of tokens, got 0"


def test_more_tokens_than_the_corpus_holds_names_both_numbers(tiny_model_dir: Path, text_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    corpus = load_corpus(str(text_dir))
    with pytest.raises(TokenBudgetError) as info:
        sample_contexts(tokenizer, corpus, 10_000_000, 32, 0, (0,))
    message = str(info.value)
    available = int(message.split("has only ")[1].split(" tokens")[0].replace(",", ""))
    assert 0 < available < 10_000_000
    assert f"corpus {str(text_dir)!r} has only {available:,} tokens" in message
    assert "10,000,000 were requested. Lower --claims-tokens or use a larger corpus" in message


# --- corpora ---------------------------------------------------------------------------------------------------


def test_empty_corpus_file_is_a_usage_error(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty.txt").write_text(" \n\n")
    error = usage_error(f"--claims-datasets={tmp_path / 'empty.txt'}")
    assert f"corpus {str(tmp_path / 'empty.txt')!r} is empty: its .txt files hold no text" in error


def test_corpus_folder_without_text_files_is_a_usage_error(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.md").write_text("no .txt here")
    error = usage_error(f"--claims-datasets={tmp_path / 'notes'}")
    assert f"corpus folder {str(tmp_path / 'notes')!r} holds no .txt files" in error


def test_non_utf8_corpus_file_names_the_byte_and_iconv(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "latin1.txt").write_bytes("café crème".encode("latin-1"))
    error = usage_error(f"--claims-datasets={tmp_path / 'latin1.txt'}")
    assert "latin1.txt is not valid UTF-8 (byte 3); convert it, e.g. `iconv -f latin1 -t utf-8`" in error


def test_missing_corpus_path_is_a_usage_error(usage_error, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    error = usage_error(f"--claims-datasets={tmp_path / 'absent.txt'}")
    assert "does not exist" in error


# --- options ---------------------------------------------------------------------------------------------------


def test_update_baseline_without_baseline_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-update-baseline")
    assert error == "ERROR: --claims-update-baseline needs --claims-baseline FILE (the file to rewrite)"


def test_missing_baseline_file_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-baseline", "nope.json")
    assert error == "ERROR: --claims-baseline nope.json: no such file (create it with --claims-update-baseline)"


def test_unknown_profile_is_a_usage_error_listing_the_profiles(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-profile", "smok")
    assert error == "ERROR: unknown profile 'smok'; choose one of default, paper, resample, smoke"


def test_bad_device_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-device", "gpu")
    assert error == "ERROR: --claims-device 'gpu': expected auto, cpu, cuda or cuda:N"


def test_bad_dtype_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-dtype", "float64")
    assert error == "ERROR: --claims-dtype 'float64': expected float32, bfloat16 or float16"


def test_context_length_below_two_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    error = usage_error("--claims-context-length", "1")
    assert error == "ERROR: --claims-context-length must be >= 2, got 1"


def test_a_cache_that_cannot_be_created_is_a_usage_error_not_an_internal_error(  # type: ignore[no-untyped-def]
    usage_error, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(blocker))
    error = usage_error()
    assert error == (
        f"ERROR: cannot create {blocker}: {blocker} is a file, not a directory; move it away, or set "
        "NEURON_CLAIMS_CACHE to a writable directory"
    )


def test_a_context_length_above_the_models_n_ctx_is_recorded_as_the_length_used(
    tiny_model_dir: Path, text_dir: Path
) -> None:
    from fixtures.workbench import RunSettings, Workbench

    bench = Workbench(RunSettings(256, 256, 1_000, "cpu", "float32", 0))  # the tiny model has n_positions 64
    provenance = bench.provenance(str(tiny_model_dir), str(text_dir))
    assert list(provenance["sampled"].values()) == [{"tokens": 256, "context_length": 64, "token_level": 256}]


def test_cuda_device_without_a_gpu_is_a_usage_error(usage_error) -> None:  # type: ignore[no-untyped-def]
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU, so --claims-device cuda is valid here")
    error = usage_error("--claims-device", "cuda")
    assert error == "ERROR: --claims-device cuda asked for a GPU, but torch sees none; use --claims-device cpu or auto"


def test_report_path_below_a_file_is_a_usage_error(usage_error, pytester: pytest.Pytester) -> None:  # type: ignore[no-untyped-def]
    (pytester.path / "blocker").write_text("a file, not a folder")
    error = usage_error("--claims-report", "blocker/summary.json")
    assert error.startswith(f"ERROR: --claims-report {pytester.path / 'blocker' / 'summary.json'}: ")
    assert "choose a writable path" in error
