"""docs/claims.md is generated: statements and criteria from the registry, results from one or more summaries."""

from __future__ import annotations

from typing import Any

from claims import docgen
from claims.report.summary import build_summary


def _row(claim_id: str, verdict: str, axis: str, model: str) -> dict[str, Any]:
    return {
        "id": claim_id,
        "title": claim_id,
        "paper_ref": "§4",
        "axis": axis,
        "model": model,
        "dataset": "sotu",
        "verdict": verdict,
        "scale": "small",
        "role": "claim",
        "parts": [],
        "key": {"name": "k", "value": 0.5},
        "reason": "r",
    }


RUN = {"finished": "full-run", "git_commit": "0" * 40, "profile": "default", "device": "cpu", "forward_passes": 0}


def test_a_later_narrowed_summary_replaces_only_the_rows_it_holds_and_the_checklist_is_judged_again() -> None:
    full = build_summary(
        [_row("U1", "PASS", "original", "zoo-gpt2-s"), _row("U1", "FAIL", "gt1", "zoo-gpt2-n")], dict(RUN)
    )
    narrowed = build_summary([_row("U1", "PASS", "gt1", "zoo-gpt2-n")], {**RUN, "finished": "narrowed-run"})

    merged = docgen.merge([dict(full), dict(narrowed)])

    assert [(r["axis"], r["verdict"]) for r in merged["claims"]] == [("gt1", "PASS"), ("original", "PASS")]
    assert full["Checklist"]["GT1_ModelGeneralization"] == "FAIL"
    assert merged["Checklist"]["GT1_ModelGeneralization"] == "PASS"
    assert merged["run"]["merged_narrowed_runs"] == ["narrowed-run"]
    assert "with the rows of narrowed runs of narrowed-run" in docgen.render(merged)


def test_every_registered_claim_has_a_row_even_without_results() -> None:
    page = docgen.render(dict(build_summary([], dict(RUN))))

    assert "| **F4-published** position-neuron candidates (published tables) (v1) |" in page
    assert page.count("| not run | not run |") >= 30
