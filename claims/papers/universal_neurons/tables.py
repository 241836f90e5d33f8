"""Readers for the paper's published tables in ./data (copied from the authors' repository, see PROVENANCE.md)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

DATA = Path(__file__).with_name("data")


@cache
def reference_numbers() -> dict[str, Any]:
    """reference_numbers.json: numbers from the paper text, figures and notebooks."""
    return json.loads((DATA / "reference_numbers.json").read_text())


MODELS: dict[str, dict[str, Any]] = reference_numbers()["models"]


@cache
def universal(model: str) -> pd.DataFrame:
    """The universal neurons of a published model (excess correlation > 0.5) with their statistics."""
    return pd.read_csv(DATA / f"{model}.universal.csv")


@cache
def gpt2_small_weights() -> pd.DataFrame:
    """Weight statistics of all 36,864 GPT2-small-a neurons, with the paper's column names."""
    frame = pd.read_csv(DATA / "stanford-gpt2-small-a.weight_stats.all_neurons.csv")
    frame = frame.rename(
        columns={"neuron_ix": "neuron", "input_weight_norm": "w_in_norm", "output_weight_norm": "w_out_norm"}
    )
    frame["l2_penalty"] = frame.w_in_norm**2 + frame.w_out_norm**2
    return frame


@cache
def prediction_neurons() -> pd.DataFrame:
    """Labelled prediction / suppression neurons of GPT2-medium-a."""
    return pd.read_csv(DATA / "stanford-gpt2-medium-a.prediction_neurons.csv")
