"""Parallel runs on one cold cache: xdist workers and separate pytest processes compute each entry once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.storage import sha256_file

pytest_plugins = ("pytester",)

N_READERS = 8

# Eight claims that all read the same activations (same model, corpus, products, tokens); each records a hash
# of what it read and whether its own call computed the entry.
READER_CLAIMS = f"""
import hashlib
import os

import numpy as np

from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect


def _read(ctx):
    acts = ctx.activations()
    raw = np.ascontiguousarray(acts.raw("mlp_post.raw"))
    n = float(raw.shape[0])
    return ctx.evidence(True, key=("positions", n), reason="read the shared cache entry",
                        effect=Effect("positions read - none", n, 0.0, n, n, n, 0.0, "nothing read", "exact"),
                        measured={{"sha256": hashlib.sha256(raw.tobytes()).hexdigest(), "computed": acts.computed,
                                  "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}},
                        n_tokens=int(acts.tokens.size))


for i in range({N_READERS}):
    claim(f"R{{i}}", title=f"reader {{i}}", statement="reads activations", paper_ref="toy", axes=[Axis.GT2],
          needs=Needs(products=frozenset({{"mlp_post.raw"}})), criterion=Criterion(full="x", small="x"),
          min_tokens=1)(lambda ctx: _read(ctx))
"""


def _options(lean_flags: tuple[str, ...], model_dir: Path, text_dir: Path) -> list[str]:
    return [
        *lean_flags,
        "--claims-no-figures",
        f"--claims-models={model_dir}",
        f"--claims-datasets={text_dir}",
        "--claims-tokens=256",
        "--claims-context-length=32",
        "--claims-device=cpu",
    ]


def _check_one_forward_pass(summaries: list[dict], cache: Path) -> None:  # type: ignore[type-arg]
    rows = [row for summary in summaries for row in summary["claims"]]
    assert len(rows) == N_READERS * len(summaries)
    assert {row["verdict"] for row in rows} == {"PASS"}
    assert sum(summary["run"]["forward_passes"] for summary in summaries) == 1
    assert len({row["measured"]["sha256"] for row in rows}) == 1
    [entry] = [p for p in (cache / "activations").iterdir() if p.is_dir()]
    manifest = json.loads((entry / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["excluded", "mlp_post.raw", "tokens"]
    for name, record in manifest["files"].items():
        assert sha256_file(entry / f"{name}.npy") == record["sha256"]
    assert not [p.name for p in entry.iterdir() if p.name.startswith(".")]


def test_four_xdist_workers_on_a_cold_cache_compute_each_entry_once(  # type: ignore[no-untyped-def]
    pytester: pytest.Pytester, toy_suite, lean_flags, tiny_model_dir: Path, text_dir: Path, private_cache: Path
) -> None:
    toy_suite(READER_CLAIMS)
    # --dist worksteal: the default scheduler (claims/scheduling.py) keeps one model on one worker; here the workers must collide.
    result = pytester.runpytest_subprocess(
        *_options(lean_flags, tiny_model_dir, text_dir), "-n", "4", "--dist", "worksteal"
    )
    result.assert_outcomes(passed=N_READERS)
    summary = json.loads(
        (pytester.path / "reports" / "narrowed" / "summary.json").read_text()
    )  # --claims-models narrows
    assert {row["measured"]["worker"] for row in summary["claims"]} == {"gw0", "gw1", "gw2", "gw3"}
    _check_one_forward_pass([summary], private_cache)


def test_two_pytest_processes_on_a_cold_cache_compute_each_entry_once(  # type: ignore[no-untyped-def]
    pytester: pytest.Pytester, toy_suite, lean_flags, tiny_model_dir: Path, text_dir: Path, private_cache: Path
) -> None:
    toy_suite(READER_CLAIMS)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                *_options(lean_flags, tiny_model_dir, text_dir),
                f"--claims-report=reports/{name}.json",
            ],
            cwd=pytester.path,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("first", "second")
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], "\n".join(out[-3000:] for out in outputs)
    summaries = [json.loads((pytester.path / "reports" / f"{name}.json").read_text()) for name in ("first", "second")]
    _check_one_forward_pass(summaries, private_cache)
