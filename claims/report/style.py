"""What the reports call things and how they colour them.

File names, axis titles, verdict and label colours and figure captions: one table per concept, shared by the
figures, summary.md and report.html, so a verdict has the same colour and a figure kind the same caption wherever
it appears.
"""

from __future__ import annotations

import re

from claims.verdict import Axis, Verdict

SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"
FIGURES_DIR = "figures"
OVERVIEW = "verdicts"
EFFECTS = "effects"
GLOBAL_KINDS = (EFFECTS, OVERVIEW)  # figures of the whole run, not of one row
DPI = 110
WIDTH_IN = 12.4  # x DPI = ~1360 px

AXIS_ORDER: tuple[Axis, ...] = (Axis.ORIGINAL, Axis.GT1, Axis.GT2, Axis.GT3)
GT_AXES: tuple[Axis, ...] = (Axis.GT1, Axis.GT2, Axis.GT3)
AXIS_TITLES: dict[Axis, str] = {
    Axis.ORIGINAL: "Original setting (the paper's models and data)",
    Axis.GT1: "GT1 - model generalisation",
    Axis.GT2: "GT2 - data generalisation",
    Axis.GT3: "GT3 - method generalisation",
}
VERDICT_COLOURS: dict[str, str] = {
    Verdict.PASS: "#2e7d32",
    Verdict.FAIL: "#c62828",
    Verdict.INCONCLUSIVE: "#ef8f00",
    Verdict.NOT_APPLICABLE: "#5c7a8a",
    Verdict.NOT_RUN: "#9e9e9e",
    Verdict.ERROR: "#6a1b9a",
}
VERDICT_SHORT: dict[str, str] = {
    Verdict.PASS: "PASS",
    Verdict.FAIL: "FAIL",
    Verdict.INCONCLUSIVE: "INC",
    Verdict.NOT_APPLICABLE: "N/A",
    Verdict.NOT_RUN: "N/R",
    Verdict.ERROR: "ERR",
}
ALARMING = (Verdict.FAIL, Verdict.INCONCLUSIVE, Verdict.ERROR)

# generalisation labels (claims/generalisation.py): colour, and a coloured mark for Markdown
LABEL_COLOURS: dict[str, str] = {
    "generalises": "#2e7d32",
    "does_not_generalise": "#c62828",
    "not_reproduced": "#8e5b3e",
    "not_applicable": "#5c7a8a",
    "inconclusive": "#ef8f00",
    "not_run": "#9e9e9e",
}
LABEL_MARKS: dict[str, str] = {
    "generalises": "\U0001f7e2",  # green circle
    "does_not_generalise": "\U0001f534",  # red circle
    "not_reproduced": "\U0001f7e4",  # brown circle
    "not_applicable": "\u26aa",  # white circle
    "inconclusive": "\U0001f7e0",  # orange circle
    "not_run": "\u26ab",  # black circle
}

CAPTIONS: dict[str, str] = {
    "excess_histogram": "Per-layer distribution of neuron correlations across seeds. Trained neurons sitting to "
    "the right of the baselines means correlations beyond what chance alignment produces.",
    "depth_heatmap": "Where each neuron's best match sits: fraction of neurons of a reference layer (row) whose "
    "best-correlated neuron is in each layer (column). Mass on the diagonal = matches keep their depth.",
    "signature_boxes": "Within-layer percentiles of weight/activation statistics, universal vs other neurons. "
    "50 = layer median; the arrow shows the direction the paper predicts for universal neurons.",
    "prediction_counts": "Neurons per layer in each class the claim counts (coloured bars), against its control "
    "(grey hatched bars).",
    "entropy_curves": "Effect of fixing the candidate neuron's activation (x) on each metric, against baseline "
    "neurons given the same intervention.",
    "bos_heuristic": "Weight-based heuristic scores against a random-direction baseline (left, log counts); "
    "right: heuristic score vs the measured change in attention to the BOS token.",
    "scatter": "Scatter of the two quantities the claim relates, with a least-squares line and Pearson r.",
    OVERVIEW: "Verdict of every claim row: claims (rows) x model / dataset (columns).",
    EFFECTS: "Each claim's effect against its control (point; the name and control are under each panel) with its "
    "95 % interval (bar), one line per model / dataset; the dashed line is the threshold the interval's lower end "
    "must clear. Colour = row verdict; hollow markers = untrained models and negative controls, where the effect "
    "should be absent.",
}
# what each kind shows, as the second half of a figure title (the first half is the claim)
KIND_TITLES: dict[str, str] = {
    "excess_histogram": "correlation across seeds vs baselines",
    "depth_heatmap": "depth of each neuron's best match",
    "signature_boxes": "within-layer percentiles, universal vs other",
    "prediction_counts": "neurons per layer vs control",
    "entropy_curves": "intervention on the candidate vs baseline neurons",
    "bos_heuristic": "heuristic vs random directions",
    "scatter": "scatter",
}

SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_part(text: str) -> str:
    """A part of a figure file name or row anchor: anything but letters, digits, ``._-`` as ``_``; ``x`` if empty."""
    return SAFE.sub("_", text).strip("_") or "x"
