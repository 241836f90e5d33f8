"""The figures (claims/report/figures.py, layer_figures.py, run_figures.py) and their names, data and captions."""

from __future__ import annotations

import json
from pathlib import Path

from render_fakes import KNOWN_KINDS, fake_figures, fake_rows, fake_summary

from claims import generalisation
from claims.report import build_summary, layer_figures, render, run_figures, style
from claims.report.figures import DRAWERS, figure_filename


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


# --- the report leads with the answer ------------------------------------------------------------------------


def test_every_label_and_kind_has_a_colour_and_a_title() -> None:
    assert set(style.LABEL_COLOURS) == set(generalisation.LABELS) == set(style.LABEL_MARKS)
    assert set(style.KIND_TITLES) == set(DRAWERS)
    assert set(DRAWERS) <= set(style.CAPTIONS)


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
