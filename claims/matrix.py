"""The claim matrix: claims x subjects x datasets -> test cases, each on one generalisation axis.

Profiles name the default subjects and datasets per axis. When the user passes `--claims-models` or `--claims-datasets`,
those replace the profile's for every axis and each row's axis is derived from what is new relative to the
paper (`claims.profiles.axis_of`). A claim joins only the axes it declares; weight-only claims run once per
subject with no dataset. A claim with rows on GT1 or GT2 brings the profile's original rows of the same scale
(small zoo or full-size models): generalisation is judged against them, so `pytest -m gt1` or `--claims-models X`
answers on its own. Full-size rows with no full-size original in the profile are judged against the paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from claims.profiles import Profile, axis_of
from claims.registry import Claim
from claims.verdict import Axis

WEIGHTS = "weights"
REFERENCED_AXES = frozenset({Axis.GT1, Axis.GT2})  # axes whose rows are judged against the original rows
PUBLISHED_SUBJECT = "paper-tables"


@dataclass(frozen=True, order=True)
class ClaimCase:
    """One test item: a claim on a subject (model or family spec) and a dataset (None = weights only)."""

    subject: str
    dataset: str | None
    claim_id: str
    axis: Axis

    @property
    def test_id(self) -> str:
        """Readable pytest id, e.g. `U1-original-zoo-gpt2-s-sotu`."""
        return f"{self.claim_id}-{self.axis.value}-{self.subject}-{self.dataset or WEIGHTS}"

    @property
    def dataset_label(self) -> str:
        """Dataset name for reports (`weights` for weight-only claims)."""
        return self.dataset or WEIGHTS


def expand(
    claims: Iterable[Claim],
    profile: Profile,
    models: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
) -> list[ClaimCase]:
    """All cases of a run, deduplicated and sorted by subject (so each model's work stays together)."""
    cases: set[ClaimCase] = set()
    for item in claims:
        if item.needs.published:
            if Axis.ORIGINAL in item.axes:
                cases.add(ClaimCase(PUBLISHED_SUBJECT, None, item.id, Axis.ORIGINAL))
        elif models or datasets:
            cases |= _override_cases(item, profile, models, datasets)
        else:
            cases |= _profile_cases(item, profile)
        judged = {case_scale(c) for c in cases if c.claim_id == item.id and c.axis in REFERENCED_AXES}
        if judged and Axis.ORIGINAL in item.axes and not item.needs.published:
            cases |= {c for c in _profile_cases(item, profile) if c.axis is Axis.ORIGINAL and case_scale(c) in judged}
    return sorted(cases, key=lambda c: (c.subject, c.dataset or "", c.claim_id, c.axis.value))


def case_scale(case: ClaimCase) -> str:
    """The criterion scale of a case's subject ("full", "small", or "" when it does not resolve)."""
    if case.subject == PUBLISHED_SUBJECT:
        return "full"
    from fixtures.models import subject_scale

    return subject_scale(case.subject)


def _profile_cases(item: Claim, profile: Profile) -> set[ClaimCase]:
    out = set()
    for axis in item.axes:
        cell = profile.cells.get(axis)
        if cell is None:
            continue
        for subject in cell.subjects:
            for dataset in cell.datasets if item.needs.text else (None,):
                if axis_of(subject, dataset, axis is Axis.GT3) is axis:
                    out.add(ClaimCase(subject, dataset, item.id, axis))
    return out


def _override_cases(
    item: Claim, profile: Profile, models: Sequence[str] | None, datasets: Sequence[str] | None
) -> set[ClaimCase]:
    subjects = list(models) if models else sorted({s for c in profile.cells.values() for s in c.subjects})
    data = list(datasets) if datasets else sorted({d for c in profile.cells.values() for d in c.datasets})
    method = Axis.GT3 in item.axes
    out = set()
    for subject in subjects:
        for dataset in data if item.needs.text else (None,):
            axis = axis_of(subject, dataset, method)
            if axis in item.axes:
                out.add(ClaimCase(subject, dataset, item.id, axis))
    return out


def serves(case: ClaimCase, cases: Iterable[ClaimCase]) -> frozenset[Axis]:
    """The axes an original case is the reference for (its claim has rows there), so `-m gt1` runs it too."""
    if case.axis is not Axis.ORIGINAL:
        return frozenset()
    return frozenset(c.axis for c in cases if c.claim_id == case.claim_id and c.axis in REFERENCED_AXES)
