"""Faults: corrupt caches, runs killed mid-write, unwritable or full disks. Nothing half-written is ever used."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fixtures.activations import (
    FORWARD,
    MLP_POST_RAW,
    MLP_PRE_MOMENTS,
    ActivationError,
    ActivationStore,
    SampleSpec,
)
from fixtures.corpora import load_corpus
from fixtures.model_loading import load_model
from fixtures.models import resolve_model
from fixtures.storage import StorageError, atomic_write_text, cache_dir, sha256_file
from fixtures.tokens import TokenSample, sample_contexts

ROOT = Path(__file__).resolve().parents[3]
N_TOKENS, CONTEXT, SEED = 256, 32, 0
PRODUCTS = [MLP_POST_RAW, MLP_PRE_MOMENTS]

# Loads the tiny model, then stalls for good once the `stall_after`-th os.replace has happened: the parent
# SIGKILLs it there. os.replace is the commit step of every atomic write and of every rename into the entry.
STALLING_CHILD = """
import json, os, pathlib, sys, time
args = json.loads(sys.argv[1])
marker = pathlib.Path(args["marker"])
from fixtures.activations import ActivationStore, SampleSpec
from fixtures.tokens import TokenSample
real_replace, calls = os.replace, []

def stalling_replace(src, dst):
    real_replace(src, dst)
    calls.append(dst)
    if len(calls) == args["stall_after"]:
        marker.write_text(str(dst))
        time.sleep(600)

if args["model_dir"]:
    from fixtures.corpora import load_corpus
    from fixtures.model_loading import load_model
    from fixtures.models import resolve_model
    from fixtures.tokens import sample_contexts
    model = load_model(resolve_model(args["model_dir"]))
    corpus = load_corpus(args["text_dir"])
    identity, corpus_name, corpus_sha = model.identity, corpus.name, corpus.sha256
    store = ActivationStore(pathlib.Path(args["root"]))
    draw = lambda m: sample_contexts(m.tokenizer, corpus, args["n_tokens"], args["context"], m.start_token_id,
                                     m.excluded_token_ids, args["seed"])
else:
    import numpy as np
    model, identity, corpus_name, corpus_sha = None, "fake-model", "fake-corpus", "0" * 64
    store = ActivationStore(pathlib.Path(args["root"]))
    def fake_forward(model, tokens, excluded, products):
        stats = {"mean": np.ones((2, 3)), "var": np.ones((2, 3))}
        return {p: {"all": stats, "no_bos": stats} if p.endswith(".moments") else np.full((4, 2, 3), 1.5, np.float16)
                for p in products}
    store._forward = fake_forward
    tokens = np.arange(32, dtype=np.int64).reshape(4, 8)
    draw = lambda m: TokenSample(tokens, tokens % 5 == 0, corpus_name, corpus_sha, 0)
