"""Verdicts and the evidence behind them: what a claim check returns and what the reports are built from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    """Outcome of one claim on one (model, dataset).

    PASS / FAIL: the pre-registered criterion held / did not hold — both are findings.
    INCONCLUSIVE: too little data or power to decide (the reason says which).
    NOT_RUN: the claim does not apply to this model or data (e.g. needs seeds the model does not have).
    ERROR: the harness broke; no scientific conclusion.
    """

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    NOT_RUN = "NOT_RUN"
    ERROR = "ERROR"


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
        figures: data for the report's figures, by figure kind (see claims/render.py for the kinds and
            their fields); drawn into reports/figures/ and report.html, not stored in summary.json.
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
