"""Fake claim rows, a fake run summary and fake figure data for the report tests (claims/report/).

Shared by test_render.py, test_figures.py, test_markdown.py and test_html_page.py; conftest.py renders them once per
test module (the `rendered` fixture).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from claims.report import build_summary
from claims.report.figures import DRAWERS

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
