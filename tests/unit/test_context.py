"""ClaimContext.evidence(): the one rule for a missing control, and a control entry on every decided row."""

from __future__ import annotations

from typing import Any

import pytest

from claims.context import NO_CONTROL, ClaimContext
from claims.registry import Claim, Criterion, Needs
from claims.verdict import Axis, Effect, Role, Verdict
from fixtures.models import ModelRef


def _ctx(published: bool = False) -> ClaimContext:
    claim = Claim(
        id="T",
        title="toy",
        statement="a value is large",
        paper_ref="§1",
        paper="toy",
        version=1,
        axes=frozenset({Axis.ORIGINAL}),
        needs=Needs(published=published, text=False),
        criterion=Criterion(
            full="value >= {m}", small="value >= {m}", thresholds_full={"m": 0.5}, thresholds_small={"m": 0.5}
        ),
        min_tokens=0,
        key_tolerance=0.1,
        check=lambda ctx: None,  # type: ignore[arg-type,return-value]
    )
    model = ModelRef("toy", "local", "/nowhere", scale="small")
    return ClaimContext(claim, Axis.ORIGINAL, "toy", model, None, None, None)  # type: ignore[arg-type]


def _effect(low: float) -> Effect:
    return Effect(
        name="value: trained - untrained",
        measured=0.8,
        control=0.1,
        value=0.7,
        low=low,
        high=0.9,
        threshold=0.0,
        control_name="untrained seeds",
        method="test",
    )


def _evidence(ctx: ClaimContext, value: float, **kwargs: Any):  # type: ignore[no-untyped-def]
    return ctx.evidence(parts=[ctx.part("value", value, ">=", "m")], key=("value", value), reason="r", **kwargs)


def test_clauses_that_hold_without_a_control_are_inconclusive_not_pass() -> None:
    evidence = _evidence(_ctx(), 0.8)
    assert evidence.verdict is Verdict.INCONCLUSIVE
    assert NO_CONTROL in evidence.reason


def test_a_failed_clause_without_a_control_is_still_a_fail() -> None:
    assert _evidence(_ctx(), 0.2).verdict is Verdict.FAIL


def test_an_effect_that_clears_its_threshold_lets_the_row_pass() -> None:
    evidence = _evidence(_ctx(), 0.8, effect=_effect(0.5))
    assert evidence.verdict is Verdict.PASS
    assert evidence.control == {"control": "untrained seeds"}


def test_published_tables_need_no_control_and_negative_controls_are_decided_by_their_own_rule() -> None:
    assert _evidence(_ctx(published=True), 0.8).verdict is Verdict.PASS
    assert _evidence(_ctx(), 0.8, role=Role.NEGATIVE_CONTROL).verdict is Verdict.PASS


@pytest.mark.parametrize("value", [0.2, 0.8])
def test_every_decided_row_names_its_control_even_when_none_was_available(value: float) -> None:
    evidence = _evidence(_ctx(), value)
    assert evidence.control, "the summary schema requires a control entry on PASS and FAIL rows"
