from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.correlation import CorrelationResult, CrossCorrelation, gaussian_unit_rows, haar_orthogonal
from engine.universality import (
    RULE_THRESHOLD,
    RULE_TOP_FRACTION,
    cross_model_correlations,
    depth_specialisation,
    universal_mask,
    universality_table,
)

torch.set_num_threads(1)

LAYERS, D = 2, 5


def _result(max_corr, layers) -> CorrelationResult:
    return CorrelationResult(
        torch.tensor(max_corr, dtype=torch.float64), torch.tensor(layers), torch.zeros(len(layers), dtype=int), 100
    )


def _three_models() -> tuple[list[CorrelationResult], list[torch.Tensor]]:
    rng = np.random.default_rng(0)
    n = LAYERS * D
    results = [_result(rng.uniform(0, 1, n), rng.integers(0, LAYERS, n)) for _ in range(3)]
    baselines = [torch.from_numpy(rng.uniform(0, 0.3, n)) for _ in range(3)]
    return results, baselines


def test_excess_corr_is_exactly_mean_corr_minus_mean_baseline() -> None:
    results, baselines = _three_models()
    table = universality_table(results, baselines, LAYERS, D)
    assert (table["excess_corr"] == table["mean_corr"] - table["mean_baseline"]).all()
    assert not np.allclose(table["excess_corr"], table["max_corr"] - table["mean_baseline"])


def test_table_aggregates_over_comparison_models() -> None:
    results, baselines = _three_models()
    table = universality_table(results, baselines, LAYERS, D, names=["b", "c", "d"])
    corr = np.stack([r.max_corr.numpy() for r in results], axis=1)
    base = np.stack([b.numpy() for b in baselines], axis=1)
    np.testing.assert_array_equal(table["layer"], np.repeat(np.arange(LAYERS), D))
    np.testing.assert_array_equal(table["neuron"], np.tile(np.arange(D), LAYERS))
    np.testing.assert_allclose(table["max_corr"], corr.max(1))
    np.testing.assert_allclose(table["min_corr"], corr.min(1))
    np.testing.assert_allclose(table["mean_baseline"], base.mean(1))
    np.testing.assert_allclose(table["max_baseline"], base.max(1))
    np.testing.assert_array_equal(table["best_layer_c"], results[1].argmax_layer.numpy())


def test_table_rejects_mismatched_lengths() -> None:
    results, baselines = _three_models()
    with pytest.raises(ValueError):
        universality_table(results, baselines[:2], LAYERS, D)


def test_depth_specialisation_counts_fractions_and_averages_models() -> None:
    first = np.array([0, 0, 1, 1, 1, 1])  # 2 layers x 3 neurons: layer 0 -> {0, 0, 1}, layer 1 -> {1, 1, 1}
    second = np.array([0, 1, 1, 0, 0, 1])
    p = depth_specialisation([first, second], 2, 2)
    np.testing.assert_allclose(p, [[(2 / 3 + 1 / 3) / 2, (1 / 3 + 2 / 3) / 2], [(0 + 2 / 3) / 2, (1 + 1 / 3) / 2]])
    np.testing.assert_allclose(p.sum(1), 1.0)


def test_depth_specialisation_rejects_out_of_range_layers() -> None:
    with pytest.raises(ValueError):
        depth_specialisation([np.array([0, 3])], 1, 2)


def test_universal_mask_uses_the_paper_threshold_when_enough_neurons_pass() -> None:
    excess = np.r_[np.full(40, 0.6), np.full(60, 0.1)]
    mask, rule = universal_mask(excess)
    assert rule == RULE_THRESHOLD
    assert mask.sum() == 40
    assert mask[:40].all()


def test_universal_mask_falls_back_to_the_top_fraction() -> None:
    rng = np.random.default_rng(1)
    excess = rng.uniform(0, 0.4, 1000)
    excess[[3, 7]] = [0.9, np.nan]
    mask, rule = universal_mask(excess)
    assert rule == RULE_TOP_FRACTION
    assert mask.sum() == 20  # ceil(0.02 * 999 non-NaN neurons)
    assert mask[3]
    assert not mask[7]
    assert excess[mask].min() >= np.nanmax(excess[~mask])


def _activations(seed: int, positions: int = 900):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((positions, LAYERS, D))
    reference = np.maximum(base + 0.2 * rng.standard_normal(base.shape), 0).astype(np.float16)
    other = (base[:, ::-1, :] + 0.5 * rng.standard_normal(base.shape)).astype(np.float16)
    return reference, np.ascontiguousarray(other)


