from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from fixtures import model_loading, model_refs, models
from fixtures.model_loading import worker_gpu_index
from fixtures.models import (
    ModelSpecError,
    declare_family,
    load_families_file,
    parse_family_option,
    resolve_family,
    resolve_model,
)


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "CATALOGUE", models.FamilyCatalogue(hub=dict(models.HUB_FAMILIES)))


def _model_dir(root: Path, name: str, layers: int = 2) -> Path:
    folder = root / name
    folder.mkdir()
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": layers, "n_embd": 8}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def test_hub_id_offline_fails_fast_naming_the_model_and_the_fix() -> None:
    start = time.time()
    with pytest.raises(ModelSpecError, match=r"'gpt2' is not available offline.*hf download gpt2"):
        resolve_model("gpt2")
    assert time.time() - start < 5


def test_typo_of_a_registered_name_suggests_it() -> None:
    with pytest.raises(ModelSpecError, match="Did you mean 'smollm2-135m-instruct-q4'"):
        resolve_model("smollm2-135")


def test_local_directory_without_config_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelSpecError, match=r"no config\.json.*save_pretrained"):
        resolve_model(str(tmp_path / "empty"))


def test_local_directory_without_weights_is_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "noweights"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ModelSpecError, match="no weight files"):
        resolve_model(str(folder))


def test_local_directory_resolves_with_a_weights_digest(tmp_path: Path) -> None:
    ref = resolve_model(str(_model_dir(tmp_path, "m")))
    assert ref.source == "local"
    assert ref.identity().startswith("sha256:")


def test_changed_weights_change_the_identity(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path, "m")
    first = model_refs.weights_digest.__wrapped__(folder)
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert model_refs.weights_digest.__wrapped__(folder) != first


@pytest.mark.parametrize("name", ["config.json", "tokenizer.json"])
def test_a_changed_config_or_tokenizer_changes_the_identity(tmp_path: Path, name: str) -> None:
    folder = _model_dir(tmp_path, "m")
    (folder / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    first = model_refs.weights_digest.__wrapped__(folder)
    (folder / name).write_text('{"edited": true}')
    assert model_refs.weights_digest.__wrapped__(folder) != first


def test_family_option_parses_name_and_members() -> None:
    assert parse_family_option("mine=/a, /b") == ("mine", ["/a", "/b"])
    with pytest.raises(ModelSpecError, match="NAME=SPEC"):
        parse_family_option("mine")


def test_user_family_needs_two_members() -> None:
    with pytest.raises(ModelSpecError, match="at least 2"):
        declare_family("solo", ["/a"])


def test_user_family_resolves_members_in_order(tmp_path: Path) -> None:
    declare_family("mine", [str(_model_dir(tmp_path, "s1")), str(_model_dir(tmp_path, "s2"))])
    family = resolve_family("mine")
    assert [m.member for m in family.members] == ["a", "b"]
    assert family.reference.name.endswith("s1")


def test_family_mixing_architectures_is_rejected(tmp_path: Path) -> None:
    declare_family("mixed", [str(_model_dir(tmp_path, "s1", 2)), str(_model_dir(tmp_path, "s2", 3))])
    with pytest.raises(ModelSpecError, match="mixes architectures"):
        resolve_family("mixed")


def test_families_file_declares_families(tmp_path: Path) -> None:
    a, b = _model_dir(tmp_path, "s1"), _model_dir(tmp_path, "s2")
    path = tmp_path / "families.toml"
    path.write_text(f'[families.seeds]\nmembers = ["{a}", "{b}"]\n')
    load_families_file(path)
    assert len(resolve_family("seeds").members) == 2


def test_single_model_is_not_a_family() -> None:
    with pytest.raises(ModelSpecError, match="not a model family"):
        resolve_family("smollm2-135m-instruct-q4")


def test_encoder_only_model_is_reported_not_usable(tmp_path: Path) -> None:
    folder = _model_dir(tmp_path, "bert")
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertForMaskedLM"]}))
    assert "not a causal language model" in models.causal_lm_problem(resolve_model(str(folder)))


@pytest.mark.parametrize(
    ("worker", "gpus", "index"), [(None, 4, 0), ("gw0", 4, 0), ("gw3", 4, 3), ("gw5", 4, 1), ("gw1", 1, 0)]
)
def test_xdist_workers_are_pinned_one_gpu_each(worker: str | None, gpus: int, index: int) -> None:
    assert worker_gpu_index(worker, gpus) == index


@pytest.mark.parametrize(("version", "cpu_only"), [("2.13.0+cpu", True), ("2.14.1", False), ("2.9.1+cu128", False)])
def test_only_a_cpu_wheel_of_torch_is_known_to_have_no_gpu_without_importing_it(
    monkeypatch: pytest.MonkeyPatch, version: str, cpu_only: bool
) -> None:
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda dist: version)
    assert model_loading.cpu_only_torch() is cpu_only


def test_auto_device_with_a_cpu_wheel_is_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_loading, "cpu_only_torch", lambda: True)
    assert model_loading.pick_device("auto") == "cpu"


def test_zoo_family_member_spec_resolves_to_that_member() -> None:
    assert resolve_model("zoo-gpt2-s:c").member == "c"
