from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine import features as F
from fixtures.tokens import sample_contexts

VOCAB = [
    "<|endoftext|>",
    " on",
    "on",
    "On",
    " On",
    " the",
    "the",
    " zebra",
    "a",
    " a",
    "A",
    "\n",
    " 1900",
    "USA",
    "(",
    ",",
]
SPECIAL = (0,)


def _counts(value: int = 100) -> np.ndarray:
    return np.full(len(VOCAB), value)


def _column(vocab: F.VocabFeatures, name: str) -> np.ndarray:
    return vocab.table[:, vocab.names.index(name)]


def test_previous_shift_never_crosses_contexts() -> None:
    rng = np.random.default_rng(0)
    current = rng.random((3, 6, 2)) < 0.5
    prev = F.previous(current)
    assert not prev[:, 0].any()
    np.testing.assert_array_equal(prev[:, 1:], current[:, :-1])


def test_previous_token_features_are_false_after_bos_and_at_position_zero() -> None:
    vocab = F.vocab_features(VOCAB, _counts(), SPECIAL, min_count=10)
    tokens = np.array([[0, 1, 2, 0, 5], [0, 5, 1, 2, 1]])
    keep = F.kept_positions(tokens, SPECIAL)
    feats = F.position_features(tokens, vocab, keep)
    n = len(vocab.names)
    labels = np.zeros((tokens.size, 2 * n), dtype=bool)
    labels[keep.reshape(-1)] = feats.labels
    labels = labels.reshape(2, 5, 2 * n)
    assert not labels[:, 1, n:].any()  # previous token is BOS
    assert not labels[0, 4, n:].any()  # previous token is the EOS separator
    np.testing.assert_array_equal(labels[1, 2, n:], vocab.table[5])
    np.testing.assert_array_equal(labels[1, 4, :n], vocab.table[1])


def test_kept_positions_drop_start_and_special_tokens_but_keep_newlines() -> None:
    tokens = np.array([[7, 11, 0, 3], [0, 1, 11, 0]])
    keep = F.kept_positions(tokens, SPECIAL)
    np.testing.assert_array_equal(keep, [[False, True, False, True], [False, True, True, False]])


def test_unigrams_group_case_and_space_variants() -> None:
    groups = F.unigram_groups(VOCAB, _counts(), min_count=10, min_ids=2, special_ids=SPECIAL)
    assert list(groups) == ["on", "the"]
    np.testing.assert_array_equal(groups["on"], [1, 2, 3, 4])


def test_unigrams_need_the_count_and_the_ids() -> None:
    counts = _counts(1)
    counts[[5, 6]] = 3
    assert list(F.unigram_groups(VOCAB, counts, min_count=6, min_ids=2)) == ["the"]
    assert "on" in F.unigram_groups(VOCAB, _counts(), min_count=10, min_ids=4)
    assert "the" not in F.unigram_groups(VOCAB, _counts(), min_count=10, min_ids=3)


def test_single_letters_are_letter_features_not_unigrams() -> None:
    vocab = F.vocab_features(VOCAB, _counts(), SPECIAL, min_count=10)
    assert "unigram_a" not in vocab.names
    np.testing.assert_array_equal(np.flatnonzero(_column(vocab, "letter_a")), [8, 9, 10])
    assert vocab.kinds[vocab.names.index("letter_a")] == F.KIND_LETTER


def test_unigram_count_scales_the_paper_rate_with_a_floor() -> None:
    assert F.unigram_min_count(10_000_000) == 3000
    assert F.unigram_min_count(65_000) == 20
    assert F.unigram_min_count(1_000) == F.UNIGRAM_MIN_COUNT


