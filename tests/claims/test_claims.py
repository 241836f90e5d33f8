"""The one generic claim test: every registered claim x model x dataset is a parametrisation of it."""

from claims.matrix import ClaimCase


def test_claim(case: ClaimCase, claim_result, claim_gate) -> None:
    claim_gate(claim_result)
