"""The claims registry: the only place a claim becomes runnable.

A claim is a frozen, declarative object made by `@claim(...)` on its check function: statement, paper
reference, version, the axes it runs on, what it needs, and its pre-registered criterion (text *and*
thresholds, for the paper's scale and for our small models). To add a claim, drop a module that uses `@claim`
under `claims/papers/<paper>/`; `load_all()` imports every module there, in sorted order, and the registry is
frozen afterwards. Duplicate ids raise; unknown ids get a "did you mean".
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
import string
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from claims.verdict import Axis

if TYPE_CHECKING:
    from claims.context import ClaimContext
    from claims.verdict import Evidence

CheckFn = Callable[["ClaimContext"], "Evidence"]

SCALES = ("full", "small")


@dataclass(frozen=True)
class Needs:
    """What a claim needs from a model and its data; decides which (model, dataset) pairs it runs on.

    Attributes:
        seeds: minimum models of one architecture from different seeds (1 = a single model is enough).
        products: activation products on text (see fixtures/activations.py); empty means weights only.
        intervention: the claim runs the model with hooks that change activations (no disk cache applies).
        text: the claim reads text at all (weight-only claims run once per model, on no dataset).
        untrained_control: the claim compares with untrained (init) copies of the family when it has them.
        published: the claim reads the paper's published tables (claims/papers/<paper>/data), not a model.
    """

    seeds: int = 1
    products: frozenset[str] = frozenset()
    intervention: bool = False
    text: bool = True
    untrained_control: bool = False
    published: bool = False

    def describe(self) -> str:
        """Human-readable summary for docs and error messages."""
        if self.published:
            return "the paper's published tables"
        parts = ["weights"]
        if self.products:
            parts.append("activations (" + ", ".join(sorted(self.products)) + ")")
        if self.seeds > 1:
            parts.append(f">= {self.seeds} seeds")
        if self.untrained_control:
            parts.append("untrained controls")
        if self.intervention:
            parts.append("interventions")
        return " + ".join(parts)


@dataclass(frozen=True)
class Criterion:
    """A pre-registered pass criterion: text templates filled from the threshold tables.

    The templates use `{name}` fields that must all be present in the matching thresholds, so the text a
    report prints and the numbers a check compares against cannot drift apart.

    Attributes:
        full: criterion for the paper's models and models of similar size (hub GPT-2/Pythia, SmolLM2).
        small: criterion for the zoo's tiny models; left out when the claim is not tested at that scale (a
            published-table claim), and then its small-scale rows are NOT_APPLICABLE without any check running.
        thresholds_full, thresholds_small: the numbers the templates and the check use.
    """

    full: str
    small: str | None = None
    thresholds_full: Mapping[str, float] = field(default_factory=dict)
    thresholds_small: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for scale in SCALES:
            if not self.applies(scale):
                continue
            template, table = self.template(scale), self.thresholds(scale)
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f}
            missing = names - set(table)
            if missing:
                raise ValueError(f"criterion text ({scale}) uses undefined thresholds: {sorted(missing)}")

    def applies(self, scale: str) -> bool:
        """Whether the claim is tested at this scale (it has a criterion there)."""
        return scale == "full" or self.small is not None  # every claim has a full-scale criterion

    def template(self, scale: str) -> str:
        """The raw template for a scale (a fixed sentence where the claim is not tested at it)."""
        template = self.full if scale == "full" else self.small
        return template if template is not None else f"not tested at the {scale} scale"

    def thresholds(self, scale: str) -> Mapping[str, float]:
        """The threshold table for a scale."""
        return self.thresholds_full if scale == "full" else self.thresholds_small

    def text(self, scale: str) -> str:
        """The criterion sentence with its numbers filled in."""
        return self.template(scale).format(**{k: _num(v) for k, v in self.thresholds(scale).items()})


def _num(v: float) -> str:
    return f"{v:g}"


def changelog_entry(claim: Claim, old_version: int) -> str | None:
    """The paper README's changelog bullet for this claim's move from `old_version`, or None when there is none.

    A bump is recorded in the README of the claim's paper folder as a bullet such as "X1 v1 -> v2: why", or one
    covering several claims ("every claim ... v1 -> v2"). The gate lists a bump with its old and new criterion; a
    bump without its entry is a regression, so a loosened criterion always leaves a written reason.
    """
    readme = claim_readme(claim)
    if readme is None:
        return None
    text = readme.read_text(encoding="utf-8")
    move = f"v{old_version} -> v{claim.version}"
    bullets = [" ".join(b.split()) for b in text.split("\n- ")[1:]]
    own = re.compile(rf"(?<![\w-]){re.escape(claim.id)}(?![\w-])")
    for bullet in bullets:
        if move in bullet and own.search(bullet):
            return bullet
    for bullet in bullets:  # a bullet for many claims counts only with its own move, not one it names for a claim
        general = re.sub(r"(?<![\w-])[A-Z][\w-]* v\d+ -> v\d+", "", bullet)
        if move in general and re.search(r"every claim|all claims", general):
            return bullet
    return None


def claim_readme(claim: Claim) -> Path | None:
    """README.md of the package that defines the claim's check (the paper folder), if there is one."""
    module = sys.modules.get(claim.check.__module__)
    source = getattr(module, "__file__", None)
    if source is None:
        return None
    readme = Path(source).parent / "README.md"
    return readme if readme.is_file() else None


