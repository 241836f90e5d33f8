from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from claims.registry import REGISTRY, Claim, Criterion, Needs, Registry, claim, load_all
from claims.verdict import Axis


def _criterion() -> Criterion:
    return Criterion(full="x >= {a}", small="x >= {a}", thresholds_full={"a": 1.0}, thresholds_small={"a": 0.5})


def _register(
    registry: Registry, claim_id: str = "Z1", check: Callable[[Any], Any] = lambda ctx: None, **overrides: object
) -> None:
    kwargs: dict = {
        "title": "t",
        "statement": "s",
        "paper_ref": "§1",
        "axes": [Axis.GT1],
        "criterion": _criterion(),
        "registry": registry,
    }
    kwargs.update(overrides)
    claim(claim_id, **kwargs)(check)


def test_every_registered_claim_declaration_is_complete() -> None:
    claims = load_all()
    assert len(claims) >= 3
    for item in claims.values():
        item.validate()
        for scale in ("full", "small"):
            assert item.criterion.text(scale)


def test_duplicate_claim_id_raises_naming_both_origins() -> None:
    registry = Registry()
    _register(registry)
    with pytest.raises(ValueError, match="duplicate claim id 'Z1'"):
        _register(registry)


def test_unknown_claim_id_suggests_close_matches() -> None:
    registry = Registry()
    _register(registry, "U1")
    with pytest.raises(KeyError, match="Did you mean 'U1'"):
        registry.get("U11")


def test_frozen_registry_rejects_late_claims() -> None:
    registry = Registry()
    registry.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        _register(registry)


def test_criterion_text_cannot_name_an_undefined_threshold() -> None:
    with pytest.raises(ValueError, match="undefined thresholds"):
        Criterion(full="x >= {missing}", small="x", thresholds_full={})


def test_criterion_text_is_filled_from_the_scale_table() -> None:
    assert _criterion().text("full") == "x >= 1"
    assert _criterion().text("small") == "x >= 0.5"


def test_activation_claim_must_preregister_min_tokens() -> None:
    registry = Registry()
    with pytest.raises(ValueError, match="min_tokens"):
        _register(registry, needs=Needs(products=frozenset({"mlp_post.raw"})))


def test_claim_without_axes_is_rejected() -> None:
    registry = Registry()
    with pytest.raises(ValueError, match="axis"):
        _register(registry, axes=[])


def test_registry_lists_claims_in_catalogue_order() -> None:
    registry = Registry()
    for claim_id in ("U10", "U2", "A1", "U1"):
        _register(registry, claim_id)
    assert [c.id for c in registry.all()] == ["A1", "U1", "U2", "U10"]


def test_global_registry_holds_claim_objects() -> None:
    load_all()
    assert all(isinstance(c, Claim) for c in REGISTRY.all())


def test_a_claim_not_tested_at_a_scale_leaves_that_criterion_out_and_its_rows_are_not_applicable() -> None:
    from claims.matrix import ClaimCase
    from claims.runner import run_case
    from claims.verdict import Verdict

    criterion = Criterion(full="x >= {a}", thresholds_full={"a": 1.0})
    assert criterion.applies("full")
    assert not criterion.applies("small")
    assert criterion.text("small") == "not tested at the small scale"

    registry = Registry()
    calls: list[object] = []
    _register(
        registry, "Z2", check=lambda ctx: calls.append(ctx), criterion=criterion, needs=Needs(seeds=1, text=False)
    )
    case = ClaimCase("zoo-gpt2-s:a", None, "Z2", Axis.GT1)
    evidence = run_case(case, registry.get("Z2"), workbench=None)  # type: ignore[arg-type]  # never reached
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert "no criterion at the small scale" in evidence.reason
    assert not calls, "the check must not run where the claim has no criterion"
