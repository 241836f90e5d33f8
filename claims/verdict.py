"""Verdicts and the evidence behind them: what a claim check returns and what the reports are built from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """Outcome of one claim on one (model, dataset).

    PASS / FAIL: the pre-registered criterion held / did not hold — both are findings.
    INCONCLUSIVE: too little data or power to decide (the reason says which, and what effect the sample could
        have detected).
    NOT_APPLICABLE: a precondition of the claim is not met by this model or data (the reason names it: a single
        model for a cross-seed claim, no prediction neurons for a claim about them), or the measured quantity is
        undefined for it. Not a finding about the claim.
    NOT_RUN: the claim could not be run here (a resource it needs, such as a tagger, is not available).
    ERROR: the harness broke; no scientific conclusion.
    """

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    NOT_APPLICABLE = "NOT_APPLICABLE"
    NOT_RUN = "NOT_RUN"
    ERROR = "ERROR"


class Role(StrEnum):
    """What a row is for.

    CLAIM: the row tests the claim; it counts for generalisation.
    NEGATIVE_CONTROL: a setting where the claim declares the effect must be absent (F4 on rotary positions);
        PASS means the control behaved as expected. It never counts for or against generalisation.
    """

    CLAIM = "claim"
    NEGATIVE_CONTROL = "negative_control"


class Axis(StrEnum):
    """Where a claim row sits in the generalisation matrix (also the pytest marker name)."""

    ORIGINAL = "original"
    GT1 = "gt1"
    GT2 = "gt2"
    GT3 = "gt3"


CHECKLIST_KEYS: dict[Axis, str] = {
    Axis.GT1: "GT1_ModelGeneralization",
    Axis.GT2: "GT2_DataGeneralization",
    Axis.GT3: "GT3_MethodGeneralization",
}


@dataclass(frozen=True)
class KeyNumber:
    """The one number a reader compares with the criterion (shown in the terminal table and gated in CI).

    Attributes:
        name: what it is, e.g. "f(excess>0.3)".
        value: the measured value.
        criterion: the pre-registered comparison, e.g. "> 5 x control".
        tolerance: absolute drift of `value` allowed before CI calls it a regression.
    """

    name: str
    value: float
    criterion: str
    tolerance: float

    def formatted(self) -> str:
        """`name = value (criterion)` with a sensible number of digits."""
        return f"{self.name} = {fmt(self.value)}  [{self.criterion}]"


@dataclass(frozen=True)
class Part:
    """One clause of a (possibly conjunctive) criterion, so a reader sees what held and what did not.

    Attributes:
        name: what is compared, e.g. "Wilson low of f(excess>0.3) / untrained f".
        value: the measured value.
        op: the comparison: ">", ">=", "<", "<=", "==" (numbers) or "p<" (a significance test).
        threshold: the pre-registered number it is compared with (alpha for "p<").
        passed: whether the clause held.
        p_value: for significance clauses, the p-value (axis-level multiplicity control reads it).
    """

    name: str
    value: float
    op: str
    threshold: float
    passed: bool
    p_value: float | None = None

    def text(self) -> str:
        """`name = value op threshold: held|failed`."""
        mark = "held" if self.passed else "failed"
        if self.op == "p<":
            return f"{self.name}: p = {fmt(self.value)} < {fmt(self.threshold)}: {mark}"
        return f"{self.name} = {fmt(self.value)} {self.op} {fmt(self.threshold)}: {mark}"


COMPARE: dict[str, Any] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "p<": lambda a, b: a < b,
}


def part(name: str, value: float, op: str, threshold: float) -> Part:
    """A clause whose outcome is the comparison itself (NaN never holds)."""
    if op not in COMPARE:
        raise ValueError(f"unknown comparison {op!r}; use one of {sorted(COMPARE)}")
    value, threshold = float(value), float(threshold)
    held = bool(math.isfinite(value) and COMPARE[op](value, threshold))
    return Part(name, value, op, threshold, held, value if op == "p<" else None)


@dataclass(frozen=True)
class Effect:
    """The claim's effect against its control, on one scale, with a 95 % interval; part of the decision.

    The effect is `measured - control` (trained - untrained seeds, real - shuffled, real - random directions),
    or a ratio where the claim is stated as one (`scale` says which). A verdict can PASS only when the interval's
    lower end clears `threshold`, so a model whose "effect" is what its control also shows never passes.

    Attributes:
        name: what the effect is, e.g. "f(excess>0.3): trained - untrained".
        measured, control: the two values it compares.
        value: the effect (measured - control, or measured / control).
        low, high: its 95 % interval.
        threshold: the pre-registered minimum the lower end must clear.
        control_name: what the control is ("untrained seeds", "shuffled labels", ...).
        method: how the interval was obtained ("Newcombe over neurons", "bootstrap over contexts, 1000", ...).
        scale: "difference" or "ratio".
    """

    name: str
    measured: float
    control: float
    value: float
    low: float
    high: float
    threshold: float
    control_name: str
    method: str
    scale: str = "difference"

    @classmethod
    def welch(
        cls,
        name: str,
        trained: Any,
        untrained: Any,
        *,
        measured: float,
        control: float,
        threshold: float,
        control_name: str,
        units: str,
    ) -> Effect:
        """mean(trained) - mean(untrained) over units (neurons, heads, pairs) with its Welch t interval.

        `measured` and `control` are the values the row reports for each side (each claim says how it averages).
        """
        from engine.inference import mean_difference

        value, low, high = mean_difference(trained, untrained)
        return cls(name, measured, control, value, low, high, threshold, control_name, f"Welch t over {units}")

    @property
    def cleared(self) -> bool:
        """The interval's lower end is above the threshold (NaN never clears)."""
        return bool(math.isfinite(self.low) and self.low > self.threshold)

    @property
    def detectable(self) -> float:
        """Smallest effect this sample could detect (80 % power, two-sided 5 %): 2.8 standard errors."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return math.nan
        return 2.8 * (self.high - self.low) / (2 * 1.959964)

    def as_part(self) -> Part:
        """The effect as a clause of the criterion: its 95 % lower end > threshold."""
        return Part(f"95 % low of {self.name}", self.low, ">", self.threshold, self.cleared)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for summary.json."""
        return {
            "name": self.name,
            "measured": self.measured,
            "control": self.control,
            "value": self.value,
            "ci95": [self.low, self.high],
            "threshold": self.threshold,
            "control_name": self.control_name,
            "method": self.method,
            "scale": self.scale,
            "detectable": self.detectable,
        }


