"""`--claims-cache-info` / `--claims-cache-prune`: stale cache entries are found and removed, live ones never."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from filelock import FileLock

from fixtures import cache_admin
from fixtures.storage import BUILT_MANIFEST

pytest_plugins = ("pytester",)
DAY = 86400.0


def _make(path: Path, age_days: float = 0.0, size: int = 10) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = time.time() - age_days * DAY
    os.utime(path, (when, when))
    return path


def _cache(root: Path) -> dict[str, Path]:
    model = root / "models" / "fresh-model"
    _make(model / "config.json")
    _make(model / BUILT_MANIFEST)
    old_model = root / "models" / "pre-manifest"
    _make(old_model / "config.json")
    dead_build = root / "models" / ".zoo-untrained-a.x1.partial"  # a SIGKILLed atomic_directory
    _make(dead_build / "model.safetensors")
    os.utime(dead_build, (time.time() - 2 * 3600, time.time() - 2 * 3600))
    return {
        "dead_build": dead_build,
        "old_hub_corpus": _make(root / "corpora" / "hf-1ab39fcef0abe706.jsonl", age_days=400),
        "old_corpus": _make(root / "corpora" / "news-v1.jsonl", age_days=40),
        "old_corpus_meta": _make(root / "corpora" / "news-v1.meta.json", age_days=40),
        "fresh": _make(root / "derived" / "fresh-1.npz"),
        "fresh_lock": _make(root / "derived" / "fresh-1.npz.lock", size=0),
        "old": _make(root / "derived" / "old-2.npz", age_days=40),
        "pickle": _make(root / "derived" / "u-3.pkl"),
        "orphan_lock": _make(root / "derived" / "gone-4.npz.lock", size=0),
        "dead_writer": _make(root / "activations" / ".x.npy.partial", age_days=1),
        "live_writer": _make(root / "activations" / ".y.npy.partial"),
        "old_artifact": _make(root / "artifacts" / "pinned.whl", age_days=400),
        "figure": _make(root / "figures" / "0a1b.png"),
        "old_figure": _make(root / "figures" / "2c3d.png", age_days=40),
        "model": model,
        "old_model": old_model,
    }


def test_info_counts_stale_entries_by_last_use_and_by_what_no_reader_can_use(tmp_path: Path) -> None:
    _cache(tmp_path)
    uses = {u.name: u for u in cache_admin.survey(tmp_path, max_age_days=30)}
    assert (uses["derived"].entries, uses["derived"].stale_entries) == (3, 2)  # old, pickle; lock files uncounted
    assert (uses["activations"].entries, uses["activations"].stale_entries) == (2, 1)  # the live writer's stays
    assert (uses["models"].entries, uses["models"].stale_entries) == (3, 2)  # pre-manifest, dead build
    assert (uses["corpora"].entries, uses["corpora"].stale_entries) == (3, 2)  # a hub corpus is kept at any age
    assert uses["artifacts"].stale_entries == 0  # pinned downloads are never stale by age
    assert (uses["figures"].entries, uses["figures"].stale_entries) == (2, 1)  # drawn figures go by last use too


def test_prune_removes_the_stale_entries_and_keeps_the_rest(tmp_path: Path) -> None:
    paths = _cache(tmp_path)
    removed = {u.name: u.stale_entries for u in cache_admin.prune(tmp_path, max_age_days=30)}
    assert removed == {"activations": 1, "derived": 2, "figures": 1, "models": 2, "corpora": 2, "artifacts": 0}
    gone = {name for name, path in paths.items() if not path.exists()}
    assert gone == {
        "old",
        "pickle",
        "dead_writer",
        "old_model",
        "dead_build",
        "old_corpus",
        "old_corpus_meta",
        "old_figure",
    }
    assert paths["orphan_lock"].exists()  # another process may hold it: deleting it would split the lock


def test_prune_skips_an_entry_whose_lock_another_process_holds(tmp_path: Path) -> None:
    old = _make(tmp_path / "derived" / "busy-1.npz", age_days=40)
    with FileLock(str(old) + ".lock"):
        assert [u.stale_entries for u in cache_admin.prune(tmp_path, 30) if u.name == "derived"] == [0]
    assert old.exists()


def test_a_corpus_meta_file_is_guarded_by_the_lock_of_its_text(tmp_path: Path) -> None:
    meta = _make(tmp_path / "corpora" / "news-v1.meta.json", age_days=40)
    with FileLock(str(tmp_path / "corpora" / "news-v1.jsonl.lock")):
        cache_admin.prune(tmp_path, 30)
    assert meta.exists()


def test_reading_a_derived_result_marks_it_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fixtures.workbench import RunSettings, Workbench

    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path))
    Workbench(RunSettings(64, 64, 16, "cpu", "float32", 0)).derived("probe", 1, {}, lambda: {"x": 1})
    (path,) = (tmp_path / "derived").glob("probe-*.npz")
    long_ago = time.time() - 40 * DAY
    os.utime(path, (long_ago, long_ago))
    Workbench(RunSettings(64, 64, 16, "cpu", "float32", 0)).derived("probe", 1, {}, lambda: {"x": 1})
    assert time.time() - path.stat().st_mtime < DAY
    assert [u.stale_entries for u in cache_admin.survey(tmp_path, 30) if u.name == "derived"] == [0]


def test_cache_info_and_prune_are_pytest_commands_that_run_no_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_never="def test_never():\n    raise AssertionError('ran')\n")
    _make(pytester.path / "cache" / "derived" / "u-3.pkl", size=2_000)
    env = {"NEURON_CLAIMS_CACHE": str(pytester.path / "cache")}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        info = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-cache-info")
        info.stdout.fnmatch_lines(["derived * 1 * 2 kB * 1 (2 kB)", "free 2 kB with: pytest --claims-cache-prune 30"])
        pruned = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-cache-prune", "30")
        pruned.stdout.fnmatch_lines(["derived * 1 * 2 kB", "freed 2 kB"])
        bad = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--claims-cache-prune=-1")
    assert info.ret == pruned.ret == 0
    assert not (pytester.path / "cache" / "derived" / "u-3.pkl").exists()
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--claims-cache-prune -1: expected a number of days >= 0*"])
    assert not (pytester.path / "reports").exists()
