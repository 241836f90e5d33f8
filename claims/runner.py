"""Run one claim case: resolve its subject, decide applicability, call the check, return Evidence.

Applicability is decided here, before any measurement, from the claim's declared needs and the model's
config: a cross-seed claim on a single model, a claim on an encoder-only model, or a claim needing untrained
controls on a family without them is NOT_APPLICABLE with the precondition named; a claim that needs something
this machine lacks is NOT_RUN with the fix. Anything else that goes wrong propagates and the plugin records the
row as ERROR. A PASS or FAIL of a claim on models must carry its effect against a control (the control is part
of every decision); only claims read off the paper's published tables are exempt. A check's Evidence is kept by
the case memo (claims/case_memo.py), so a re-run with the same sources, settings and code reads it back.
"""

from __future__ import annotations

import math

from claims.case_memo import remembered
from claims.context import ClaimContext, NotApplicable, NotRun
from claims.matrix import ClaimCase
from claims.registry import Claim
from claims.verdict import Evidence, KeyNumber, Verdict
from fixtures.models import FamilyRef, ModelRef, causal_lm_problem, is_family, resolve_family, resolve_model
from fixtures.workbench import Workbench

PUBLISHED = ModelRef("paper-tables", "published", "claims/papers", scale="full")


def context_for(case: ClaimCase, claim: Claim, workbench: Workbench) -> ClaimContext:
    """Resolve the case's subject into a context, raising NotApplicable when the claim cannot use it."""
    family: FamilyRef | None = None
    if claim.needs.published:
        return ClaimContext(claim, case.axis, case.subject, PUBLISHED, None, None, workbench)
    if claim.needs.seeds > 1:
        if not is_family(case.subject.split(":", 1)[0]) or ":" in case.subject:
            raise NotApplicable(
                f"precondition: >= {claim.needs.seeds} seeds of one architecture; {case.subject} is a single "
                "model (declare a family with --claims-family NAME=SPEC,SPEC,...)"
            )
        family = resolve_family(case.subject)
        if len(family.members) < claim.needs.seeds:
            raise NotApplicable(f"precondition: >= {claim.needs.seeds} seeds; {case.subject} has {len(family.members)}")
        model: ModelRef = family.reference
    elif is_family(case.subject):
        family = resolve_family(case.subject)  # single-model claims use every seed when given a family
        model = family.reference
    else:
        model = resolve_model(case.subject)
    problem = causal_lm_problem(model)
    if problem:
        raise NotApplicable(problem)
    return ClaimContext(
        claim=claim,
        axis=case.axis,
        subject_spec=case.subject,
        model=model,
        family=family,
        dataset=case.dataset,
        workbench=workbench,
    )


def run_case(case: ClaimCase, claim: Claim, workbench: Workbench, remember: bool = False) -> Evidence:
    """Evaluate a case; NotApplicable / NotRun become rows with their reason, other exceptions propagate (-> ERROR).

    `remember`: read the Evidence back from the case memo when nothing it depends on changed, and store it when it
    is computed. The plugin's runs remember; a direct call does not, since a test that patches a measurement
    in-process changes no input the memo can see.
    """
    try:
        ctx = context_for(case, claim, workbench)
        if not claim.criterion.applies(ctx.scale):
            raise NotApplicable(f"precondition: {claim.id} has no criterion at the {ctx.scale} scale")
        check = lambda: _checked(claim, claim.check(ctx))  # noqa: E731
        return remembered(ctx, check) if remember else check()
    except NotApplicable as exc:
        return not_run(claim, str(exc), Verdict.NOT_APPLICABLE)
    except NotRun as exc:
        return not_run(claim, str(exc))


def _checked(claim: Claim, evidence: object) -> Evidence:
    """The check's Evidence, refused (-> ERROR) when it is not Evidence or its verdict rests on bad numbers."""
    if not isinstance(evidence, Evidence):
        raise TypeError(f"claim {claim.id} returned {type(evidence).__name__}, not Evidence")
    if evidence.verdict is Verdict.ERROR:
        raise RuntimeError(f"claim {claim.id} returned ERROR itself: {evidence.reason}")
    _check_numbers(claim, evidence)
    return evidence


def not_run(claim: Claim, reason: str, verdict: Verdict = Verdict.NOT_RUN) -> Evidence:
    """A NOT_RUN (or NOT_APPLICABLE) result with its reason."""
    return Evidence(
        verdict=verdict,
        key=KeyNumber("", math.nan, "", claim.key_tolerance),
        reason=reason,
    )


def _check_numbers(claim: Claim, evidence: Evidence) -> None:
    """A verdict must never rest on NaN/inf: a non-finite key number is a harness error, not a finding."""
    if evidence.verdict in (Verdict.PASS, Verdict.FAIL) and not math.isfinite(evidence.key.value):
        raise ValueError(
            f"claim {claim.id}: key number {evidence.key.name} is {evidence.key.value}; refusing a verdict"
        )
    if evidence.verdict is Verdict.PASS and not claim.needs.published and evidence.effect is None:
        raise ValueError(f"claim {claim.id}: a PASS without an effect against a control; the control must decide too")
