from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from claims import generalisation
from claims.report import build_summary, layer_figures, render, run_figures, style, validate_summary
from claims.report.figures import DRAWERS, figure_filename
from claims.report.text import flatten_control, label_counts, row_anchor, row_key
from claims.verdict import jsonable

MODELS = ("stanford-gpt2-small-a", "gpt2-medium")
DATASETS = ("pile-10k", "ag_news")
KNOWN_KINDS = tuple(DRAWERS)


def _row(
    claim_id: str,
    title: str,
    axis: str,
    model: str,
    dataset: str,
    verdict: str,
    value: float,
    role: str = "claim",
) -> dict[str, Any]:
    control = 0.004
    low, high = value * 0.6 - control, value * 1.4 - control
    measured = verdict not in ("ERROR", "NOT_RUN", "NOT_APPLICABLE")
    return {
        "id": claim_id,
        "version": 1,
        "title": title,
        "statement": f"statement of {claim_id}",
        "paper_ref": "§4.1",
        "axis": axis,
        "model": model,
        "dataset": dataset,
        "verdict": verdict,
        "criterion": "f(excess > 0.5) >= 5 x control",
        "scale": "small",
        "key": {"name": "f(excess>0.5)", "value": value, "criterion": ">= 5 x control", "tolerance": 0.01},
        "reason": f"{claim_id}: measured {value:.3f} against a control of 0.004",
        "measured": {"fraction": value},
        "control": {
            "rotation_baseline": {"fraction": 0.004, "mean_corr": 0.21},
            "untrained": {"fraction": 0.0, "per_layer": [0.0, 0.0, 0.001, 0.0]},
            "note": "Gaussian rotation of the residual basis, 3 seeds",
        },
        "n_tokens": 1_000_000 if dataset != "weights" else 0,
        "seconds": 12.5,
        "forward_passes": 40,
        "nodeid": f"tests/claims/test_claims.py::test_claim[{claim_id}-{axis}-{model}-{dataset}]",
        "parts": [
            {"name": "f(excess>0.5)", "value": value, "op": ">=", "threshold": 0.02, "passed": value >= 0.02},
            {"name": "95 % low of excess", "value": low, "op": ">", "threshold": 0.0, "passed": low > 0},
            {"name": "permutation test", "value": 0.001, "op": "p<", "threshold": 0.05, "passed": True},
        ]
        if measured
        else [],
        "effect": {
            "name": "f(excess>0.5): trained - rotation",
            "measured": value,
            "control": control,
            "value": value - control,
            "ci95": [low, high],
            "threshold": 0.0,
            "control_name": "rotation baseline",
            "method": "Newcombe over neurons",
            "scale": "difference",
            "detectable": 0.01,
        }
        if measured
        else None,
        "role": role,
    }


def fake_rows() -> list[dict[str, Any]]:
    rows = [
        _row("U1", "universal neurons are rare", "original", "stanford-gpt2-small-a", "pile-10k", "PASS", 0.042),
        _row("U1", "universal neurons are rare", "gt1", "gpt2-medium", "pile-10k", "FAIL", 0.0011),
        _row("U1", "universal neurons are rare", "gt1", "untrained5", "pile-10k", "FAIL", 0.003),
        _row("U1", "universal neurons are rare", "gt2", "stanford-gpt2-small-a", "ag_news", "PASS", 0.038),
        _row("U2", "matches keep their depth", "original", "stanford-gpt2-small-a", "pile-10k", "PASS", 0.71),
        _row("S1", "signature: high skew, low bias", "gt1", "gpt2-medium", "pile-10k", "INCONCLUSIVE", 0.12),
        _row("P1", "prediction neurons late", "original", "stanford-gpt2-small-a", "weights", "PASS", 0.8),
        _row("P1", "prediction neurons late", "gt1", "gpt2-medium", "weights", "NOT_APPLICABLE", 0.0),
        _row("F1", "unigram neurons, mostly in the first layers", "gt1", "gpt2-medium", "pile-10k", "PASS", 0.3),
        _row(
            "F4",
            "position neurons in the first layers",
            "gt1",
            "rotary-model",
            "pile-10k",
            "PASS",
            0.2,
            role="negative_control",
        ),
        _row("E1", "entropy neuron", "gt2", "stanford-gpt2-small-a", "ag_news", "ERROR", float("nan")),
        _row("B1", "BOS heuristic finds heads", "gt3", "stanford-gpt2-small-a", "pile-10k", "PASS", 0.46),
        _row("Q1", "needs seeds", "gt3", "gpt2-medium", "pile-10k", "NOT_RUN", 0.0),
    ]
    rows[10]["key"] = {"name": "", "value": None, "criterion": "", "tolerance": 0.0}
    rows[10]["reason"] = "RuntimeError: CUDA out of memory | retry with --claims-device cpu"
    return rows


