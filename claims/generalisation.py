"""Does a finding generalise? Claim-level verdicts per axis, judged against the original setting.

A row verdict (PASS / FAIL / ...) says whether a claim's criterion held on one model and dataset. Whether the
finding *generalises* is a different question: it needs the finding to hold in the original setting first.
The rule, pre-registered here and in the README:

1. Reference. A small-scale row (the zoo) is judged against the claim's original rows at the same scale in
   the same run (our stand-in: the base zoo family on State of the Union speeches); a full-scale row (a real
   model such as SmolLM2) against the claim's original rows at full scale when the run has them (the paper's
   own models), else against the paper's published result, which holds by the paper's account. GT3 rows
   (the paper's method on a new task) and rows of claims that declare no original setting (a claim stated
   only for new data) are judged against the paper's published result. The reference *holds* when every
   chosen original row PASSes, *does not hold* when one FAILs, is INCONCLUSIVE or NOT_APPLICABLE, and is
   *missing* when it was not run or errored.
2. Multiplicity. Within an axis, the p-values of every significance clause ("p<" parts) of the claim rows
   that measured something (PASS, FAIL, INCONCLUSIVE) are adjusted together with Benjamini-Hochberg (scipy);
   a PASS whose clause no longer holds after adjustment counts as INCONCLUSIVE. Row verdicts themselves are
   left as measured.
3. Row label. NOT_APPLICABLE -> not applicable; NOT_RUN -> not run; reference missing -> inconclusive (the
   row cannot be judged); reference does not hold -> not reproduced; reference held and row PASS ->
   generalises, FAIL -> does not generalise, INCONCLUSIVE or ERROR -> inconclusive. Negative-control rows
   never count.
4. Claim label on an axis: does not generalise if any row does not; else generalises if any row does;
   else inconclusive, not reproduced, not applicable or not run, in that order.
5. Axis verdict (the Checklist). Testable claims are those that generalise or do not. FAIL when at least a
   third of the testable claims do not generalise (and at least one does not); PASS when none does not,
   at least one generalises, and testable claims are at least as many as inconclusive ones; NOT_RUN when no
   claim of the axis measured anything (every claim not run or not applicable); INCONCLUSIVE otherwise.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from claims.verdict import CHECKLIST_KEYS, Axis, Role, Verdict

GENERALISES = "generalises"
DOES_NOT = "does_not_generalise"
NOT_REPRODUCED = "not_reproduced"
NOT_APPLICABLE = "not_applicable"
INCONCLUSIVE = "inconclusive"
NOT_RUN = "not_run"
LABELS = (GENERALISES, DOES_NOT, NOT_REPRODUCED, NOT_APPLICABLE, INCONCLUSIVE, NOT_RUN)
CLAIM_ORDER = (DOES_NOT, GENERALISES, INCONCLUSIVE, NOT_REPRODUCED, NOT_APPLICABLE, NOT_RUN)

FAIL_SHARE = 1 / 3  # share of testable claims that must not generalise for an axis to FAIL
PAPER = "paper"  # the reference is the paper's published result
RATIONALE_LIMIT = 2000

RULE = (
    "A claim generalises on an axis when it holds in the original setting (our stand-in for small models, the "
    "paper's own result for real-scale models and GT3) and its rows on the axis pass; it does not generalise "
    "when it holds in the original and a row fails; it is not reproduced when the original does not hold. "
    "p-value clauses are Benjamini-Hochberg adjusted per axis. An axis FAILs when >= 1/3 of its testable "
    "claims do not generalise, PASSes when none fails, >= 1 generalises and testable claims are at least as many "
    "as inconclusive ones; it is NOT_RUN when no claim on it measured anything."
)


def adjust_for_multiplicity(rows: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Benjamini-Hochberg over the significance clauses of these rows (one axis).

    Returns, by row index, {"tests": [{part, p, q, alpha, held}], "verdict": the row verdict after adjustment}
    for rows that have significance clauses.
    """
    tests: list[tuple[int, dict[str, Any]]] = []
    for i, row in enumerate(rows):
        measured = (Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE)
        if row.get("role", Role.CLAIM) != Role.CLAIM or row["verdict"] not in measured:
            continue
        for p in row.get("parts") or []:
            if p.get("op") == "p<" and _finite(p.get("value")):
                tests.append((i, p))
    if not tests:
        return {}
    # Imported here, once there is something to adjust: engine.inference loads scipy.stats (0.6 s), which a run of
    # published-table claims would otherwise pay at start-up for nothing.
    from engine.inference import benjamini_hochberg

    q_values = benjamini_hochberg([float(p["value"]) for _, p in tests])
    out: dict[int, dict[str, Any]] = {}
    for (i, p), q in zip(tests, q_values, strict=True):
        entry = out.setdefault(i, {"tests": [], "verdict": rows[i]["verdict"]})
        held = bool(_finite(q) and q < float(p["threshold"]))
        entry["tests"].append({"part": p["name"], "p": p["value"], "q": q, "alpha": p["threshold"], "held": held})
        if rows[i]["verdict"] == Verdict.PASS and not held:
            entry["verdict"] = str(Verdict.INCONCLUSIVE)
    for entry in out.values():
        entry["n_tests"] = len(tests)
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _reference(
    row: Mapping[str, Any], originals: Sequence[Mapping[str, Any]], adjusted: Mapping[int, str]
) -> tuple[str, str]:
    """(reference description, status) where status is "held", "not_held" or "missing" (rule 1)."""
    if row["axis"] == Axis.GT3:
        return f"{PAPER}: published result ({row['paper_ref']})", "held"
    if "axes" in row and Axis.ORIGINAL.value not in row["axes"]:
        return f"{PAPER}: published result ({row['paper_ref']}); the claim has no original setting here", "held"
    same_scale = [r for r in originals if r["id"] == row["id"] and r.get("scale") == row.get("scale")]
    if not same_scale:
        if row.get("scale") == "full":
            return f"{PAPER}: published result ({row['paper_ref']})", "held"
        return "original setting: not in this run", "missing"
    same_subject = [r for r in same_scale if r["model"] == row["model"]]
    chosen = same_subject or same_scale
    verdicts = [adjusted.get(id(r), r["verdict"]) for r in chosen]
    where = ", ".join(f"{r['model']} on {r['dataset']}: {v}" for r, v in zip(chosen, verdicts, strict=True))
    if all(v == Verdict.PASS for v in verdicts):
        status = "held"
    elif any(v in NOT_HELD for v in verdicts):
        status = "not_held"
    else:  # only PASS, ERROR and NOT_RUN: the original was not measured
        status = "missing"
    return f"original setting ({where})", status


