"""The case memo: a re-run reads a row's Evidence back only when its sources, settings and the suite's code are the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from claims import case_memo
from claims.context import ClaimContext, NotApplicable
from claims.matrix import ClaimCase
from claims.registry import Claim, Criterion, Needs
from claims.runner import run_case
from claims.verdict import Axis, Effect, Evidence, KeyNumber, Part, Role, Verdict
from fixtures.workbench import RunSettings, Workbench


def _toy(check: Callable[[ClaimContext], Evidence], needs: Needs | None = None) -> Claim:
    return Claim(
        id="T-memo",
        title="toy",
        statement="a value is large",
        paper_ref="§1",
        paper="toy",
        version=1,
        axes=frozenset({Axis.GT1}),
        needs=needs or Needs(),
        criterion=Criterion(
            full="value >= {m}", small="value >= {m}", thresholds_full={"m": 0.5}, thresholds_small={"m": 0.5}
        ),
        min_tokens=0,
        key_tolerance=0.1,
        check=check,
    )


def _evidence() -> Evidence:
    return Evidence(
        verdict=Verdict.FAIL,
        key=KeyNumber("value", 0.25, ">= 0.5", 0.1),
        reason="value 0.25 < 0.5",
        measured={"value": 0.25, "per_layer": (0.1, 0.4), "counts": np.int64(7)},
        control={"value": 0.2},
        criterion="value >= 0.5",
        n_tokens=2_048,
        figures={"scatter": {"x": np.arange(4, dtype=np.float32), "y": [1.0, float("nan"), 3.0, 4.0]}},
        parts=(Part("value", 0.25, ">=", 0.5, False),),
        effect=Effect("value: trained - untrained", 0.25, 0.2, 0.05, -0.1, 0.2, 0.0, "untrained seeds", "toy"),
        role=Role.CLAIM,
    )


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_dirs, text_dir):  # type: ignore[no-untyped-def]
    """Run a toy claim as the plugin does, each time in a new workbench (as a new pytest process would)."""
    monkeypatch.setenv("NEURON_CLAIMS_CACHE", str(tmp_path / "cache"))

    def go(
        claim: Claim, model: str = "random0", seed: int = 0, remember: bool = True, plan: dict | None = None
    ) -> Evidence:
        bench = Workbench(RunSettings(2_048, 2_048, 64, "cpu", "float32", seed))
        bench.plan = plan or {}
        case = ClaimCase(str(tiny_dirs[model]), str(text_dir), claim.id, Axis.GT1)
        return run_case(case, claim, bench, remember=remember)

    return go


def _counting(calls: list[int], raise_na: bool = False) -> Callable[[ClaimContext], Evidence]:
    def check(ctx: ClaimContext) -> Evidence:
        calls.append(1)
        if raise_na:
            raise NotApplicable("precondition: none here")
        return _evidence()

    return check


def test_a_rerun_reads_the_evidence_back_without_running_the_check(run) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    claim = _toy(_counting(calls))
    first, again = run(claim), run(claim)
    assert calls == [1]
    assert again.verdict is Verdict.FAIL
    assert again.role is Role.CLAIM
    for name in ("key", "reason", "measured", "control", "criterion", "n_tokens", "scale", "parts", "effect"):
        assert getattr(again, name) == getattr(first, name), name
    assert type(again.measured["per_layer"]) is tuple
    assert type(again.measured["counts"]) is np.int64
    x = again.figures["scatter"]["x"]
    assert x.dtype == np.float32
    assert np.array_equal(x, first.figures["scatter"]["x"])
    assert np.isnan(again.figures["scatter"]["y"][1])


def test_other_settings_another_model_or_an_edit_to_the_suite_compute_again(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    claim = _toy(_counting(calls))
    run(claim)
    run(claim, seed=1)
    run(claim, model="random1")
    monkeypatch.setattr(case_memo, "suite_fingerprint", lambda: "another tree")
    run(claim)
    assert calls == [1, 1, 1, 1]


def test_not_applicable_is_decided_again_every_run(run) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    claim = _toy(_counting(calls, raise_na=True))
    assert run(claim).verdict is Verdict.NOT_APPLICABLE
    assert run(claim).verdict is Verdict.NOT_APPLICABLE
    assert calls == [1, 1]


def test_a_direct_call_without_remember_always_runs_the_check(run) -> None:  # type: ignore[no-untyped-def]
    calls: list[int] = []
    claim = _toy(_counting(calls))
    run(claim)
    run(claim, remember=False)
    assert calls == [1, 1]


def test_a_row_that_read_another_text_is_computed_again_when_that_text_changes(run, tmp_path, text_dir) -> None:  # type: ignore[no-untyped-def]
    from fixtures.corpora import _resolve

    other = tmp_path / "original"
    other.mkdir()
    prose = (text_dir / "doc0.txt").read_text()
    (other / "doc.txt").write_text(prose)
    seen: list[str] = []

    def check(ctx: ClaimContext) -> Evidence:
        seen.append(ctx.workbench.corpus(str(other)).sha256)  # as G2-overlap reads the original dataset
        return _evidence()

    claim = _toy(check)
    run(claim)
    _resolve.cache_clear()  # a new process reads the text again
    run(claim)
    assert len(seen) == 1
    (other / "doc.txt").write_text(prose + " " + (text_dir / "doc1.txt").read_text())
    _resolve.cache_clear()
    run(claim)
    assert len(seen) == 2
    assert seen[0] != seen[1]


def test_an_edit_to_a_helper_class_in_a_users_claim_package_computes_again(run, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib

    from fixtures import fingerprint

    package = tmp_path / "userclaims_memo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("class Stat:\n    value = 0.25\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    helpers = importlib.import_module("userclaims_memo.helpers")
    calls: list[int] = []

    def check(ctx: ClaimContext) -> Evidence:
        calls.append(1)
        assert helpers.Stat.value == 0.25  # a class: no static walk from the check reaches its file
        return _evidence()

    check.__module__ = "userclaims_memo.toy"  # as if registered from the user's package
    claim = _toy(check)
    run(claim)
    run(claim)
    (package / "helpers.py").write_text("class Stat:\n    value = 0.25  # reviewed\n")
    fingerprint.forget()  # a new process reads the files again
    run(claim)
    assert calls == [1, 1]


def test_a_row_is_computed_again_when_the_plan_for_another_text_it_read_changes(  # type: ignore[no-untyped-def]
    run, tmp_path, text_dir, tiny_dirs
) -> None:
    from fixtures.models import resolve_model

    other = tmp_path / "original"
    other.mkdir()
    (other / "doc.txt").write_text((text_dir / "doc0.txt").read_text())
    calls: list[int] = []

    def check(ctx: ClaimContext) -> Evidence:
        calls.append(1)
        ctx.workbench.corpus(str(other))  # statistics on this text take the route its plan gives
        return _evidence()

    claim = _toy(check)
    run(claim)
    run(claim)
    assert calls == [1]
    name = resolve_model(str(tiny_dirs["random0"])).name
    run(claim, plan={(name, str(other)): frozenset({"mlp_post_raw"})})  # a narrowed run plans that text otherwise
    assert calls == [1, 1]


def test_a_hub_model_without_a_known_revision_is_never_memoised(run, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from fixtures.model_refs import ModelRef

    monkeypatch.setattr(ModelRef, "identity", lambda self: "hub:org/model@unknown")
    calls: list[int] = []
    claim = _toy(_counting(calls))
    run(claim)
    run(claim)
    assert calls == [1, 1]