def fake_summary() -> dict[str, Any]:
    run = {
        "started": "2025-01-01T10:00:00Z",
        "finished": "2025-01-01T10:42:00Z",
        "git_commit": "0123456789abcdef+dirty",
        "versions": {"python": "3.11.2", "torch": "2.3.1", "numpy": "1.26.4"},
        "device": "cpu",
        "profile": "default",
        "options": {"models": None, "datasets": ["pile-10k", "ag_news"], "tokens_small": 1_000_000, "seed": 0},
        "forward_passes": 360,
        "hub_offline": True,
        "baseline": None,
    }
    return dict(build_summary(fake_rows(), run))  # type: ignore[arg-type]


def fake_figures() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    layers, n_neurons = [0, 3, 7, 11], 768
    edges = np.linspace(0.0, 1.0, 41)

    def hist(loc: float, scale: float) -> list[list[int]]:
        return [
            np.histogram(np.clip(rng.normal(loc + 0.02 * i, scale, n_neurons), 0, 1), edges)[0].tolist()
            for i in range(len(layers))
        ]

    n_layers = 12
    depth = rng.dirichlet(np.ones(n_layers) * 0.3, n_layers) * 0.4 + np.eye(n_layers) * 0.6
    depth = depth / depth.sum(axis=1, keepdims=True)
    metrics = ["activation skew", "activation kurtosis", "input bias", "W_out vocab kurtosis", "sparsity"]
    expected = {
        "activation skew": "high",
        "activation kurtosis": "high",
        "input bias": "low",
        "W_out vocab kurtosis": "high",
        "sparsity": "low",
    }
    universal = {m: np.clip(rng.normal(80 if expected[m] == "high" else 22, 14, 60), 0, 100).tolist() for m in metrics}
    other = {m: rng.uniform(0, 100, 700).tolist() for m in metrics}
    acts = np.linspace(-2, 6, 17)
    panels = {}
    for name, slope in (
        ("mean final-norm scale", -0.08),
        ("mean next-token entropy (nats)", 0.35),
        ("mean reciprocal rank", -0.02),
    ):
        panels[name] = {
            "candidate": (1.0 + slope * acts).tolist(),
            "baselines": [
                (1.0 + 0.01 * rng.normal() * acts + rng.normal(0, 0.01, len(acts))).tolist() for _ in range(20)
            ],
        }
    heur = rng.gamma(2, 0.5, 600)
    base = rng.gamma(2, 0.25, 600)
    pair_h = rng.gamma(2, 0.5, 80)
    x = rng.normal(0, 1, 300)
    return [
        {
            "row": _figrow("U1", "original", "stanford-gpt2-small-a", "pile-10k", "PASS"),
            "figures": {
                "excess_histogram": {
                    "layers": layers,
                    "bin_edges": edges.tolist(),
                    "threshold": 0.5,
                    "series": {
                        "mean max corr (trained)": hist(0.55, 0.15),
                        "Gaussian-rotation baseline": hist(0.3, 0.06),
                        "orthogonal baseline": hist(0.28, 0.05),
                        "untrained control": hist(0.18, 0.04),
                    },
                },
                "mystery_plot": {"whatever": 1},
            },
        },
        {
            "row": _figrow("U2", "original", "stanford-gpt2-small-a", "pile-10k", "PASS"),
            "figures": {
                "depth_heatmap": {
                    "matrix": depth.tolist(),
                    "row_label": "layer in stanford-gpt2-small-a",
                    "col_label": "layer of best match in stanford-gpt2-small-b",
                }
            },
        },
        {
            "row": _figrow("S1", "gt1", "gpt2-medium", "pile-10k", "INCONCLUSIVE"),
            "figures": {
                "signature_boxes": {"metrics": metrics, "universal": universal, "other": other, "expected": expected}
            },
        },
        {
            "row": _figrow("P1", "original", "stanford-gpt2-small-a", "weights", "PASS"),
            "figures": {
                "prediction_counts": {
                    "layers": list(range(12)),
                    "ylabel": "neurons (count)",
                    "series": {
                        "prediction": [0, 0, 1, 1, 2, 3, 5, 9, 17, 30, 48, 61],
                        "suppression": [0, 0, 0, 1, 1, 1, 2, 3, 6, 12, 31, 77],
                        "random-direction control": [1, 0, 1, 1, 0, 2, 1, 1, 2, 1, 2, 1],
                    },
                }
            },
        },
        {
            "row": _figrow("F1", "gt1", "gpt2-medium", "pile-10k", "PASS"),
            "figures": {
                "prediction_counts": {
                    "layers": list(range(12)),
                    "ylabel": "neurons with unigram VR >= 0.5",
                    "series": {
                        "unigram neurons": [40, 22, 9, 5, 3, 2, 1, 1, 0, 0, 0, 0],
                        "untrained control": [2, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0],
                    },
                }
            },
        },
        {
            "row": _figrow("E1", "gt2", "stanford-gpt2-small-a", "ag_news", "ERROR"),
            "figures": {
                "entropy_curves": {
                    "activation_values": acts.tolist(),
                    "panels": panels,
                    "candidate_label": "L11.N584 (entropy neuron candidate)",
                }
            },
        },
        {
            "row": _figrow("B1", "gt3", "stanford-gpt2-small-a", "pile-10k", "PASS"),
            "figures": {
                "bos_heuristic": {
                    "scores": heur.tolist(),
                    "baseline_scores": base.tolist(),
                    "pairs": {
                        "heuristic": pair_h.tolist(),
                        "delta_bos": (0.2 * pair_h + rng.normal(0, 0.1, 80)).tolist(),
                    },
                },
                "scatter": {
                    "x": x.tolist(),
                    "y": (-0.45 * x + rng.normal(0, 0.8, 300)).tolist(),
                    "xlabel": "QK product norm",
                    "ylabel": "attention entropy (nats)",
                    "fit": True,
                    "groups": ["layer 0-5" if i % 2 else "layer 6-11" for i in range(300)],
                },
            },
        },
    ]