@dataclass(frozen=True)
class Claim:
    """One testable claim of a paper.

    Attributes:
        id: short unique id from the claim catalogue (e.g. "U1", "P2", "GT3-heads").
        title: a few words for tables.
        statement: the paper's claim in one or two sentences.
        paper_ref: where in the paper (section / figure / table).
        paper: citation key of the paper.
        version: bump on any change to the check or the criterion (see the paper folder's README).
        axes: the matrix cells the claim runs in.
        needs: what it needs (decides which models and datasets it is paired with).
        criterion: the pre-registered criterion for both scales.
        min_tokens: below this many tokens the verdict is INCONCLUSIVE, not PASS (0 for weight-only claims).
        key_tolerance: absolute drift of the key number that CI still accepts against a baseline.
        check: the function that measures and decides.
        paper_numbers: what the paper reports for this claim (for docs/claims.md), if not already in `statement`.
    """

    id: str
    title: str
    statement: str
    paper_ref: str
    paper: str
    version: int
    axes: frozenset[Axis]
    needs: Needs
    criterion: Criterion
    min_tokens: int
    key_tolerance: float
    check: CheckFn = field(repr=False, compare=False)
    origin: str = ""
    paper_numbers: str = ""

    def validate(self) -> None:
        """Raise ValueError when the declaration is incomplete (run for every claim at load time)."""
        problems = []
        if not self.id or any(c.isspace() for c in self.id):
            problems.append("id must be a non-empty token")
        if self.version < 1:
            problems.append("version must be >= 1")
        if not self.axes:
            problems.append("at least one axis")
        if not self.statement.strip() or not self.paper_ref.strip():
            problems.append("statement and paper_ref are required")
        if self.needs.products and not self.needs.text:
            problems.append("activation products need text")
        if self.needs.text and self.min_tokens <= 0 and self.needs.products:
            problems.append("claims on activations must pre-register min_tokens > 0")
        if self.key_tolerance < 0:
            problems.append("key_tolerance must be >= 0")
        if problems:
            raise ValueError(f"claim {self.id!r} ({self.origin}): " + "; ".join(problems))


class Registry:
    """Claims by id; filled by `load_all()`, then frozen."""

    def __init__(self) -> None:
        self._claims: dict[str, Claim] = {}
        self._frozen = False

    def add(self, item: Claim) -> None:
        """Register a claim; duplicate ids and late registrations are errors."""
        if self._frozen:
            raise RuntimeError(f"registry is frozen; cannot add {item.id!r} after collection")
        item.validate()
        if item.id in self._claims:
            other = self._claims[item.id].origin
            raise ValueError(f"duplicate claim id {item.id!r}: defined in {other} and in {item.origin}")
        self._claims[item.id] = item

    def get(self, claim_id: str) -> Claim:
        """The claim with this id, or KeyError with close matches."""
        try:
            return self._claims[claim_id]
        except KeyError:
            close = difflib.get_close_matches(claim_id, list(self._claims), n=3, cutoff=0.4)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise KeyError(f"unknown claim {claim_id!r}.{hint}") from None

    def all(self) -> list[Claim]:
        """Every claim, sorted by id."""
        return [self._claims[k] for k in sorted(self._claims, key=_claim_sort_key)]

    def freeze(self) -> Mapping[str, Claim]:
        """Stop accepting claims; returns a read-only view."""
        self._frozen = True
        return MappingProxyType(self._claims)

    def __len__(self) -> int:
        return len(self._claims)


def _claim_sort_key(claim_id: str) -> tuple[str, int, str]:
    head = claim_id.rstrip("0123456789")
    tail = claim_id[len(head) :]
    return (head, int(tail) if tail.isdigit() else -1, claim_id)


REGISTRY = Registry()
PAPERS_PACKAGE = "claims.papers"


def claim(
    id: str,
    /,
    *,
    title: str,
    statement: str,
    paper_ref: str,
    axes: Iterable[Axis],
    criterion: Criterion,
    needs: Needs = Needs(),
    version: int = 1,
    min_tokens: int = 0,
    key_tolerance: float = 0.0,
    paper: str = "gurnee2024universal",
    paper_numbers: str = "",
    registry: Registry | None = None,
) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated check function as claim `id` (see `Claim` for the fields)."""

    def decorate(check: CheckFn) -> CheckFn:
        item = Claim(
            id=id,
            title=title,
            statement=" ".join(statement.split()),
            paper_ref=paper_ref,
            paper=paper,
            version=version,
            axes=frozenset(axes),
            needs=needs,
            criterion=criterion,
            min_tokens=min_tokens,
            key_tolerance=key_tolerance,
            check=check,
            origin=f"{check.__module__}.{check.__qualname__}",
            paper_numbers=paper_numbers,
        )
        (registry if registry is not None else REGISTRY).add(item)
        check.claim = item  # type: ignore[attr-defined]
        return check

    return decorate


_loaded: set[str] = set()


def load_all(packages: Iterable[str] = (PAPERS_PACKAGE,)) -> Mapping[str, Claim]:
    """Import every module under the claim packages (sorted, deterministic) and freeze the registry."""
    for root in packages:
        if root in _loaded:
            continue
        package = importlib.import_module(root)
        modules = sorted(m.name for m in pkgutil.walk_packages(package.__path__, prefix=f"{root}.") if not m.ispkg)
        for name in modules:
            importlib.import_module(name)
        _loaded.add(root)
    return REGISTRY.freeze()


def describe(item: Claim) -> dict[str, Any]:
    """The declaration as plain data (docs, reports, baseline files)."""
    return {
        "id": item.id,
        "title": item.title,
        "version": item.version,
        "statement": item.statement,
        "paper_ref": item.paper_ref,
        "axes": sorted(str(a) for a in item.axes),
        "needs": item.needs.describe(),
        "criterion_full": item.criterion.text("full"),
        "criterion_small": item.criterion.text("small"),
        "min_tokens": item.min_tokens,
    }
