"""Derived results are keyed by the code that computes them: a warm cache must not hide an edited analysis."""

from __future__ import annotations

import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from engine.interventions import single_threaded
from fixtures import fingerprint
from fixtures.workbench import RunSettings, Workbench

ANALYSIS = """
CALLS = []


def compute():
    CALLS.append(1)
    return {result!r}
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))
    fingerprint.forget()
    yield
    fingerprint.forget()


def _bench() -> Workbench:
    """A fresh workbench: no in-process memo, only what is on disk (like a new pytest run)."""
    return Workbench(RunSettings(1_024, 1_024, 64, "cpu", "float32", 0))


def _module(folder: Path, name: str, source: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, name, raising=False)
    importlib.invalidate_caches()
    return importlib.import_module(name)


def _rewrite(module: ModuleType, source: str) -> ModuleType:
    """Write new source for `module` and load it as a new process would (fresh file digests, fresh import)."""
    path = Path(module.__file__ or "")
    path.write_text(textwrap.dedent(source))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # the .pyc must not be trusted
    fingerprint.forget()
    importlib.invalidate_caches()
    return importlib.reload(module)


def test_derived_result_is_recomputed_when_its_module_source_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = _module(tmp_path / "src", "analysis_v", ANALYSIS.format(result="old"), monkeypatch)
    assert _bench().derived("analysis", 1, {"x": 1}, mod.compute) == "old"
    assert mod.CALLS == [1]

    mod = _rewrite(mod, ANALYSIS.format(result="changed"))  # same version, same inputs: only the code differs
    assert _bench().derived("analysis", 1, {"x": 1}, mod.compute) == "changed"
    assert mod.CALLS == [1]


def test_derived_result_is_reused_when_its_module_source_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = _module(tmp_path / "src", "analysis_same", ANALYSIS.format(result="old"), monkeypatch)
    assert _bench().derived("analysis", 1, {"x": 1}, mod.compute) == "old"

    mod = _rewrite(mod, ANALYSIS.format(result="old"))
    assert _bench().derived("analysis", 1, {"x": 1}, mod.compute) == "old"
    assert mod.CALLS == []  # read from disk, not computed


def test_derived_result_is_recomputed_when_the_statistics_engine_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = tmp_path / "engine"
    engine.mkdir()
    (engine / "stats.py").write_text("THRESHOLD = 0.5\n")
    monkeypatch.setattr(fingerprint, "ENGINE", engine)
    mod = _module(tmp_path / "src", "analysis_e", ANALYSIS.format(result="old"), monkeypatch)
    _bench().derived("analysis", 1, {}, mod.compute)

    (engine / "stats.py").write_text("THRESHOLD = 0.25\n")
    fingerprint.forget()
    _bench().derived("analysis", 1, {}, mod.compute)
    assert mod.CALLS == [1, 1]


def test_derived_result_is_recomputed_when_its_version_is_bumped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = _module(tmp_path / "src", "analysis_b", ANALYSIS.format(result="old"), monkeypatch)
    _bench().derived("analysis", 1, {}, mod.compute)
    _bench().derived("analysis", 2, {}, mod.compute)
    assert mod.CALLS == [1, 1]


def test_wrappers_partials_and_methods_are_fingerprinted_by_the_code_they_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = _module(
        tmp_path / "src",
        "analysis_w",
        """
        class Table:
            def build(self, n):
                return n

            def __call__(self):
                return 0


        def compute(n):
            return n
        """,
        monkeypatch,
    )
    own = Path(mod.__file__ or "").resolve()
    interventions = fingerprint.ROOT / "engine" / "interventions.py"
    assert fingerprint.code_files(single_threaded(functools.partial(mod.compute, 3))) == {interventions, own}
    assert fingerprint.code_files(mod.Table().build) == {own}
    assert fingerprint.code_files(mod.Table()) == {own}
    assert fingerprint.code_files(functools.wraps(mod.compute)(lambda: None)) >= {own}


def test_helpers_it_calls_are_followed_and_library_code_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "project"
    package = root / "pkgx"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("def scale(x):\n    return 2 * x\n")
    (package / "unused.py").write_text("def other():\n    return 0\n")
    (package / "analysis.py").write_text(
        "from json import dumps\nfrom textwrap import dedent\n\nfrom pkgx.helper import scale\n\n\n"
        "def make(fmt=dedent):\n"
        "    def compute():\n        return fmt(dumps([scale(v) for v in range(3)]))\n\n    return compute\n"
    )
    monkeypatch.syspath_prepend(str(root))
    for name in ("pkgx", "pkgx.helper", "pkgx.unused", "pkgx.analysis"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    analysis = importlib.import_module("pkgx.analysis")
    files = fingerprint.code_files(analysis.make())
    assert {fingerprint.label(p) for p in files} == {"pkgx/analysis.py", "pkgx/helper.py"}


def test_a_file_is_read_once_per_process(tmp_path: Path) -> None:
    path = tmp_path / "code.py"
    path.write_text("A = 1\n")
    first = fingerprint.file_digest(path)
    path.write_text("A = 2\n")  # edited while a run is under way: this process still runs the old code
    assert fingerprint.file_digest(path) == first
    fingerprint.forget()
    assert fingerprint.file_digest(path) != first


def test_fingerprint_names_files_by_their_place_in_the_project_not_by_absolute_path() -> None:
    engine = fingerprint.package_files(fingerprint.ENGINE)
    assert fingerprint.label(engine[0]).startswith("engine/")
    assert all(not fingerprint.label(p).startswith("/") for p in engine)


_CLONE_SCRIPT = """
import json, pathlib, sys
from fixtures import activations, fingerprint
from engine import percentiles
assert fingerprint.ROOT == pathlib.Path.cwd().resolve(), (fingerprint.ROOT, pathlib.Path.cwd())
out = [activations.extraction_fingerprint(), fingerprint.code_fingerprint(percentiles.within_layer_percentile)]
engine_file = fingerprint.ROOT / "engine" / "percentiles.py"
engine_file.write_text(engine_file.read_text() + "\\n# edited\\n")
fingerprint.forget()
out.append(fingerprint.code_fingerprint(percentiles.within_layer_percentile))
print(json.dumps(out))
"""


def test_fingerprint_is_the_same_in_a_copy_of_the_tree_at_another_path(tmp_path: Path) -> None:
    from engine import percentiles
    from fixtures import activations

    clone = tmp_path / "elsewhere" / "clone"
    for package in ("engine", "fixtures", "claims"):
        shutil.copytree(fingerprint.ROOT / package, clone / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(clone), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CLONE_SCRIPT], cwd=clone, env=env, capture_output=True, text=True, check=True
    )
    extraction, engine, edited = json.loads(done.stdout)
    assert extraction == activations.extraction_fingerprint()
    assert engine == fingerprint.code_fingerprint(percentiles.within_layer_percentile)
    assert edited != engine
