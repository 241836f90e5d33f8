"""One model's neurons as a table of moments and weight statistics, shared by S1 (signature.py) and M1 (mechanics.py).

Pre-activation moments (exact, BOS positions left out unless `subset` says otherwise; `activation_moments`) and the
weight statistics of the folded/centred weights (`weight_table`), one row per neuron, layer-major. It lives here, not
in a claim module, because two claim modules read it and claim modules do not import each other.
"""

from __future__ import annotations

import pandas as pd

from claims.context import ClaimContext
from claims.papers.universal_neurons.measures import activation_moments, weight_table


def neuron_frame(ctx: ClaimContext, ref, subset: str = "no_bos") -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Moments and weight statistics of one model's neurons, one row each (layer-major)."""
    moments = activation_moments(ctx, ref, subset)
    weights = weight_table(ctx, ref)
    return pd.concat([moments, weights.drop(columns=["layer", "neuron"])], axis=1)
