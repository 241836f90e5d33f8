"""The case memo: a re-run with the same inputs and the same code reads a claim row's Evidence back.

Every measurement under a claim is already cached (activations, universality tables, probes), but a warm run still
paid for what the checks do on top of them: bootstrap intervals, permutation nulls, reading stored activations
back. Those are deterministic functions of the case, its sources and the code, so a second run with all of them
unchanged recomputes nothing. The Evidence is stored through the workbench's derived results (fixtures/derived.py:
a data-only, checksummed record under a lock), keyed by

* the case (claim id and version, axis, subject, dataset, the scale whose criterion applies);
* the run settings (`RunSettings`: token budgets, sample caps, context length, device, dtype, seed, probes);
* the sources the row reads: its models in order (reference first) and `Workbench.provenance` (every model's
  weights identity, every token sample's digest, the text's sha256 and a hub dataset's revision), and the products
  the run plans for those models (they decide whether statistics are read from stored activations or streamed).
  A check may read other text than its row's (G2-overlap reads the original dataset on every row), so every corpus
  it asked for is recorded with the row (`Workbench.corpora_read`) and checked before the row is read back: a
  changed text (a hub dataset at a new revision) recomputes the row;
* the code: the claim's check and what it reaches plus the statistics engine (as every derived result), and also
  `fixtures.fingerprint.suite_fingerprint` (every file of the suite's packages and the paper folders' data) and
  every .py file of the package the claim comes from (a user's `claims_packages` lives outside the suite). A
  check reads the workbench through method calls, which no static walk follows, so the case memo is keyed by all
  of the suite, not by a guess at what the check reaches. An edit anywhere in the suite therefore recomputes
  every row (from the measurement caches below it, which keep their own narrower keys);
* the versions of the numerical libraries (numpy, scipy, torch, tokenizers, ...) and, on a GPU, the card and CUDA
  build: an upgrade may move an interval.

A hub model whose snapshot is not on disk yet has no revision to key by, so its rows are computed, not memoised.

Only Evidence a check returned, and that passed the runner's checks, is stored. NOT_APPLICABLE and NOT_RUN rows are
decided again every run (they are cheap and may depend on what this machine has), and an exception is never stored.
Claims read off the paper's published tables are not memoised: they take milliseconds.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claims.verdict import Evidence, Role, Verdict
from fixtures.fingerprint import fingerprint, installed_versions, suite_fingerprint

if TYPE_CHECKING:
    from claims.context import ClaimContext

MEMO_VERSION = 1  # the record layout below; bump it if `_record` changes what it stores
LIBRARIES = (
    "numpy",
    "scipy",
    "torch",
    "transformer-lens",
    "transformers",
    "tokenizers",
    "safetensors",
    "pandas",
    "scikit-learn",
    "spacy",
)
UNKNOWN_REVISION = "@unknown"  # a hub model's identity before its snapshot is on disk (fixtures/model_refs.py)


def remembered(ctx: ClaimContext, compute: Callable[[], Evidence]) -> Evidence:
    """`compute()`'s Evidence for this case, read back when the case, its sources and the code are unchanged."""
    if ctx.claim.needs.published:
        return compute()
    bench = ctx.workbench
    refs = [*ctx.family.members, *ctx.family.controls] if ctx.family is not None else [ctx.model]
    identities = [ref.identity() for ref in refs]
    if any(identity.endswith(UNKNOWN_REVISION) for identity in identities):
        return compute()  # which revision the check will download is not known yet: nothing to key a row by
    inputs = {
        "case": {
            "claim": ctx.claim.id,
            "version": ctx.claim.version,
            "axis": str(ctx.axis),
            "subject": ctx.subject_spec,
            "dataset": ctx.dataset,
            "scale": ctx.scale,
        },
        "models": [[ref.name, identity, ref.scale] for ref, identity in zip(refs, identities, strict=True)],
        "settings": dataclasses.asdict(bench.settings),
        "sources": bench.provenance(ctx.subject_spec, ctx.dataset),
        "plan": _planned(bench, refs, ctx.dataset or ""),
        "suite": suite_fingerprint(),
        "claims": claim_package_fingerprint(ctx.claim.check),
        "libraries": installed_versions(LIBRARIES),
        "accelerator": _accelerator(bench.settings.device),
    }

    def computed() -> dict[str, Any]:
        with bench.corpora_read() as read:
            evidence = compute()
        return {"evidence": _record(evidence), "corpora": {name: read_as(name, c) for name, c in read.items()}}

    def read_as(name: str, corpus: Any) -> dict[str, Any]:
        # the text, and the products this run plans for the row's models on it: they pick the route of statistics
        # on that text too (G2-overlap's original dataset keeps its plan only in a run that selects its rows)
        return {**_text(corpus), "plan": _planned(bench, refs, name)}

    def unchanged(record: dict[str, Any]) -> bool:
        try:
            return all(read_as(name, bench.corpus(name)) == seen for name, seen in record["corpora"].items())
        except (OSError, ValueError):  # a text that can no longer be read: recompute, and let the check say why
            return False

    record = bench.derived(
        f"case-{ctx.claim.id}",
        MEMO_VERSION,
        inputs,
        computed,
        code=ctx.claim.check,
        announce=False,
        valid=unchanged,
    )
    return _evidence(record["evidence"])


def claim_package_fingerprint(check: Callable[..., Any]) -> str:
    """Fingerprint of every .py file of the package the claim is registered from.

    A user's `claims_packages` live outside the suite, and their helpers may be classes, which `code_files` does not
    follow; for the paper's claims this is claims/, already in the suite's fingerprint.
    """
    top = sys.modules.get(check.__module__.split(".")[0])
    folders = [Path(p) for p in getattr(top, "__path__", ())]
    files = {f for folder in folders for f in folder.rglob("*.py")}
    module_file = getattr(sys.modules.get(check.__module__), "__file__", None)
    if module_file:  # a claim module that is not in a package
        files.add(Path(module_file))
    return fingerprint(files)


def _text(corpus: Any) -> dict[str, Any]:
    """A corpus's identity as the memo records it: its sha256 and where streamed text came from."""
    return {"sha256": corpus.sha256, "source": dict(corpus.source)}


def _planned(bench: Any, refs: list[Any], dataset: str) -> dict[str, list[str]]:
    """The products this run plans for the row's models on a dataset (they pick the statistics' route)."""
    return {ref.name: sorted(bench.plan.get((ref.name, dataset), frozenset())) for ref in refs}


def _accelerator(device: str) -> dict[str, str | None]:
    """On a GPU, which card and CUDA build: reduced-precision GEMMs differ between them."""
    if not device.startswith("cuda"):
        return {}
    import torch

    return {"name": torch.cuda.get_device_name(torch.device(device)), "cuda": torch.version.cuda}


def _record(evidence: Evidence) -> dict[str, Any]:
    """Evidence as data (the record format stores no enums: the verdict and the role go by their values)."""
    fields = {f.name: getattr(evidence, f.name) for f in dataclasses.fields(evidence)}
    fields["verdict"] = evidence.verdict.value
    fields["role"] = evidence.role.value
    return fields


def _evidence(record: dict[str, Any]) -> Evidence:
    fields = dict(record)
    fields["verdict"] = Verdict(fields["verdict"])
    fields["role"] = Role(fields["role"])
    return Evidence(**fields)