NOT_HELD = (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.NOT_APPLICABLE)


def row_label(verdict: str, reference_status: str, role: str = Role.CLAIM) -> str | None:
    """The generalisation label of one row (None for negative controls, which never count)."""
    if role != Role.CLAIM:
        return None
    if verdict == Verdict.NOT_APPLICABLE:
        return NOT_APPLICABLE
    if verdict == Verdict.NOT_RUN:
        return NOT_RUN
    if reference_status == "missing":
        return INCONCLUSIVE
    if reference_status != "held":
        return NOT_REPRODUCED
    if verdict == Verdict.PASS:
        return GENERALISES
    if verdict == Verdict.FAIL:
        return DOES_NOT
    return INCONCLUSIVE


def claim_label(labels: Sequence[str]) -> str:
    """A claim's label on an axis from its rows' labels (rule 4 of the module docstring)."""
    present = set(labels)
    for label in CLAIM_ORDER:
        if label in present:
            return label
    return NOT_RUN


def axis_verdict(claim_labels: Mapping[str, str]) -> Verdict:
    """The Checklist verdict of an axis from its claims' labels (rule 5 of the module docstring)."""
    counts = Counter(claim_labels.values())
    if counts[NOT_RUN] + counts[NOT_APPLICABLE] == len(claim_labels):
        return Verdict.NOT_RUN
    testable = counts[GENERALISES] + counts[DOES_NOT]
    if counts[DOES_NOT] >= 1 and counts[DOES_NOT] >= FAIL_SHARE * testable:
        return Verdict.FAIL
    if counts[DOES_NOT] == 0 and counts[GENERALISES] >= 1 and testable >= counts[INCONCLUSIVE]:
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def judge(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Annotate rows with their reference and label, and return the per-claim, per-axis generalisation block.

    Mutates each row: adds "reference" ({"source", "status"}), "generalisation" (label or None) and, where
    significance clauses exist, "multiplicity" (tests and the verdict after adjustment).
    """
    adjusted_verdict: dict[int, str] = {}
    for axis in Axis:
        axis_rows = [r for r in rows if r["axis"] == axis.value]
        for i, entry in adjust_for_multiplicity(axis_rows).items():
            axis_rows[i]["multiplicity"] = entry
            adjusted_verdict[id(axis_rows[i])] = entry["verdict"]
    originals = [r for r in rows if r["axis"] == Axis.ORIGINAL and r.get("role", Role.CLAIM) == Role.CLAIM]
    per_claim: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        if row["axis"] == Axis.ORIGINAL:
            continue
        source, status = _reference(row, originals, adjusted_verdict)
        verdict = adjusted_verdict.get(id(row), row["verdict"])
        label = row_label(verdict, status, row.get("role", Role.CLAIM))
        row["reference"] = {"source": source, "status": status}
        row["generalisation"] = label
        entry = per_claim.setdefault(
            (row["axis"], row["id"]), {"id": row["id"], "axis": row["axis"], "title": row["title"], "rows": []}
        )
        entry["rows"].append(
            {
                "model": row["model"],
                "dataset": row["dataset"],
                "verdict": row["verdict"],
                "verdict_adjusted": verdict,
                "role": row.get("role", Role.CLAIM),
                "reference": source,
                "label": label,
            }
        )
    claims_out = []
    axes: dict[str, Any] = {}
    for axis, key in CHECKLIST_KEYS.items():
        entries = sorted((e for (a, _), e in per_claim.items() if a == axis.value), key=lambda e: e["id"])
        labels: dict[str, str] = {}
        for e in entries:
            counted = [r["label"] for r in e["rows"] if r["label"] is not None]
            e["label"] = claim_label(counted) if counted else None
            e["references"] = sorted({r["reference"] for r in e["rows"] if r["label"] is not None})
            if e["label"] is not None:
                labels[e["id"]] = e["label"]
            claims_out.append(e)
        verdict = axis_verdict(labels)
        by_label = {label: sorted(c for c, v in labels.items() if v == label) for label in LABELS}
        axes[key] = {
            "verdict": str(verdict),
            "counts": {label: len(ids) for label, ids in by_label.items()},
            "claims": by_label,
            "multiplicity": {
                "method": "benjamini-hochberg",
                "tests": sum(len(r.get("multiplicity", {}).get("tests", [])) for r in rows if r["axis"] == axis.value),
            },
        }
    return {"rule": RULE, "fail_share": FAIL_SHARE, "axes": axes, "claims": claims_out}


AXIS_QUESTION = {
    "GT1_ModelGeneralization": "new models",
    "GT2_DataGeneralization": "new data",
    "GT3_MethodGeneralization": "the paper's methods on new tasks",
}


def rationale(key: str, block: Mapping[str, Any], claims: Sequence[Mapping[str, Any]]) -> str:
    """At most RATIONALE_LIMIT characters: the verdict, the counts and the claims by name (details in the rows)."""
    axis = block["axes"][key]
    verdict, counts, names = axis["verdict"], axis["counts"], axis["claims"]
    if verdict == Verdict.NOT_RUN and not any(counts.values()):
        return f"NOT_RUN: no claim was run on {AXIS_QUESTION[key]} (not selected, or no model/dataset of this axis)."
    testable = counts[GENERALISES] + counts[DOES_NOT]
    where = {c["id"]: c for c in claims if c["axis"] == _axis_of_key(key)}
    head = (
        f"NOT_RUN: no claim on {AXIS_QUESTION[key]} measured anything ({counts[NOT_APPLICABLE]} not applicable, "
        f"{counts[NOT_RUN]} not run)."
        if verdict == Verdict.NOT_RUN
        else f"{verdict}: on {AXIS_QUESTION[key]}, {counts[GENERALISES]} of {testable} testable claims generalise and "
        f"{counts[DOES_NOT]} do not (FAIL at >= 1/3 not generalising); {counts[NOT_REPRODUCED]} not reproduced in the "
        f"original setting, {counts[INCONCLUSIVE]} inconclusive, {counts[NOT_APPLICABLE]} not applicable"
        + (f", {counts[NOT_RUN]} not run" if counts[NOT_RUN] else "")
        + f"; {axis['multiplicity']['tests']} p-value clauses BH-adjusted."
    )
    lists: list[tuple[str, list[str]]] = []
    for label in (DOES_NOT, GENERALISES, INCONCLUSIVE, NOT_REPRODUCED, NOT_APPLICABLE, NOT_RUN):
        items = []
        for cid in names[label]:
            failing = [
                r["model"] + ("" if r["dataset"] in ("weights", "sotu") else "/" + r["dataset"])
                for r in where.get(cid, {}).get("rows", [])
                if r["label"] == DOES_NOT
            ]
            items.append(f"{cid} ({', '.join(failing)})" if label == DOES_NOT and failing else cid)
        if items:
            lists.append((RATIONALE_TITLES[label], items))
    return _fit(head, lists, "Per-row numbers, references and parts: claims[] and report.html.", RATIONALE_LIMIT)


RATIONALE_TITLES = {
    DOES_NOT: "Do not generalise",
    GENERALISES: "Generalise",
    INCONCLUSIVE: "Inconclusive",
    NOT_REPRODUCED: "Not reproduced in the original",
    NOT_APPLICABLE: "Not applicable",
    NOT_RUN: "Not run",
}


def _axis_of_key(key: str) -> str:
    return next(a.value for a, k in CHECKLIST_KEYS.items() if k == key)


def _fit(head: str, lists: list[tuple[str, list[str]]], tail: str, limit: int) -> str:
    """Head, one "Title: a; b; c." per list, tail; the longest list loses items ("+N more") until it fits."""
    kept = [list(items) for _, items in lists]
    dropped = [0] * len(lists)

    def render() -> str:
        parts = [head]
        for (title, _), items, n in zip(lists, kept, dropped, strict=True):
            parts.append(f"{title}: {'; '.join(items + ([f'+{n} more'] if n else []))}.")
        return " ".join([*parts, tail])

    text = render()
    while len(text) > limit and any(len(k) > 1 for k in kept):
        i = max(range(len(kept)), key=lambda j: sum(len(x) for x in kept[j]))
        kept[i].pop()
        dropped[i] += 1
        text = render()
    return text if len(text) <= limit else text[: limit - 1] + "…"
