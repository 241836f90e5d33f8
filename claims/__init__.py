"""Paper claims as pytest tests: the registry, verdicts, the plugin and the reports.

A claim module needs only this package's public names, so adding a claim is one file that starts with
`from claims import claim, Criterion, Needs, Axis, ClaimContext, Evidence, ...`. Statistics come from `engine`
(e.g. `engine.inference.proportion_difference`), measurements shared between claims from the paper's `measures`.
"""

from claims.context import NO_CONTROL, ClaimContext, NotApplicable, NotRun
from claims.registry import Criterion, Needs, claim
from claims.verdict import Axis, Effect, Evidence, Part, Role, Verdict, fmt

__all__ = [
    "NO_CONTROL",
    "Axis",
    "ClaimContext",
    "Criterion",
    "Effect",
    "Evidence",
    "Needs",
    "NotApplicable",
    "NotRun",
    "Part",
    "Role",
    "Verdict",
    "claim",
    "fmt",
]
