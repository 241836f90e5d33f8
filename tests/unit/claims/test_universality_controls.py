"""U1-U4, S1, G2-overlap and G3 decide against a control: crafted universality tables and a real tiny family.

The cross-seed tables are built by hand (what `measures.universality` would return), so each test states the
situation it describes: a trained family whose universal neurons stand out from its untrained seeds, or one that
looks exactly like them. A PASS must carry its effect against the control; the untrained-like family never passes.
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
import pytest

from claims.papers.universal_neurons.measures import Universality
from claims.verdict import Axis, Verdict
from engine.universality import depth_specialisation

N_LAYERS, D_MLP = 2, 400
N = N_LAYERS * D_MLP
LAYER = np.repeat(np.arange(N_LAYERS), D_MLP)
COMPARISONS = ("b", "c", "d")


def _table(corr: np.ndarray, base: np.ndarray, best: np.ndarray, labels: tuple[str, ...]) -> pd.DataFrame:
    """The per-neuron universality table from [comparisons, neurons] correlations, baselines and best layers."""
    table = pd.DataFrame(
        {
            "layer": LAYER,
            "neuron": np.tile(np.arange(D_MLP), N_LAYERS),
            "max_corr": corr.max(0),
            "mean_corr": corr.mean(0),
            "min_corr": corr.min(0),
            "max_baseline": base.max(0),
            "mean_baseline": base.mean(0),
            "min_baseline": base.min(0),
        }
    )
    table["excess_corr"] = table.mean_corr - table.mean_baseline
    table["mean_baseline_orth"] = table.mean_baseline + 0.001
    table["excess_corr_orth"] = table.mean_corr - table.mean_baseline_orth
    for k, label in enumerate(labels):
        table[f"corr_{label}"] = corr[k]
        table[f"baseline_{label}"] = base[k]
        table[f"best_layer_{label}"] = best[k]
    return table


def _family(seed: int, universal_frac: float, same_layer: float, labels: tuple[str, ...]) -> pd.DataFrame:
    """A family's table: `universal_frac` of neurons correlate ~0.7 with every comparison model, the rest ~0.15.

    Each neuron has its own level shared by all comparison models (so sets are stable across them) plus a little
    per-comparison noise; baselines sit at ~0.12 (orthogonal a little off the Gaussian one); best matches lie in
    the neuron's own layer with probability `same_layer`, else in a random layer.
    """
    rng = np.random.default_rng(seed)
    m = len(labels)
    level = rng.normal(0.15, 0.03, N)
    universal = rng.random(N) < universal_frac
    level[universal] = rng.normal(0.7, 0.03, int(universal.sum()))
    corr = level + rng.normal(0, 0.005, (m, N))
    base = rng.normal(0.12, 0.005, (m, N))
    own = rng.random((m, N)) < same_layer
    best = np.where(own, LAYER, rng.integers(0, N_LAYERS, (m, N)))
    table = _table(corr, base, best, labels)
    table["mean_baseline_orth"] = table.mean_baseline + rng.normal(0, 0.01, N)
    table["excess_corr_orth"] = table.mean_corr - table.mean_baseline_orth
    return table


def _universality(
    table: pd.DataFrame, control: pd.DataFrame | None, rotation_keeps_basis: bool = False
) -> Universality:
    labels = tuple(c.removeprefix("corr_") for c in table.columns if c.startswith("corr_"))
    depth = depth_specialisation([table[f"best_layer_{m}"].to_numpy() for m in labels], N_LAYERS, N_LAYERS)
    single = (table[f"corr_{labels[0]}"] - table[f"baseline_{labels[0]}"]).to_numpy()
    rng = np.random.default_rng(9)
    rotated = rng.permutation(single) if rotation_keeps_basis else rng.normal(0.02, 0.01, N)
    return Universality(table, depth, control, rotated, single, 50_000, labels)


TRAINED = _family(0, universal_frac=0.06, same_layer=0.8, labels=COMPARISONS)
UNTRAINED_CONTROL = _family(1, universal_frac=0.0, same_layer=0.0, labels=("b",))
UNTRAINED_LIKE = _family(2, universal_frac=0.0, same_layer=0.0, labels=COMPARISONS)


@pytest.fixture
def family(declare, tiny_dirs) -> str:  # type: ignore[no-untyped-def]
    """Four tiny seeds (U3 needs four); the claims below read crafted tables, not their activations."""
    return declare("crafted", tiny_dirs["random0"], tiny_dirs["random1"], tiny_dirs["random2"], tiny_dirs["permuted0"])


# the claim module that reads the universality of each claim below
MODULE = {
    "U1": "universality",
    "U2": "universality",
    "U3": "universality_matches",
    "U4": "universality_matches",
    "G3-baseline": "heads",
}


def _use(monkeypatch: pytest.MonkeyPatch, module: str, u: Universality) -> None:
    from importlib import import_module

    monkeypatch.setattr(
        import_module(f"claims.papers.universal_neurons.{module}"), "universality", lambda ctx, d=None: u
    )


@pytest.mark.parametrize("claim_id", ["U1", "U2", "U3", "U4"])
def test_a_trained_family_that_beats_its_untrained_seeds_passes_with_an_effect(
    claim_id, run_claim, family, monkeypatch
) -> None:
    _use(monkeypatch, MODULE[claim_id], _universality(TRAINED, UNTRAINED_CONTROL))
    evidence = run_claim(claim_id, family)
    assert evidence.verdict is Verdict.PASS, evidence.reason
    assert evidence.effect is not None
    assert evidence.effect.low > evidence.effect.threshold
    assert evidence.parts[-1].name.startswith("95 % low of")


@pytest.mark.parametrize("claim_id", ["U1", "U2", "U3", "U4", "G3-baseline"])
def test_a_family_that_looks_like_its_untrained_seeds_does_not_pass(claim_id, run_claim, family, monkeypatch) -> None:
    u = _universality(UNTRAINED_LIKE, UNTRAINED_CONTROL)
    _use(monkeypatch, MODULE[claim_id], u)
    evidence = run_claim(claim_id, family, axis=Axis.GT3 if claim_id.startswith("G3") else Axis.GT1)
    assert evidence.verdict is Verdict.FAIL, evidence.reason


def test_u3_consistent_universal_set_no_higher_than_untrained_fails_on_the_effect_alone(
    run_claim, family, monkeypatch
) -> None:
    _use(monkeypatch, "universality_matches", _universality(UNTRAINED_LIKE, UNTRAINED_CONTROL))
    evidence = run_claim("U3", family)
    assert evidence.verdict is Verdict.FAIL
    assert [p.passed for p in evidence.parts] == [True, True, False]  # spread and Jaccard held; the control did not


def test_u1_without_untrained_controls_is_inconclusive_never_pass(run_claim, family, monkeypatch) -> None:
    _use(monkeypatch, "universality", _universality(TRAINED, None))
    evidence = run_claim("U1", family)
    assert evidence.verdict is Verdict.INCONCLUSIVE
    assert "no untrained controls" in evidence.reason


def test_u1_small_scale_effect_is_trained_minus_untrained_fraction(run_claim, family, monkeypatch) -> None:
    _use(monkeypatch, "universality", _universality(TRAINED, UNTRAINED_CONTROL))
    effect = run_claim("U1", family).effect
    assert effect is not None
    assert effect.value == pytest.approx(effect.measured - effect.control)
    assert effect.low < effect.value < effect.high


def test_u2_rotated_copy_as_universal_as_the_reference_fails(run_claim, family, monkeypatch) -> None:
    _use(monkeypatch, "universality", _universality(TRAINED, UNTRAINED_CONTROL, rotation_keeps_basis=True))
    evidence = run_claim("U2", family)
    assert evidence.verdict is Verdict.FAIL
    assert evidence.effect is not None
    assert not evidence.effect.cleared


def test_u4_reports_every_layer_as_a_part(run_claim, family, monkeypatch) -> None:
    _use(monkeypatch, "universality_matches", _universality(TRAINED, UNTRAINED_CONTROL))
    names = [p.name for p in run_claim("U4", family).parts]
    assert names[:N_LAYERS] == [f"P[{k},{k}]" for k in range(N_LAYERS)]


def test_g2_overlap_on_the_original_dataset_is_not_applicable(run_claim, family) -> None:
    evidence = run_claim("G2-overlap", family, axis=Axis.GT2, dataset="sotu")
    assert evidence.verdict is Verdict.NOT_APPLICABLE
    assert evidence.reason.startswith("precondition:")


def test_g2_overlap_passes_only_above_the_untrained_transfer(run_claim, family, monkeypatch) -> None:
    tables = {"sotu": TRAINED, "news": _shifted(TRAINED, 5)}  # the same neurons stand out on the new text
    controls = {"sotu": UNTRAINED_CONTROL, "news": _family(6, universal_frac=0.0, same_layer=0.0, labels=("b",))}

    def crafted(ctx, dataset=None):  # type: ignore[no-untyped-def]
        key = dataset or ctx.dataset
        return _universality(tables[key], controls[key])

    monkeypatch.setattr("claims.papers.universal_neurons.universality_matches.universality", crafted)
    evidence = run_claim("G2-overlap", family, axis=Axis.GT2, dataset="news")
    assert evidence.verdict is Verdict.PASS, evidence.reason
    assert evidence.effect is not None
    assert evidence.effect.control < evidence.effect.measured


def _shifted(table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same family on other text: every correlation moves by a little noise."""
    out = table.copy()
    rng = np.random.default_rng(seed)
    columns = [c for c in out.columns if c.startswith("corr_")]
    for c in columns:
        out[c] = out[c] + rng.normal(0, 0.005, len(out))
    corr = out[columns].to_numpy().T
    out["max_corr"], out["mean_corr"], out["min_corr"] = corr.max(0), corr.mean(0), corr.min(0)
    out["excess_corr"] = out.mean_corr - out.mean_baseline
    out["excess_corr_orth"] = out.mean_corr - out.mean_baseline_orth
    return out