def _figrow(claim_id: str, axis: str, model: str, dataset: str, verdict: str) -> dict[str, str]:
    return {"id": claim_id, "axis": axis, "model": model, "dataset": dataset, "verdict": verdict}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    out = tmp_path_factory.mktemp("reports")
    return out, render.render_all(fake_summary(), fake_figures(), out)


def test_every_known_figure_kind_produces_a_non_empty_png(rendered: tuple[Path, dict[str, Path]]) -> None:
    _, written = rendered
    pngs = {name: path for name, path in written.items() if name.endswith(".png")}
    for kind in KNOWN_KINDS:
        matching = [p for n, p in pngs.items() if n.endswith(f"-{kind}.png")]
        assert matching, f"no figure for {kind}"
        assert matching[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert matching[0].stat().st_size > 5_000


def test_verdict_overview_is_always_drawn(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, written = rendered
    assert written["figures/verdicts.png"] == out / "figures" / "verdicts.png"
    assert written["figures/verdicts.png"].stat().st_size > 5_000


def test_figure_names_are_sanitised(rendered: tuple[Path, dict[str, Path]]) -> None:
    _, written = rendered
    assert "figures/U1-original-stanford-gpt2-small-a-pile-10k-excess_histogram.png" in written
    name = figure_filename({"id": "X 1", "axis": "gt1", "model": "fam:a/b", "dataset": "hf:c d"}, "scatter")
    assert not any(ch in name for ch in "/: ")


def test_unknown_kind_is_skipped_and_mentioned_in_summary(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, written = rendered
    assert not any("mystery_plot" in name for name in written)
    md = (out / "summary.md").read_text()
    assert "mystery_plot" in md
    assert "skipped" in md


def test_broken_figure_data_becomes_a_note_not_a_crash(tmp_path: Path) -> None:
    figures = [{"row": _figrow("U1", "gt1", "m", "d", "PASS"), "figures": {"scatter": {"x": [1, 2], "y": [1]}}}]
    written = render.render_all(fake_summary(), figures, tmp_path)
    assert not any(name.endswith("-scatter.png") for name in written)
    assert "could not be drawn" in (tmp_path / "summary.md").read_text()


def test_summary_md_lists_every_claim_row_and_bolds_non_passing_verdicts(
    rendered: tuple[Path, dict[str, Path]],
) -> None:
    out, _ = rendered
    md = (out / "summary.md").read_text()
    table_lines = [line for line in md.splitlines() if line.startswith("| ") and ": " in line.split("|")[1]]
    summary = fake_summary()
    for row in summary["claims"]:
        matches = [
            line
            for line in table_lines
            if f"| {row['id']}: " in line and f"| {row['model']} |" in line and f"| {row['dataset']} |" in line
        ]
        assert matches, f"row {row['id']} {row['model']} {row['dataset']} missing"
        verdict = row["verdict"]
        expected = f"**{verdict}**" if verdict in ("FAIL", "INCONCLUSIVE", "ERROR") else f"| {verdict} |"
        assert any(expected in line for line in matches)
    assert "GT1_ModelGeneralization" in md
    assert "## Run" in md
    assert "0123456789abcdef+dirty" in md


def test_summary_md_escapes_pipes_in_cells(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    md = (out / "summary.md").read_text()
    assert "CUDA out of memory \\| retry" in md


def test_html_is_self_contained(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    page = (out / "report.html").read_text()
    refs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert refs
    assert not [r for r in refs if r.startswith(("http://", "https://", "//"))]
    images = re.findall(r'<img[^>]*src="([^"]*)"', page)
    assert len(images) == len(list((out / "figures").glob("*.png")))
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()


def test_html_shows_checklist_rationale_and_coloured_verdicts(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    page = (out / "report.html").read_text()
    summary = fake_summary()
    for key, verdict in summary["Checklist"].items():
        assert key in page
        assert f'class="badge v-{verdict} big"' in page
    assert 'class="verdict v-FAIL"' in page
    assert (
        page.index('id="checklist"') < page.index('id="claims"') < page.index('id="figures"') < page.index('id="run"')
    )


def test_files_are_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    through_atomic: list[Path] = []
    original = render.storage.atomic_write_bytes

    def spy(path: Path, data: bytes) -> None:
        through_atomic.append(path)
        original(path, data)

    monkeypatch.setattr(render.storage, "atomic_write_bytes", spy)
    figures = [entry for entry in fake_figures() if "scatter" in entry["figures"]]
    written = render.render_all(fake_summary(), figures, tmp_path)
    assert set(written.values()) <= set(through_atomic)
    assert not list(tmp_path.rglob("*.partial"))


def test_stale_figures_from_an_earlier_run_are_removed(tmp_path: Path) -> None:
    stale = tmp_path / "figures" / "OLD-gt1-m-d-scatter.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    render.render_all(fake_summary(), [], tmp_path)
    assert not stale.exists()


def test_without_matplotlib_reports_are_written_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    written = render.render_all(fake_summary(), fake_figures(), tmp_path)
    assert set(written) == {"summary.md", "report.html"}
    assert "matplotlib is not installed" in (tmp_path / "summary.md").read_text()
    assert "matplotlib is not installed" in (tmp_path / "report.html").read_text()


def test_control_is_flattened_compactly_and_truncated() -> None:
    text = flatten_control({"a": {"b": 1, "c": [1.0, 2.0, 3.0, 4.0]}, "note": "x" * 500}, limit=80)
    assert text.startswith("a={b=1, c=[4 values: 1, 2, 3, …]}")
    assert len(text) <= 80
    assert text.endswith("…")


# --- the report leads with the answer ------------------------------------------------------------------------


def test_fake_summary_validates_against_the_schema() -> None:
    validate_summary(jsonable(fake_summary()))


def test_every_label_and_kind_has_a_colour_and_a_title() -> None:
    assert set(style.LABEL_COLOURS) == set(generalisation.LABELS) == set(style.LABEL_MARKS)
    assert set(style.KIND_TITLES) == set(DRAWERS)
    assert set(DRAWERS) <= set(style.CAPTIONS)


def test_summary_md_opens_with_the_generalisation_table(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    md = (out / "summary.md").read_text()
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[:3] == ["## Does each claim generalise?", "## Checklist", "## Effects against controls"]
    section = md.split("## Does each claim generalise?")[1].split("## Checklist")[0]
    assert "| claim | original (reference) | gt1 | gt2 | gt3 |" in section
    u1 = next(line for line in section.splitlines() if line.startswith("| U1: "))
    gt1, gt2 = u1.split(" | ")[2:4]
    assert "does not generalise" in gt1
    assert "(2 rows: 2 do not generalise)" in gt1  # gpt2-medium and untrained5 both fail
    assert "generalises" in gt2
    assert "original setting (stanford-gpt2-small-a on pile-10k: PASS)" in section  # the reference, as a footnote
    p1 = next(line for line in section.splitlines() if line.startswith("| P1: "))
    assert "not applicable" in p1


def test_html_opens_with_the_generalisation_table(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    page = (out / "report.html").read_text()
    first_h2 = re.search(r"<h2 id=\"([^\"]+)\"", page)
    assert first_h2 is not None
    assert first_h2.group(1) == "generalisation"
    order = ['id="generalisation"', 'id="checklist"', 'id="effects"', 'id="rationale"', 'id="claims"']
    assert [page.index(x) for x in order] == sorted(page.index(x) for x in order)
    gen = page[page.index('id="generalisation"') : page.index('id="checklist"')]
    assert '<tr id="gen-U1">' in gen
    u1 = gen[gen.index('<tr id="gen-U1">') :].split("</tr>")[0]
    assert 'class="lab g-does_not_generalise"' in u1
    assert 'class="lab g-generalises"' in u1
    assert "vs original setting (stanford-gpt2-small-a on pile-10k: PASS)" in u1
    # each label links to the claim's first row on that axis, which exists in the page
    for href in re.findall(r'<a class="lab[^"]*" href="#([^"]+)"', gen):
        assert f'id="{href}"' in page


def test_checklist_shows_the_claim_counts(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    summary = fake_summary()
    counts = summary["generalisation"]["axes"]["GT1_ModelGeneralization"]["counts"]
    text = label_counts(counts)
    assert "1 does not generalise" in text
    assert text in (out / "report.html").read_text()
    assert text in (out / "summary.md").read_text()


def test_every_row_links_to_an_existing_figure(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    summary = fake_summary()
    with_figures = {row_key(e["row"]) for e in fake_figures()}
    page = (out / "report.html").read_text()
    md_lines = (out / "summary.md").read_text().splitlines()
    for row in summary["claims"]:
        anchor = row_anchor(row)
        tr = page[page.index(f'<tr id="{anchor}"') :].split("</tr>")[0]
        hrefs = re.findall(r'href="#([^"]+)"', tr)
        md_line = next(
            line
            for line in md_lines
            if line.startswith(f"| {row['id']}: ") and f"| {row['model']} | {row['dataset']} |" in line
        )
        links = re.findall(r"\]\((figures/[^)]+\.png)\)", md_line)
        if row["effect"] is not None or row_key(row) in with_figures:
            assert hrefs, f"{anchor} links to no figure"
            assert links, f"{anchor} links to no figure in summary.md"
        for href in hrefs:
            assert f'<figure id="{href}">' in page
            assert (out / "figures" / f"{href}.png").is_file()
        for link in links:
            assert (out / link).is_file()
        if row["effect"] is not None:
            assert "effects" in hrefs
            assert "figures/effects.png" in links
    f1 = next(r for r in summary["claims"] if r["id"] == "F1")
    tr = page[page.index(f'<tr id="{row_anchor(f1)}"') :].split("</tr>")[0]
    assert 'href="#F1-gt1-gpt2-medium-pile-10k-prediction_counts"' in tr


def test_figure_data_is_saved_beside_each_png(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, written = rendered
    pngs = sorted((out / "figures").glob("*.png"))
    assert pngs
    for png in pngs:
        data_path = png.with_suffix(".json")
        assert data_path.is_file(), f"no data beside {png.name}"
        assert f"figures/{data_path.name}" in written
        record = json.loads(data_path.read_text())
        assert record["figure"] == png.name
        assert record["data"]
    assert sorted(p.stem for p in (out / "figures").glob("*.json")) == [p.stem for p in pngs]
    hist = json.loads(
        (out / "figures" / "U1-original-stanford-gpt2-small-a-pile-10k-excess_histogram.json").read_text()
    )
    assert hist["kind"] == "excess_histogram"
    assert hist["claim"]["id"] == "U1"
    assert hist["claim"]["title"] == "universal neurons are rare"
    assert hist["data"]["layers"] == [0, 3, 7, 11]
    assert hist["data"]["threshold"] == 0.5


def test_stale_figure_data_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / "figures" / "OLD-gt1-m-d-scatter.json"
    stale.parent.mkdir()
    stale.write_text("{}")
    render.render_all(fake_summary(), [], tmp_path)
    assert not stale.exists()


def test_figure_titles_and_captions_name_their_claim(rendered: tuple[Path, dict[str, Path]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, _ = rendered
    entry = next(e for e in fake_figures() if e["row"]["id"] == "F1")
    row = {**entry["row"], "title": "unigram neurons, mostly in the first layers"}
    fig = layer_figures.draw_prediction_counts(plt, entry["figures"]["prediction_counts"], row)
    title = fig._suptitle.get_text()  # type: ignore[attr-defined]
    plt.close(fig)
    assert title.startswith("F1 - unigram neurons, mostly in the first layers")
    assert "prediction / suppression" not in title
    page = (out / "report.html").read_text()
    figure = page[page.index('<figure id="F1-gt1-gpt2-medium-pile-10k-prediction_counts">') :].split("</figure>")[0]
    caption = figure.split("<figcaption>")[1]
    assert "F1 - unigram neurons, mostly in the first layers" in caption
    assert "prediction / suppression" not in caption
    record = json.loads((out / "figures" / "F1-gt1-gpt2-medium-pile-10k-prediction_counts.json").read_text())
    assert record["caption"].startswith("F1 - unigram neurons, mostly in the first layers")


def test_not_applicable_renders_with_its_own_colour(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    page = (out / "report.html").read_text()
    assert 'class="verdict v-NOT_APPLICABLE"' in page
    assert ".v-NOT_APPLICABLE{background:" in page
    assert style.VERDICT_COLOURS["NOT_APPLICABLE"] not in (style.VERDICT_COLOURS["NOT_RUN"], "#000000")
    assert style.VERDICT_SHORT["NOT_APPLICABLE"] == "N/A"
    assert 'class="lab g-not_applicable"' in page
    md = (out / "summary.md").read_text()
    assert "| gpt2-medium | weights | NOT_APPLICABLE |" in md
    grid = json.loads((out / "figures" / "verdicts.json").read_text())
    assert any(r["verdict"] == "NOT_APPLICABLE" for r in grid["data"]["rows"])


def test_every_part_of_the_criterion_is_shown_per_row(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, _ = rendered
    summary = fake_summary()
    row = next(r for r in summary["claims"] if r["id"] == "U1" and r["model"] == "gpt2-medium")
    page = (out / "report.html").read_text()
    tr = page[page.index(f'<tr id="{row_anchor(row)}"') :].split("</tr>")[0]
    assert "1/3 held" in tr
    assert '<li class="failed">f(excess&gt;0.5) = 0.0011 &gt;= 0.02</li>' in tr
    assert '<li class="held">permutation test: p = 0.001 &lt; 0.05' in tr
    md = (out / "summary.md").read_text()
    assert "1/3 held: ✗ f(excess>0.5) = 0.0011 >= 0.02; ✗ 95 % low of excess" in md


def test_effect_chart_is_drawn_from_the_rows_with_effects(rendered: tuple[Path, dict[str, Path]]) -> None:
    out, written = rendered
    summary = fake_summary()
    data = run_figures.effect_chart_data(summary["claims"])
    with_effect = [r for r in summary["claims"] if r["effect"] is not None]
    assert sum(len(c["entries"]) for c in data["claims"]) == len(with_effect)
    assert {c["id"] for c in data["claims"]} == {r["id"] for r in with_effect}
    u1 = next(c for c in data["claims"] if c["id"] == "U1")
    assert [e["axis"] for e in u1["entries"]] == ["original", "gt1", "gt1", "gt2"]
    assert [e["untrained"] for e in u1["entries"]] == [False, False, True, False]
    assert [e["cleared"] for e in u1["entries"]] == [True, False, False, True]
    f4 = next(c for c in data["claims"] if c["id"] == "F4")
    assert f4["entries"][0]["role"] == "negative_control"
    assert written["figures/effects.png"].stat().st_size > 10_000
    saved = json.loads((out / "figures" / "effects.json").read_text())
    assert saved["kind"] == "effects"
    assert [c["id"] for c in saved["data"]["claims"]] == [c["id"] for c in data["claims"]]
    page = (out / "report.html").read_text()
    assert '<figure id="effects">' in page


def test_no_effect_chart_without_effects(tmp_path: Path) -> None:
    rows = fake_rows()
    for r in rows:
        r["effect"] = None
    summary = dict(build_summary(rows, fake_summary()["run"]))  # type: ignore[arg-type]
    written = render.render_all(summary, [], tmp_path)
    assert "figures/effects.png" not in written
    assert "No effect chart" in (tmp_path / "report.html").read_text()
