"""What a claim check receives: the claim, its subject (a model or a family), the dataset, and the workbench.

Checks read thresholds through `threshold()` (so they only ever compare against the pre-registered table of
the scale the *model* dictates) and build their result with `evidence()`, which fills in the criterion text,
the scale and the token count, and turns "not enough tokens" into INCONCLUSIVE before any PASS is possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from claims.registry import Claim
from claims.verdict import Axis, Evidence, KeyNumber, Verdict
from fixtures.activations import Activations
from fixtures.models import FamilyRef, LoadedModel, ModelRef
from fixtures.workbench import Workbench


class NotApplicable(Exception):
    """Raised by a check (or the harness) when the claim does not apply to this model or data -> NOT_RUN."""


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

    def loaded(self, ref: ModelRef | None = None) -> LoadedModel:
        """The loaded model (weights); defaults to the row's model."""
        return self.workbench.model(ref or self.model)

    def activations(self, ref: ModelRef | None = None, products: tuple[str, ...] | None = None) -> Activations:
        """Cached activations of a model on the row's dataset (defaults: row model, the claim's products)."""
        if self.dataset is None:
            raise RuntimeError(f"claim {self.claim.id} declared no text but asked for activations")
        return self.workbench.activations(ref or self.model, self.dataset, products or tuple(self.claim.needs.products))

    def evidence(
        self,
        passed: bool,
        key: tuple[str, float],
        reason: str,
        measured: dict[str, Any] | None = None,
        control: dict[str, Any] | None = None,
        n_tokens: int = 0,
        inconclusive: str | None = None,
        figures: dict[str, Any] | None = None,
    ) -> Evidence:
        """Build the row's Evidence.

        Args:
            passed: whether the pre-registered criterion held.
            key: (name, value) of the headline number.
            reason: a sentence generated from the numbers.
            measured: the numbers behind the verdict.
            control: the same quantities under the control.
            n_tokens: tokens the numbers rest on; below the claim's min_tokens the verdict is INCONCLUSIVE.
            inconclusive: a reason the data cannot decide (e.g. too few universal neurons), or None.
            figures: figure data by kind (claims/render.py), drawn into reports/figures/.
        """
        verdict = Verdict.PASS if passed else Verdict.FAIL
        if self.claim.min_tokens and n_tokens < self.claim.min_tokens:
            verdict = Verdict.INCONCLUSIVE
            reason = (
                f"only {n_tokens:,} tokens, below the pre-registered minimum of {self.claim.min_tokens:,} "
                f"(would have been {'PASS' if passed else 'FAIL'}: {reason})"
            )
        elif inconclusive:
            verdict = Verdict.INCONCLUSIVE
            reason = f"{inconclusive} ({reason})"
        return Evidence(
            verdict=verdict,
            key=KeyNumber(key[0], float(key[1]), self.key_criterion(), self.claim.key_tolerance),
            reason=reason,
            measured=measured or {},
            control=control or {},
            criterion=self.criterion_text,
            n_tokens=n_tokens,
            scale=self.scale,
            figures=figures or {},
        )

    def key_criterion(self) -> str:
        """Short criterion shown beside the key number (the first clause of the criterion text)."""
        text = self.criterion_text
        return text.split(";")[0].strip()