def test_token_predicates_read_the_token_string() -> None:
    vocab = F.vocab_features(VOCAB, _counts(), SPECIAL, min_count=10)
    assert np.flatnonzero(_column(vocab, "is_year")).tolist() == [12]
    assert np.flatnonzero(_column(vocab, "all_caps")).tolist() == [13]
    assert np.flatnonzero(_column(vocab, "contains_paren")).tolist() == [14]
    assert np.flatnonzero(_column(vocab, "is_newline")).tolist() == [11]
    assert np.flatnonzero(_column(vocab, "start_w_z")).tolist() == [7]
    assert _column(vocab, "starts_w_space")[[1, 5, 7, 9, 12]].all()


def test_special_ids_carry_no_feature() -> None:
    vocab = F.vocab_features(["<|endoftext|>", *VOCAB[1:]], _counts(), SPECIAL, min_count=10)
    assert not vocab.table[0].any()


def test_token_sample_names_the_document_of_every_position() -> None:
    lengths = [5, 9, 3, 14, 7, 2]

    class Tok:
        eos_token_id = 0

        def __call__(self, text: str, add_special_tokens: bool) -> dict[str, list[int]]:
            # a single string in, a flat id list out: what an HF tokenizer does with one document
            return {"input_ids": [int(text) + 10] * lengths[int(text)]}

    corpus = SimpleNamespace(
        n_documents=len(lengths), dataset={"text": [str(k) for k in range(len(lengths))]}, name="toy", sha256="x"
    )
    sample = sample_contexts(Tok(), corpus, n_tokens=24, context_length=6, start_token_id=0, excluded_token_ids=(0,))
    docs = sample.documents
    assert docs is not None
    np.testing.assert_array_equal(sample.tokens[docs >= 0], docs[docs >= 0] + 10)
    assert (sample.tokens[docs < 0] == 0).all()


def _mi_from_joint(firing: np.ndarray) -> np.ndarray:
    n_ctx, ctx_len, k = firing.shape
    out = []
    for j in range(k):
        joint = np.stack([(~firing[:, :, j]).sum(0), firing[:, :, j].sum(0)], axis=1) / (n_ctx * ctx_len)
        px, py = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(joint > 0, joint * np.log(joint / (px * py)), 0.0)
        out.append(terms.sum())
    return np.asarray(out)


def test_position_mi_is_the_mutual_information_of_the_joint_table() -> None:
    rng = np.random.default_rng(0)
    rate = np.linspace(0.05, 0.95, 16)
    firing = np.stack([rng.random((200, 16)) < rate, rng.random((200, 16)) < 0.3], axis=2)
    keep = np.ones((200, 16), dtype=bool)
    np.testing.assert_allclose(F.position_mutual_information(firing, keep), _mi_from_joint(firing), atol=1e-12)


def test_position_mi_ignores_dropped_positions() -> None:
    rng = np.random.default_rng(1)
    firing = rng.random((100, 8, 1)) < 0.5
    keep = np.ones((100, 8), dtype=bool)
    keep[:, 0] = False
    moved = firing.copy()
    moved[:, 0] = True  # whatever a dropped position does cannot matter
    np.testing.assert_allclose(F.position_mutual_information(firing, keep), F.position_mutual_information(moved, keep))


def test_position_mi_of_a_constant_neuron_is_zero() -> None:
    firing = np.ones((10, 5, 1), dtype=bool)
    assert F.position_mutual_information(firing, np.ones((10, 5), dtype=bool))[0] == 0.0


def test_shuffled_null_destroys_position_dependence() -> None:
    rng = np.random.default_rng(2)
    firing = np.stack([np.tile(np.arange(32) < 16, (100, 1)), rng.random((100, 32)) < 0.5], axis=2)
    keep = np.ones((100, 32), dtype=bool)
    observed = F.position_mutual_information(firing, keep)
    null = F.shuffled_position_mi(firing, keep, n_perm=20, seed=0)
    assert null.shape == (20, 2)
    assert observed[0] == pytest.approx(np.log(2))
    assert null[:, 0].max() < 0.05
    assert (null[:, 1] >= 0).all()
    assert null[:, 1].mean() < 0.05