def test_g3_baseline_pass_carries_its_effect_against_untrained_seeds(run_claim, family, monkeypatch) -> None:
    _use(monkeypatch, "heads", _universality(TRAINED, UNTRAINED_CONTROL))
    evidence = run_claim("G3-baseline", family, axis=Axis.GT3)
    assert evidence.verdict is Verdict.PASS, evidence.reason
    assert evidence.effect is not None
    assert evidence.effect.cleared


def test_g3_heads_shared_signal_passes_and_untrained_like_heads_fail(run_claim, family, monkeypatch) -> None:
    from claims.papers.universal_neurons import heads

    rng = np.random.default_rng(0)
    signal = rng.gamma(2.0, 1.0, (16_384, 2, 4))

    def norms(ctx, ref):  # type: ignore[no-untyped-def]
        # seeded by the member's own folder name: ref.name holds pytest's numbered tmp dir, which made the noise, and so
        # the verdict, change from one run to the next
        noise = np.random.default_rng(zlib.crc32(ref.name.rsplit("/", 1)[-1].encode())).gamma(2.0, 1.0, signal.shape)
        trained = ref.trained and not shared_none
        values = (signal + 0.5 * noise) if trained else noise
        return values.astype(np.float32), np.ones(signal.shape[0], dtype=bool)

    monkeypatch.setattr(heads, "head_norms", norms)
    shared_none = False
    evidence = run_claim("G3-heads", family, axis=Axis.GT3)
    assert evidence.verdict is Verdict.PASS, evidence.reason
    assert evidence.effect is not None
    assert evidence.effect.cleared
    shared_none = True
    assert run_claim("G3-heads", family, axis=Axis.GT3).verdict is Verdict.FAIL


