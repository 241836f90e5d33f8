"""What a claim check receives: the claim, its subject (a model or a family), the dataset, and the workbench.

Checks read thresholds through `threshold()` (so they only ever compare against the pre-registered table of
the scale the *model* dictates), state each clause of their criterion with `part()` and their effect against the
control as an `Effect`, and build their result with `evidence()`. The verdict is the conjunction of the parts
and the effect's interval clearing its threshold; `evidence()` fills in the criterion text, the scale and the
token count, and turns "not enough tokens" into INCONCLUSIVE before any PASS is possible. One rule for a missing
control, applied here for every claim: clauses that held without an effect against a control are INCONCLUSIVE
(the control must decide a PASS); a failed clause is a finding with or without a control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claims.registry import Claim
from claims.verdict import Axis, Effect, Evidence, KeyNumber, Part, Role, Verdict, fmt
from claims.verdict import part as make_part
from fixtures.activations import Activations
from fixtures.models import FamilyRef, LoadedModel, ModelRef
from fixtures.workbench import Workbench

NO_CONTROL = "no control (untrained seeds or a null) was available for this row, so the control cannot decide"


class NotApplicable(Exception):
    """Raised by a check (or the harness) when a precondition is unmet or the quantity undefined -> NOT_APPLICABLE.

    The message names the precondition ("needs prediction neurons (P1); none in ..."), never only "skipped".
    """


class NotRun(Exception):
    """Raised when the claim cannot be run here (a resource it needs is missing) -> NOT_RUN, with the fix."""


@dataclass
class ClaimContext:
    """Inputs of one claim row.

    Attributes:
        claim: the claim being checked.
        axis: the row's generalisation axis.
        subject_spec: what the user / profile named.
        model: the single model (single-model claims), or the family's reference member.
        family: the family (cross-seed claims), else None.
        dataset: corpus spec, or None for weight-only claims.
        workbench: the session's sources.
    """

    claim: Claim
    axis: Axis
    subject_spec: str
    model: ModelRef
    family: FamilyRef | None
    dataset: str | None
    workbench: Workbench
    notes: list[str] = field(default_factory=list)

    @property
    def scale(self) -> str:
        """Criterion scale, "full" or "small": decided by the model (the zoo is small), never by the result."""
        return self.model.scale

    def threshold(self, name: str) -> float:
        """A pre-registered threshold of this claim at this row's scale."""
        table = self.claim.criterion.thresholds(self.scale)
        if name not in table:
            raise KeyError(
                f"claim {self.claim.id} has no {self.scale}-scale threshold {name!r}; declared: {sorted(table)}"
            )
        return float(table[name])

    @property
    def criterion_text(self) -> str:
        """The criterion that applies to this row."""
        return self.claim.criterion.text(self.scale)

    @property
    def corpus_name(self) -> str:
        """The row's dataset; claims that read text only run on rows that have one."""
        if self.dataset is None:
            raise NotApplicable(f"{self.claim.id} reads text but this row has no dataset")
        return self.dataset

    def untrained_controls(self) -> tuple[ModelRef, ...]:
        """Untrained (initialisation) copies of the row's architecture.

        The family's controls, or, for a single model, random initialisations of its config (built on first
        use). Empty when no config is available offline; a claim that needs them then reports INCONCLUSIVE.
        """
        if self.family is not None and self.family.controls:
            return tuple(self.family.controls)
        from fixtures.models import untrained_controls

        return untrained_controls(self.model, self.model.name)

    def loaded(self, ref: ModelRef | None = None) -> LoadedModel:
        """The loaded model (weights); defaults to the row's model."""
        return self.workbench.model(ref or self.model)

    def activations(self, ref: ModelRef | None = None, products: tuple[str, ...] | None = None) -> Activations:
        """Cached activations of a model on the row's dataset (defaults: row model, the claim's products)."""
        if self.dataset is None:
            raise RuntimeError(f"claim {self.claim.id} declared no text but asked for activations")
        return self.workbench.activations(ref or self.model, self.dataset, products or tuple(self.claim.needs.products))

    def part(self, name: str, value: float, op: str, threshold: str | float) -> Part:
        """One clause of the criterion; `threshold` is a pre-registered threshold name or a number."""
        bound = self.threshold(threshold) if isinstance(threshold, str) else float(threshold)
        return make_part(name, value, op, bound)

    def evidence(
        self,
        passed: bool | None = None,
        key: tuple[str, float] = ("", float("nan")),
        reason: str = "",
        measured: dict[str, Any] | None = None,
        control: dict[str, Any] | None = None,
        n_tokens: int = 0,
        inconclusive: str | None = None,
        figures: dict[str, Any] | None = None,
        parts: list[Part] | tuple[Part, ...] = (),
        effect: Effect | None = None,
        role: Role = Role.CLAIM,
    ) -> Evidence:
        """Build the row's Evidence.

        Args:
            passed: whether the pre-registered criterion held; leave it out when `parts` say it (with parts
                it must agree with them, so no clause can be hidden).
            key: (name, value) of the headline number.
            reason: a sentence generated from the numbers.
            measured: the numbers behind the verdict.
            control: the same quantities under the control.
            n_tokens: tokens the numbers rest on; below the claim's min_tokens the verdict is INCONCLUSIVE.
            inconclusive: a reason the data cannot decide (e.g. too few universal neurons), or None.
            figures: figure data by kind (claims/report/figures.py), drawn into reports/figures/.
            parts: every clause of the criterion (name, value, threshold, outcome).
            effect: the effect against the control with its 95 % interval; its lower end must clear its
                threshold for a PASS (it is added to the parts).
            role: CLAIM, or NEGATIVE_CONTROL for a setting where the claim expects no effect (PASS = as expected).
        """
        all_parts = tuple(parts) + ((effect.as_part(),) if effect is not None else ())
        if passed is None:
            if not all_parts:
                raise ValueError(f"claim {self.claim.id}: evidence() needs `passed` or the criterion's parts")
            passed = all(p.passed for p in all_parts)
        elif all_parts and passed != all(p.passed for p in all_parts):
            raise ValueError(
                f"claim {self.claim.id}: passed={passed} disagrees with its parts: "
                + "; ".join(p.text() for p in all_parts)
            )
        verdict = Verdict.PASS if passed else Verdict.FAIL
        measured = dict(measured or {})
        if self.claim.min_tokens and n_tokens < self.claim.min_tokens:
            verdict = Verdict.INCONCLUSIVE
            reason = (
                f"only {n_tokens:,} tokens, below the pre-registered minimum of {self.claim.min_tokens:,} "
                f"(would have been {'PASS' if passed else 'FAIL'}: {reason})"
            )
        elif inconclusive:
            verdict = Verdict.INCONCLUSIVE
            reason = f"{inconclusive} ({reason})"
        elif passed and effect is None and role is Role.CLAIM and not self.claim.needs.published:
            verdict = Verdict.INCONCLUSIVE
            reason = f"{NO_CONTROL} ({reason})"
        if verdict is Verdict.INCONCLUSIVE and effect is not None:
            measured["detectable_effect"] = effect.detectable
            reason += f"; the sample could detect an effect of about {fmt(effect.detectable)} ({effect.name})"
        return Evidence(
            verdict=verdict,
            key=KeyNumber(key[0], float(key[1]), self.key_criterion(), self.claim.key_tolerance),
            reason=reason,
            measured=measured,
            control=control or {"control": effect.control_name if effect is not None else "none available"},
            criterion=self.criterion_text,
            n_tokens=n_tokens,
            scale=self.scale,
            figures=figures or {},
            parts=all_parts,
            effect=effect,
            role=role,
        )

    def key_criterion(self) -> str:
        """Short criterion shown beside the key number (the first clause of the criterion text)."""
        text = self.criterion_text
        return text.split(";")[0].strip()