@dataclass(frozen=True)
class Evidence:
    """What a claim check measured and concluded.

    Attributes:
        verdict: PASS / FAIL / INCONCLUSIVE / NOT_RUN (ERROR is assigned by the harness, not by checks).
        key: the headline number and its criterion.
        measured: every number the verdict rests on (JSON-serialisable scalars, lists or small dicts).
        control: the same quantities under the control (rotation baseline, untrained seeds, shuffled labels).
        criterion: the criterion text that applied (full- or small-scale, chosen by the model).
        reason: one sentence generated from the numbers; for FAIL/INCONCLUSIVE it says what fell short.
        n_tokens: tokens the numbers rest on (0 for weight-only claims).
        scale: which criterion applied: "full" or "small".
        figures: data for the report's figures, by figure kind (see claims/report/figures.py for the kinds and
            their fields); drawn into reports/figures/ and report.html, not stored in summary.json.
        parts: every clause of the criterion with its value and outcome (the verdict is their conjunction).
        effect: the effect against the control, with its interval (None only for claims read off the paper's
            published tables, whose reference is the paper itself).
        role: a claim row, or a declared negative control (never counted for generalisation).
    """

    verdict: Verdict
    key: KeyNumber
    reason: str
    measured: dict[str, Any] = field(default_factory=dict)
    control: dict[str, Any] = field(default_factory=dict)
    criterion: str = ""
    n_tokens: int = 0
    scale: str = "small"
    figures: dict[str, Any] = field(default_factory=dict)
    parts: tuple[Part, ...] = ()
    effect: Effect | None = None
    role: Role = Role.CLAIM


def fmt(value: Any) -> str:
    """Compact, stable number formatting for generated text (3 significant digits, no float noise)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"
    return str(value)


def jsonable(value: Any) -> Any:
    """Convert numpy / torch scalars and arrays to plain JSON types, rounding floats to 6 significant digits."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):  # numpy / torch
        return jsonable(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return float(f"{value:.6g}")
    if isinstance(value, StrEnum):
        return str(value)
    return str(value)