def test_s1_signature_shared_by_the_untrained_seeds_fails_on_its_effect(run_claim, family, monkeypatch) -> None:
    from claims.papers.universal_neurons import signature

    u = _universality(TRAINED, UNTRAINED_CONTROL)
    control_mask = UNTRAINED_CONTROL.excess_corr.to_numpy() >= np.quantile(UNTRAINED_CONTROL.excess_corr, 0.98)
    masks = {True: u.table.excess_corr.to_numpy() > 0.3, False: control_mask}

    def frame(ctx, ref, subset="no_bos"):  # type: ignore[no-untyped-def]
        return _signature_frame(masks[ref.trained], strength=1.0)

    monkeypatch.setattr(signature, "universality", lambda ctx, d=None: u)
    monkeypatch.setattr(signature, "neuron_frame", frame)
    evidence = run_claim("S1", family)
    assert evidence.verdict is Verdict.FAIL  # the untrained seeds' "universal" neurons show the same signature
    assert evidence.parts[0].passed
    assert not evidence.effect.cleared

    def flat_control(ctx, ref, subset="no_bos"):  # type: ignore[no-untyped-def]
        return _signature_frame(masks[ref.trained], strength=1.0 if ref.trained else 0.0)

    monkeypatch.setattr(signature, "neuron_frame", flat_control)
    passed = run_claim("S1", family)
    assert passed.verdict is Verdict.PASS, passed.reason
    assert passed.effect is not None
    assert passed.effect.cleared