os.replace = stalling_replace
spec = SampleSpec(corpus_name, args["n_tokens"], args["context"], args["seed"])
store.get(identity, spec, corpus_sha, "float32", args["products"], lambda: model, draw)
marker.write_text("finished without stalling")
"""


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    return load_model(resolve_model(str(tiny_model_dir)))


@pytest.fixture(scope="module")
def corpus(text_dir: Path):  # type: ignore[no-untyped-def]
    return load_corpus(str(text_dir))


def _get(root: Path, model, corpus, products=PRODUCTS):  # type: ignore[no-untyped-def]
    def draw(m):  # type: ignore[no-untyped-def]
        return sample_contexts(m.tokenizer, corpus, N_TOKENS, CONTEXT, m.start_token_id, m.excluded_token_ids, SEED)

    spec = SampleSpec(corpus.name, N_TOKENS, CONTEXT, SEED)
    return ActivationStore(root).get(model.identity, spec, corpus.sha256, "float32", products, lambda: model, draw)


def _fake_forward(model, tokens, excluded, products):  # type: ignore[no-untyped-def]
    stats = {"mean": np.ones((2, 3)), "var": np.ones((2, 3))}
    return {
        p: {"all": stats, "no_bos": stats} if p.endswith(".moments") else np.full((4, 2, 3), 1.5, np.float16)
        for p in products
    }


def _fake_store(root: Path) -> tuple[ActivationStore, dict]:  # type: ignore[type-arg]
    store = ActivationStore(root)
    store._forward = _fake_forward  # type: ignore[method-assign]
    tokens = np.arange(32, dtype=np.int64).reshape(4, 8)
    request = {
        "identity": "fake-model",
        "sample": SampleSpec("fake-corpus", N_TOKENS, CONTEXT, SEED),
        "corpus_sha256": "0" * 64,
        "dtype": "float32",
        "load": lambda: None,
        "draw": lambda m: TokenSample(tokens, tokens % 5 == 0, "fake-corpus", "0" * 64, 0),
    }
    return store, request


def _unvouched_files(entry: Path) -> list[str]:
    """Visible files of a cache entry that its manifest does not record with their exact sha256."""
    manifest_path = entry / "manifest.json"
    files = json.loads(manifest_path.read_text())["files"] if manifest_path.exists() else {}
    bad = []
    for path in sorted(entry.iterdir()):
        if path.name.startswith(".") or path.name == "manifest.json":
            continue
        record = files.get(path.name.removesuffix(".npy").removesuffix(".npz"))
        if record is None or record["sha256"] != sha256_file(path):
            bad.append(path.name)
    return bad


def _run_and_kill(args: dict, marker: Path, timeout: float = 240) -> None:  # type: ignore[type-arg]
    proc = subprocess.Popen(
        [sys.executable, "-c", STALLING_CHILD, json.dumps(args | {"marker": str(marker)})],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the child exited before stalling:\n{proc.stderr.read()[-3000:]}")  # type: ignore[union-attr]
            if time.monotonic() > deadline:
                raise AssertionError("the child did not reach its stall point in time")
            time.sleep(0.05)
        assert marker.read_text() != "finished without stalling"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


# --- corrupt cache ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "garbage", ["{not json", "null", '{"files": {"tokens": "sha?"}}'], ids=["text", "null", "shape"]
)
def test_garbage_manifest_is_recomputed_not_trusted(tmp_path: Path, tiny_model, corpus, garbage: str) -> None:  # type: ignore[no-untyped-def]
    first = _get(tmp_path, tiny_model, corpus)
    expected = np.array(first.raw(MLP_POST_RAW))
    (tmp_path / first.key / "manifest.json").write_text(garbage)
    again = _get(tmp_path, tiny_model, corpus)
    assert again.computed
    np.testing.assert_array_equal(expected, again.raw(MLP_POST_RAW))
    assert not _unvouched_files(tmp_path / first.key)


# --- killed runs -----------------------------------------------------------------------------------------------


def test_sigkill_during_a_cache_write_leaves_nothing_unrecorded_and_the_rerun_matches(  # type: ignore[no-untyped-def]
    tmp_path: Path, tiny_model, corpus, tiny_model_dir: Path, text_dir: Path
) -> None:
    root = tmp_path / "killed"
    args = {
        "model_dir": str(tiny_model_dir),
        "text_dir": str(text_dir),
        "root": str(root),
        "n_tokens": N_TOKENS,
        "context": CONTEXT,
        "seed": SEED,
        "products": PRODUCTS,
        "stall_after": 1,
    }
    _run_and_kill(args, tmp_path / "stalled")
    [entry] = [p for p in root.iterdir() if p.is_dir()]
    assert not (entry / "manifest.json").exists()
    assert _unvouched_files(entry) == []
    before = FORWARD.count
    rerun = _get(root, tiny_model, corpus)
    assert rerun.computed
    assert FORWARD.count == before + 1
    clean = _get(tmp_path / "clean", tiny_model, corpus)
    np.testing.assert_array_equal(np.array(rerun.raw(MLP_POST_RAW)), np.array(clean.raw(MLP_POST_RAW)))
    np.testing.assert_array_equal(rerun.moments(MLP_PRE_MOMENTS)["mean"], clean.moments(MLP_PRE_MOMENTS)["mean"])
    assert sorted(p.name for p in entry.iterdir()) == sorted(p.name for p in (tmp_path / "clean" / rerun.key).iterdir())


# 4 files are staged (raw, moments, tokens, excluded: replaces 1-4), the manifest is written (5), then each
# staged file is renamed into place (6-9).
@pytest.mark.parametrize(
    "stall_after", [1, 4, 5, 6, 8], ids=["first-staged", "all-staged", "manifest", "first-rename", "third-rename"]
)
def test_sigkill_at_each_step_of_an_entry_write_leaves_nothing_unrecorded(tmp_path: Path, stall_after: int) -> None:
    args = {"model_dir": None, "root": str(tmp_path), "n_tokens": N_TOKENS, "context": CONTEXT, "seed": SEED}
    _run_and_kill(args | {"products": PRODUCTS, "stall_after": stall_after}, tmp_path / "stalled")
    [entry] = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert _unvouched_files(entry) == []
    store, request = _fake_store(tmp_path)
    rerun = store.get(products=PRODUCTS, **request)
    assert rerun.computed
    np.testing.assert_array_equal(rerun.raw(MLP_POST_RAW), np.full((4, 2, 3), 1.5, np.float16))
    assert sorted(p.name for p in entry.iterdir()) == [
        "excluded.npy",
        "manifest.json",
        "mlp_post.raw.npy",
        "mlp_pre.moments.npz",
        "tokens.npy",
    ]
    assert not store.get(products=PRODUCTS, **request).computed


REPORT_CHILD = """
import json, os, pathlib, sys, time
from claims import report
target, marker = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])

