"""Determinism: the same suite with the same options writes the same summary, apart from wall-clock times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

SEEDED_CLAIMS = """
import numpy as np

from claims.context import NotApplicable
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis

CRITERION = Criterion(full="mean >= {minimum}", small="mean >= {minimum}", thresholds_full={"minimum": 0.4},
                      thresholds_small={"minimum": 0.4})


def _draw(ctx, n):
    return np.random.default_rng(ctx.workbench.settings.seed).random(n)


@claim("D1", title="seeded pass", statement="a seeded mean is large", paper_ref="toy", axes=[Axis.ORIGINAL],
       needs=Needs(published=True, text=False), criterion=CRITERION, key_tolerance=0.01)
def seeded_pass(ctx):
    values = _draw(ctx, 1000)
    mean = float(values.mean())
    return ctx.evidence(mean >= ctx.threshold("minimum"), key=("mean", mean), reason=f"mean {mean:.4f}",
                        measured={"mean": mean, "quantiles": np.quantile(values, [0.1, 0.5, 0.9]).tolist()},
                        control={"mean": float(_draw(ctx, 10).mean())})


@claim("D2", title="seeded fail", statement="a seeded minimum is large", paper_ref="toy", axes=[Axis.ORIGINAL],
       needs=Needs(published=True, text=False), criterion=CRITERION)
def seeded_fail(ctx):
    low = float(_draw(ctx, 1000).min())
    return ctx.evidence(low >= ctx.threshold("minimum"), key=("mean", low), reason=f"min {low:.6f}")


@claim("D3", title="not applicable", statement="needs what is missing", paper_ref="toy", axes=[Axis.ORIGINAL],
       needs=Needs(published=True, text=False), criterion=CRITERION)
def not_applicable(ctx):
    raise NotApplicable("toy claim never applies")
"""

TIMES = ("started", "finished")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, toy_suite_writer, lean_flags) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Two runs of one toy suite with the same options, each writing its own summary."""
    folder = tmp_path_factory.mktemp("seeded-suite")
    toy_suite_writer(folder, SEEDED_CLAIMS)
    env = os.environ | {"NEURON_CLAIMS_CACHE": str(tmp_path_factory.mktemp("cache"))}
    summaries = []
    for name in ("first", "second"):
        options = [
            *lean_flags,
            "--claims-no-figures",
            "--claims-seed=7",
            "--claims-device=cpu",
            f"--claims-report={name}.json",
        ]
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", *options], cwd=folder, env=env, capture_output=True, text=True, check=False
        )
        assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]  # D2 fails
        summaries.append(json.loads((folder / f"{name}.json").read_text()))
    return summaries


def _without_times(summary: dict[str, Any]) -> dict[str, Any]:
    run = {k: v for k, v in summary["run"].items() if k not in TIMES}
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in summary["claims"]]
    return summary | {"run": run, "claims": rows}


def test_two_runs_with_the_same_options_write_the_same_summary_apart_from_times(two_runs) -> None:  # type: ignore[no-untyped-def]
    first, second = two_runs
    assert {row["verdict"] for row in first["claims"]} == {"PASS", "FAIL", "NOT_APPLICABLE"}
    assert _without_times(first) == _without_times(second)


def test_summary_records_the_seed_and_the_versions_that_change_numbers(two_runs) -> None:  # type: ignore[no-untyped-def]
    run = two_runs[0]["run"]
    assert run["options"]["seed"] == 7
    assert {"python", "torch", "transformers", "transformer-lens", "numpy"} <= set(run["versions"])
    assert "not installed" not in {run["versions"][k] for k in ("torch", "transformers", "transformer-lens", "numpy")}
    assert run["git_commit"]
    assert run["device"] == "cpu"