def test_streamed_memmap_run_equals_direct_accumulation(tmp_path) -> None:
    reference, other = _activations(2)
    path = tmp_path / "ref.npy"
    np.save(path, reference)
    keep = np.random.default_rng(3).random(reference.shape[0]) > 0.1
    run = cross_model_correlations(
        np.load(path, mmap_mode="r"), [other], keep, torch.Generator().manual_seed(5), chunk_positions=128
    )
    direct = CrossCorrelation(LAYERS * D, LAYERS, D)
    direct.update(
        torch.from_numpy(reference[keep].reshape(-1, LAYERS * D)).float(),
        torch.from_numpy(other[keep].reshape(-1, LAYERS * D)).float(),
    )
    expected = direct.max_correlation()
    assert run.n_tokens == keep.sum()
    torch.testing.assert_close(run.results[0].max_corr, expected.max_corr, atol=1e-5, rtol=0)
    assert torch.equal(run.results[0].argmax_layer, expected.argmax_layer)
    assert set(run.baselines) == {"gaussian", "orthogonal"}
    for kind in run.baselines:
        assert run.baselines[kind][0].shape == (LAYERS * D,)
        assert (run.baselines[kind][0] <= 1).all()


def test_depth_is_recovered_from_a_layer_reversed_comparison_model() -> None:
    reference, other = _activations(4)
    run = cross_model_correlations(reference, [other], None, torch.Generator().manual_seed(0), baselines=("gaussian",))
    table = universality_table(run.results, run.baselines["gaussian"], LAYERS, D)
    p = depth_specialisation([table["best_layer_0"].to_numpy()], LAYERS, LAYERS)
    np.testing.assert_allclose(p, [[0, 1], [1, 0]])
    assert (table["excess_corr"] > 0).all()


def test_a_baseline_does_not_depend_on_which_other_baselines_are_requested() -> None:
    reference, other = _activations(6, positions=300)
    both = cross_model_correlations(reference, [other, other], None, torch.Generator().manual_seed(9))
    alone = cross_model_correlations(
        reference, [other, other], None, torch.Generator().manual_seed(9), baselines=("orthogonal",)
    )
    for k in range(2):
        assert torch.equal(both.baselines["orthogonal"][k], alone.baselines["orthogonal"][k])


def test_gaussian_baseline_uses_the_papers_row_normalised_matrix() -> None:
    reference, other = _activations(7, positions=300)
    gen = torch.Generator().manual_seed(11)
    run = cross_model_correlations(reference, [other], None, gen, baselines=("gaussian", "orthogonal"))
    seeds = torch.Generator().manual_seed(11)
    gaussian_seed = int(torch.randint(0, 2**62, (1,), generator=seeds))
    orthogonal_seed = int(torch.randint(0, 2**62, (1,), generator=seeds))
    direct = CrossCorrelation(LAYERS * D, LAYERS, D)
    direct.update(
        torch.from_numpy(reference.reshape(-1, LAYERS * D)).float(),
        torch.from_numpy(other.reshape(-1, LAYERS * D)).float(),
    )
    gaussian = gaussian_unit_rows(LAYERS, D, torch.Generator().manual_seed(gaussian_seed))
    haar = haar_orthogonal(LAYERS, D, torch.Generator().manual_seed(orthogonal_seed))
    torch.testing.assert_close(
        run.baselines["gaussian"][0], direct.baseline_max_correlation(gaussian), atol=2e-6, rtol=0
    )
    torch.testing.assert_close(run.baselines["orthogonal"][0], direct.baseline_max_correlation(haar), atol=2e-6, rtol=0)


def test_comparison_models_sharing_chunk_buffers_match_separate_accumulators() -> None:
    reference, other = _activations(8, positions=500)
    second = np.ascontiguousarray(other[:, ::-1, :])
    run = cross_model_correlations(
        reference, [other, second], None, torch.Generator().manual_seed(0), baselines=(), chunk_positions=97
    )
    flat = [torch.from_numpy(x.reshape(-1, LAYERS * D)).float() for x in (reference, other, second)]
    for k, comp in enumerate(flat[1:]):
        alone = CrossCorrelation(LAYERS * D, LAYERS, D)
        alone.update(flat[0], comp)
        torch.testing.assert_close(run.results[k].max_corr, alone.max_correlation().max_corr, atol=2e-6, rtol=0)