def stalling_replace(src, dst):
    marker.write_text(str(src))
    time.sleep(600)

os.replace = stalling_replace
report.write_summary(target, report.build_summary([], {"run": "new"}))
"""


def test_sigkill_before_the_report_rename_keeps_the_previous_complete_summary(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "summary.json"
    atomic_write_text(target, '{"run": "previous"}\n')
    marker = tmp_path / "stalled"
    proc = subprocess.Popen([sys.executable, "-c", REPORT_CHILD, str(target), str(marker)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the writer never reached the rename"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert json.loads(target.read_text()) == {"run": "previous"}
    leftovers = [p.name for p in target.parent.iterdir() if p != target]
    assert leftovers == [Path(marker.read_text()).name]
    assert leftovers[0].startswith(".summary.json.")
    assert leftovers[0].endswith(".partial")


# --- unusable storage ------------------------------------------------------------------------------------------


def test_cache_root_that_is_a_file_is_a_storage_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(blocker))
    with pytest.raises(StorageError) as info:
        ActivationStore()
    assert str(info.value) == (
        f"cannot create {blocker / 'activations'}: {blocker} is a file, not a directory; move it away, or set "
        "NEURON_CLAIMS_CACHE to a writable directory"
    )


def test_read_only_cache_directory_is_a_storage_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(locked))
    locked.chmod(0o555)
    try:
        if os.access(locked, os.W_OK):  # root ignores permission bits: make the mkdir fail as a read-only mount would
            real_mkdir = Path.mkdir

            def read_only_mkdir(self: Path, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
                if locked in self.parents:
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
                real_mkdir(self, *args, **kwargs)

            monkeypatch.setattr(Path, "mkdir", read_only_mkdir)
        with pytest.raises(StorageError) as info:
            cache_dir("activations")
    finally:
        locked.chmod(0o755)
    assert str(info.value).startswith(f"cannot write to {locked / 'activations'} (")
    assert str(info.value).endswith("); set NEURON_CLAIMS_CACHE to a writable directory")


class _FullDisk:
    """A file handle on a disk that fills up after `room` bytes."""

    def __init__(self, handle, room: int) -> None:  # type: ignore[no-untyped-def]
        self.handle, self.room = handle, room

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()

    def write(self, data: bytes) -> int:
        self.handle.write(data[: self.room])
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(data)

    def flush(self) -> None:
        self.handle.flush()

    def fileno(self) -> int:
        return self.handle.fileno()


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, files_that_fit: int) -> None:
    real_fdopen, opened = os.fdopen, []

    def fdopen(fd: int, mode: str = "r", *args, **kwargs):  # type: ignore[no-untyped-def]
        handle = real_fdopen(fd, mode, *args, **kwargs)
        opened.append(fd)
        return _FullDisk(handle, room=1 << 40 if len(opened) <= files_that_fit else 100)

    monkeypatch.setattr(os, "fdopen", fdopen)


def test_full_disk_during_an_atomic_write_is_a_storage_error_leaving_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "reports" / "summary.json"
    with monkeypatch.context() as patch:
        _fill_disk_after(patch, files_that_fit=0)
        with pytest.raises(StorageError) as info:
            atomic_write_text(target, "x" * 10_000)
    assert str(info.value) == f"no space left on the device holding {target}; free space, or choose a writable location"
    assert list(target.parent.iterdir()) == []


def test_full_disk_during_a_cache_write_leaves_no_entry_file_and_names_the_variable(  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch, tiny_model, corpus
) -> None:
    root = cache_dir("activations")
    full = r"^no space left on the device holding .*; free space, or set NEURON_CLAIMS_CACHE to a writable directory$"
    with monkeypatch.context() as patch:
        _fill_disk_after(patch, files_that_fit=1)
        with pytest.raises(StorageError, match=full):
            _get(root, tiny_model, corpus)
    [entry] = [p for p in root.iterdir() if p.is_dir()]
    assert list(entry.iterdir()) == []
    assert _get(root, tiny_model, corpus).computed
    assert _unvouched_files(entry) == []


# --- non-finite activations (NaN: tests/unit/test_activation_cache.py::test_nan_activations_are_refused_not_averaged)


def _edited_model(source: Path, target: Path, edit, dtype: str = "float32"):  # type: ignore[no-untyped-def]
    """Save an edited copy of a model directory and load it (faulty weights arrive from disk, as for users)."""
    import shutil

    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32)
    with torch.no_grad():
        edit(model)
    model.save_pretrained(target)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(source / name, target / name)
    return load_model(resolve_model(str(target)), dtype=dtype)


def test_inf_activations_are_refused_naming_the_hook(tmp_path: Path, tiny_model_dir: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    def poison(model):  # type: ignore[no-untyped-def]
        model.transformer.h[1].mlp.c_fc.weight[0, 0] = float("inf")

    model = _edited_model(tiny_model_dir, tmp_path / "inf-model", poison)
    cache = tmp_path / "cache"
    with pytest.raises(
        ActivationError, match=r"NaN/inf values in blocks.1.mlp.hook_pre .*Rerun with --claims-dtype float32"
    ):
        _get(cache, model, corpus)
    assert not [p for p in cache.rglob("*") if p.is_file() and p.suffix != ".lock"]


def test_float16_overflow_is_refused_naming_dtype_float32(tmp_path: Path, tiny_model_dir: Path, corpus) -> None:  # type: ignore[no-untyped-def]
    def overflow(model):  # type: ignore[no-untyped-def]  # pre-activations of about 65000 +- 1000: past float16's 65504
        mlp = model.transformer.h[0].mlp
        mlp.c_fc.weight.mul_(1e4)
        mlp.c_fc.bias.fill_(65000.0)

    model = _edited_model(tiny_model_dir, tmp_path / "overflow-model", overflow, dtype="float16")
    tmp_path = tmp_path / "cache"
    with pytest.raises(
        ActivationError, match=r"NaN/inf values in blocks.0.mlp.hook_pre .*fp16 overflow.*--claims-dtype float32"
    ):
        _get(tmp_path, model, corpus)


def test_atomic_write_gives_the_file_the_umask_mode_not_mkstemps_0600(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    old = os.umask(0o022)
    try:
        atomic_write_text(target, "{}\n")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_truncated_built_model_is_rebuilt_with_a_warning_not_loaded(tiny_model_dir: Path) -> None:
    from fixtures.models import ModelRef
    from fixtures.storage import RebuiltWarning

    ref = ModelRef("tiny-untrained", "untrained", str(tiny_model_dir), init_seed=1)
    folder = ref.local_dir()
    assert folder is not None
    weights = folder / "model.safetensors"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])
    with pytest.warns(RebuiltWarning, match=r"model.safetensors differ from what was built \(truncated or edited\)"):
        assert ref.local_dir() == folder
    assert weights.read_bytes() == whole  # same config and seed: the same weights again


def test_a_built_directory_is_built_once_and_rebuilt_when_a_file_is_edited_or_its_manifest_is_missing(
    tmp_path: Path,
) -> None:
    from fixtures.storage import BUILT_MANIFEST, RebuiltWarning, built_directory

    builds: list[Path] = []

    def build(out: Path) -> None:
        builds.append(out)
        (out / "config.json").write_text("{}")

    final = tmp_path / "built"
    assert built_directory(final, build, "toy") == final
    assert built_directory(final, build, "toy") == final
    assert len(builds) == 1
    (final / "config.json").write_text('{"edited": true}')
    with pytest.warns(RebuiltWarning, match="config.json differ"):
        built_directory(final, build, "toy")
    (final / BUILT_MANIFEST).unlink()
    with pytest.warns(RebuiltWarning, match=f"no readable {BUILT_MANIFEST}"):
        built_directory(final, build, "toy")
    assert len(builds) == 3
    assert (final / "config.json").read_text() == "{}"