def _signature_frame(mask: np.ndarray, strength: float) -> pd.DataFrame:
    """Neuron statistics where `mask` neurons have the paper's signature (scaled by `strength`)."""
    rng = np.random.default_rng(int(mask.sum()) + int(10 * strength))
    s = strength * mask
    columns = {
        "freq": rng.uniform(0.2, 0.6, N) - 0.3 * s,
        "skew": rng.normal(0, 0.3, N) + 2.0 * s,
        "kurt": rng.normal(3, 0.3, N) + 5.0 * s,
        "input_bias": rng.normal(0, 0.1, N) - 0.5 * s,
        "l2_penalty": rng.normal(1, 0.1, N) + 0.5 * s,
        "mean": rng.normal(0, 0.1, N),
        "in_out_sim": rng.normal(0, 0.1, N),
        "vocab_kurt": rng.normal(3, 0.1, N),
    }
    return pd.DataFrame({"layer": LAYER, "neuron": np.tile(np.arange(D_MLP), N_LAYERS), **columns})


def _full_scale_context(claim_id: str, dataset: str = "news"):  # type: ignore[no-untyped-def]
    """A context on a paper-scale (\"full\") family, for checks that read crafted tables only."""
    from types import SimpleNamespace

    from claims.context import ClaimContext
    from claims.registry import load_all
    from fixtures.models import FamilyRef, ModelRef

    members = tuple(ModelRef(f"big:{m}", "local", "/nowhere", "big", m, scale="full") for m in "abcd")
    controls = tuple(ModelRef(f"big:u{k}", "local", "/nowhere", "big", f"u{k}", False, "full") for k in (1, 2))
    family = FamilyRef("big", members, controls)
    bench = SimpleNamespace(settings=SimpleNamespace(seed=0))
    return ClaimContext(load_all()[claim_id], Axis.GT1, "big", members[0], family, dataset, bench)  # type: ignore[arg-type]


FULL_SCALE_CLAUSES = {"U1": 3, "U2": 4, "U3": 4, "U4": 4, "G3-baseline": 3, "G2-overlap": 2}


@pytest.mark.parametrize("claim_id", sorted(FULL_SCALE_CLAUSES))
def test_full_scale_criteria_report_every_clause_and_the_effect(claim_id, monkeypatch) -> None:
    from claims.registry import load_all

    u = _universality(TRAINED, UNTRAINED_CONTROL)
    for module in ("universality", "universality_matches", "heads"):
        _use(monkeypatch, module, u)
    evidence = load_all()[claim_id].check(_full_scale_context(claim_id))
    assert evidence.scale == "full"
    assert len(evidence.parts) == FULL_SCALE_CLAUSES[claim_id]
    assert evidence.effect is not None


def test_full_scale_u1_without_controls_is_inconclusive(monkeypatch) -> None:
    from claims.registry import load_all

    _use(monkeypatch, "universality", _universality(TRAINED, None))
    evidence = load_all()["U1"].check(_full_scale_context("U1"))
    assert evidence.verdict is Verdict.INCONCLUSIVE


def test_full_scale_s1_reports_each_metric_clause(monkeypatch) -> None:
    from claims.papers.universal_neurons import signature
    from claims.registry import load_all

    u = _universality(TRAINED, UNTRAINED_CONTROL)
    control_mask = UNTRAINED_CONTROL.excess_corr.to_numpy() >= np.quantile(UNTRAINED_CONTROL.excess_corr, 0.98)
    masks = {True: u.table.excess_corr.to_numpy() > 0.5, False: control_mask}
    monkeypatch.setattr(signature, "universality", lambda ctx, d=None: u)
    monkeypatch.setattr(
        signature, "neuron_frame", lambda ctx, ref, subset="no_bos": _signature_frame(masks[ref.trained], ref.trained)
    )
    evidence = load_all()["S1"].check(_full_scale_context("S1"))
    assert len(evidence.parts) == 5 * 3 + 3 + 1  # per metric: percentile, Mann-Whitney, AUROC; Gaussian-like; effect
    assert evidence.effect is not None
